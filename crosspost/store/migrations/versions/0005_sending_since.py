"""When a delivery last became ``sending`` from waiting work (not from a take-over).

A take-over keeps it, so the last owner in a chain of take-overs still knows when the *first* owner
claimed: whether that owner could have sent anything (claimed past ``late_limit``, its first step is
``missed``, never a request), which ``claimed_at``, the latest claim's time, cannot say.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crosspost.store.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, NULL for existing rows (a NULL reads as "unknown": the take-over looks up, as before).
    op.add_column("deliveries", sa.Column("sending_since", UTCDateTime, nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN, as 0002's: a batch copy of the table would break the delivery_log view.
    op.drop_column("deliveries", "sending_since")
