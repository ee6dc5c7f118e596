"""policy attachments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The policy a model version is gated by; append-only like every table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("policy_name", sa.String(length=200), nullable=False),
        sa.Column("policy_version", sa.String(length=50), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("attached_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER policy_attachments_append_only BEFORE UPDATE OR DELETE ON policy_attachments "
            "FOR EACH ROW EXECUTE FUNCTION govkit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER policy_attachments_no_truncate BEFORE TRUNCATE ON policy_attachments "
            "FOR EACH STATEMENT EXECUTE FUNCTION govkit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER policy_attachments_no_{verb.lower()} BEFORE {verb} ON policy_attachments "
                f"BEGIN SELECT RAISE(ABORT, 'govkit: policy_attachments is append-only ({verb} refused)'); END"
            )


def downgrade() -> None:
    op.drop_table("policy_attachments")
