"""The notices outbox (issue 13).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crosspost.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_notices_delivery_id"),
            nullable=True,
        ),
        sa.Column("post_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", UTCDateTime, nullable=True),
        sa.Column("settled_at", UTCDateTime, nullable=True),
        sa.Column("done_targets", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("day", sa.String(10), nullable=True),
        sa.UniqueConstraint("kind", "day", name="uq_notices_kind_day"),
    )
    op.create_index("ix_notices_state_next_try_at", "notices", ["state", "next_try_at"])
    op.create_index("ix_notices_delivery_id", "notices", ["delivery_id", "id"])


def downgrade() -> None:
    op.drop_table("notices")
