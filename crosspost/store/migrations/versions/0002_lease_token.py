"""Fencing: each claim of a delivery carries a token, a counter that grows with every claim.

A worker's writes (progress, attempts, status) land only while the row still has its
owner and token, so a daemon that was frozen and resumes after another took its work
over can change nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (with its default, so existing rows get 0): SQLite and PostgreSQL both do it in place.
    op.add_column("deliveries", sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ and PostgreSQL): a batch copy of the table would break the
    # delivery_log view that reads it.
    op.drop_column("deliveries", "lease_token")
