"""signers, content-addressed policies, overrides, card revisions, documents; rows bound to the chain

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

* ``signers`` (roster with Ed25519 public keys) and ``signer_revocations``;
  approvals gain the signed content, signature, key fingerprint and signer id.
* ``policies``: one canonical content (SHA-256) per ``name@version``;
  ``policy_overrides``: signed promotions under a policy other than the attached one;
  stage transitions record the policy hash that gated them.
* ``card_revisions`` and ``documents`` (attached evidence documents by kind).
* ``model_versions.code_sha256``: the entrypoint's source files.
* Every row already in the registry is bound into the audit chain by one
  ``registry.bind`` event, so ``audit verify`` can re-hash it from now on.

New tables are append-only like every other.  Columns are added with plain
ADD COLUMN (no batch copy), so SQLite keeps its triggers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEW_TABLES = ("signers", "signer_revocations", "policies", "policy_overrides", "card_revisions", "documents")


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "signers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("fingerprint"),
    )
    op.create_table(
        "signer_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["signer_id"], ["signers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version"),
    )
    op.create_table(
        "policy_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("policy_sha256", sa.String(length=64), nullable=False),
        sa.Column("attached_sha256", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("signed_content", sa.JSON(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.ForeignKeyConstraint(["signer_id"], ["signers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "card_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("approvals", sa.Column("signer_id", sa.Integer(), nullable=True))
    op.add_column("approvals", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.add_column("approvals", sa.Column("signed_content", sa.JSON(), nullable=True))
    op.add_column("approvals", sa.Column("signature", sa.Text(), nullable=True))
    op.add_column("model_versions", sa.Column("code_sha256", sa.String(length=64), nullable=True))
    op.add_column("stage_transitions", sa.Column("policy_sha256", sa.String(length=64), nullable=True))
    op.add_column("stage_transitions", sa.Column("override_id", sa.Integer(), nullable=True))
    for table in NEW_TABLES:
        _append_only(table)
    _bind_existing_rows()


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION govkit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION govkit_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'govkit: {table} is append-only ({verb} refused)'); END"
        )


def _bind_existing_rows() -> None:
    """One audit event holding the content hash of every row recorded before 0005."""
    from sqlalchemy.orm import Session

    from govkit.registry.audit import append_event, reflected_row_hashes

    conn = op.get_bind()
    rows = reflected_row_hashes(conn)
    if not any(rows.values()):
        return
    with Session(bind=conn) as session:
        append_event(
            session, "registry.bind", "registry", "migration-0005", {"bound_rows": rows}, actor="govkit-migration"
        )
        session.flush()


def downgrade() -> None:
    op.drop_column("stage_transitions", "override_id")
    op.drop_column("stage_transitions", "policy_sha256")
    op.drop_column("model_versions", "code_sha256")
    for col in ("signature", "signed_content", "fingerprint", "signer_id"):
        op.drop_column("approvals", col)
    for table in reversed(NEW_TABLES):
        op.drop_table(table)
