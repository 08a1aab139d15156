"""The claim's indexes hold only the rows they are asked about (issue 14).

The daemon asks for pending work by due time, retrying work by next try and live leases by
``lease_until``; until now each index held every delivery, keyed by status first, so every claim and
every settle rewrote all of them. Partial indexes (``WHERE status = '...'``) hold only the rows in that
status: a claim moves its row from the pending indexes to the sending ones, a settle takes it out, and a
delivery's page writes are halved. Replaces the five status-keyed indexes of 0001 and 0004.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (name, status, columns): tables.py's partial indexes, as of this revision.
PARTIAL = (
    ("ix_deliveries_pending_due_at", "pending", ["status", "due_at"]),
    ("ix_deliveries_retrying_next_try_at", "retrying", ["status", "next_try_at"]),
    ("ix_deliveries_sending_lease_until", "sending", ["status", "lease_until"]),
    ("ix_deliveries_pending_account_due_at", "pending", ["account", "due_at"]),
    ("ix_deliveries_retrying_account_next_try_at", "retrying", ["account", "next_try_at"]),
)
# (name, columns): what they replace.
REPLACED = (
    ("ix_deliveries_status_due_at", ["status", "due_at"]),
    ("ix_deliveries_status_next_try_at", ["status", "next_try_at"]),
    ("ix_deliveries_status_lease_until", ["status", "lease_until"]),
    ("ix_deliveries_account_status_due_at", ["account", "status", "due_at"]),
    ("ix_deliveries_account_status_next_try_at", ["account", "status", "next_try_at"]),
)


def upgrade() -> None:
    for name, status, columns in PARTIAL:
        where = sa.text(f"status = '{status}'")
        op.create_index(name, "deliveries", columns, sqlite_where=where, postgresql_where=where)
    for name, _ in REPLACED:
        op.drop_index(name, table_name="deliveries")


def downgrade() -> None:
    for name, columns in REPLACED:
        op.create_index(name, "deliveries", columns)
    for name, _, _ in PARTIAL:
        op.drop_index(name, table_name="deliveries")
