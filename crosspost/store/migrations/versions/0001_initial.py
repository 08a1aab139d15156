"""Initial schema: posts, deliveries, attempts, the daemon slot and the delivery_log view.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crosspost.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_STATUSES = ("pending", "sending", "retrying", "sent", "failed", "unknown", "missed", "cancelled")


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "post_id",
            sa.Integer,
            sa.ForeignKey("posts.id", ondelete="CASCADE", name="fk_deliveries_post_id"),
            nullable=False,
        ),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("next_try_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("remote_id", sa.String(200), nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("progress", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("claimed_at", UTCDateTime, nullable=True),
        sa.Column("draft", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("post_id", "account", name="uq_deliveries_post_account"),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in _STATUSES)), name="ck_deliveries_status"
        ),
    )
    log_at = sa.text("coalesce(sent_at, due_at)")
    op.create_index("ix_deliveries_log_at", "deliveries", [log_at])
    op.create_index("ix_deliveries_status_log_at", "deliveries", [sa.column("status"), log_at])
    op.create_index("ix_deliveries_account_log_at", "deliveries", [sa.column("account"), log_at])
    op.create_index("ix_deliveries_status_due_at", "deliveries", ["status", "due_at"])
    op.create_index("ix_deliveries_status_next_try_at", "deliveries", ["status", "next_try_at"])
    op.create_index("ix_deliveries_status_lease_until", "deliveries", ["status", "lease_until"])

    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "delivery_id",
            sa.Integer,
            sa.ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_attempts_delivery_id"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("is_try", sa.Boolean, nullable=False),
    )
    op.create_index("ix_attempts_delivery_id", "attempts", ["delivery_id", "id"])

    daemon = op.create_table(
        "daemon",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("heartbeat_at", UTCDateTime, nullable=True),
        sa.CheckConstraint("id = 1", name="ck_daemon_single_row"),
    )
    # The one row exists from the start, so taking the slot is a single conditional UPDATE.
    op.bulk_insert(daemon, [{"id": 1, "owner": None, "started_at": None, "heartbeat_at": None}])

    # For admins with plain sqlite3 / psql; times are ISO 8601 text in UTC on SQLite.
    op.execute(
        """
        CREATE VIEW delivery_log AS
        SELECT d.id AS delivery_id, d.post_id, p.title, d.account, d.platform, d.status, d.attempts,
               d.remote_id, d.url, d.error, d.due_at, d.sent_at, d.next_try_at,
               coalesce(d.sent_at, d.due_at) AS log_at
        FROM deliveries d JOIN posts p ON p.id = d.post_id
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW delivery_log")
    op.drop_table("daemon")
    op.drop_table("attempts")
    op.drop_table("deliveries")
    op.drop_table("posts")
