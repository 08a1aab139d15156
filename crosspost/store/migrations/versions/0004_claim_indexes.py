"""Per-account claim indexes (issue 14): the claim asks each idle account for its one next delivery.

With ``(account, status, due_at)`` and ``(account, status, next_try_at)`` that question is one index
probe with LIMIT 1, however long the backlog: the claim stays linear in the deliveries it hands out.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_account_status_due_at", "deliveries", ["account", "status", "due_at"])
    op.create_index("ix_deliveries_account_status_next_try_at", "deliveries", ["account", "status", "next_try_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_account_status_next_try_at", table_name="deliveries")
    op.drop_index("ix_deliveries_account_status_due_at", table_name="deliveries")
