"""metric status

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Whether a figure can bear a verdict: ``ok``, ``unsupported`` (the sample
cannot support it, e.g. TPR at an FPR below 1/n) or ``unreliable`` (its own
control fired), with the reason.  Gates treat anything but ``ok`` as
insufficient evidence.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy), so SQLite keeps the append-only triggers
    op.add_column("metrics", sa.Column("status", sa.String(length=20), nullable=False, server_default="ok"))
    op.add_column("metrics", sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("metrics", "reason")
    op.drop_column("metrics", "status")
