"""data audits

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

The result of ``govkit data audit`` for a registered dataset version (leakage
against other splits, duplicates, balance), with its figures as metric rows
in ``result``; append-only like every table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("against", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dataset_version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER data_audits_append_only BEFORE UPDATE OR DELETE ON data_audits "
            "FOR EACH ROW EXECUTE FUNCTION govkit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER data_audits_no_truncate BEFORE TRUNCATE ON data_audits "
            "FOR EACH STATEMENT EXECUTE FUNCTION govkit_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER data_audits_no_{verb.lower()} BEFORE {verb} ON data_audits "
                f"BEGIN SELECT RAISE(ABORT, 'govkit: data_audits is append-only ({verb} refused)'); END"
            )


def downgrade() -> None:
    op.drop_table("data_audits")
