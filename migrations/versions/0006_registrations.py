"""registrations: the authenticated registrant of each model version

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

``registrations`` holds, per model version, the roster signer whose key
signed its registration (fingerprint, signed content, signature), or NULLs
for a version registered without a key.  Versions registered before 0006
have no row and count as unauthenticated.  Append-only like every table;
its rows are bound into the audit chain by the registration event.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("signed_content", sa.JSON(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_version_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER registrations_append_only BEFORE UPDATE OR DELETE ON registrations "
            "FOR EACH ROW EXECUTE FUNCTION govkit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER registrations_no_truncate BEFORE TRUNCATE ON registrations "
            "FOR EACH STATEMENT EXECUTE FUNCTION govkit_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER registrations_no_{verb.lower()} BEFORE {verb} ON registrations "
            f"BEGIN SELECT RAISE(ABORT, 'govkit: registrations is append-only ({verb} refused)'); END"
        )


def downgrade() -> None:
    op.drop_table("registrations")
