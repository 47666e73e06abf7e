"""inbox: webhook messages stored before they are handled

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 19:00:00
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
    )
    op.create_index("ix_inbox_person", "inbox", ["address", "channel"], unique=False)
    op.create_index(op.f("ix_inbox_next_attempt_at"), "inbox", ["next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_next_attempt_at"), table_name="inbox")
    op.drop_index("ix_inbox_person", table_name="inbox")
    op.drop_table("inbox")
