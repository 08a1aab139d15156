"""The schema as SQLAlchemy Core tables: the source the migrations must match (a test checks it).

``posts`` holds the snapshot taken at queue time; ``deliveries`` one row per
post and account (the unit the daemon claims); ``attempts`` the append-only
history; ``daemon`` the single-row presence of the running daemon.

The migrations also create the view ``delivery_log`` (one row per delivery with
its post's title) for admins who query the file with plain ``sqlite3``::

    SELECT * FROM delivery_log ORDER BY log_at DESC LIMIT 20;
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)
from sqlalchemy.sql.elements import ColumnElement

from crosspost.statuses import PENDING, RETRYING, SENDING
from crosspost.store.records import DELIVERY_STATUSES
from crosspost.store.types import UTCDateTime

metadata = MetaData()

STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in DELIVERY_STATUSES))

posts = Table(
    "posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("source", Text, nullable=False),  # the post file's path, as queued
    Column("created_at", UTCDateTime, nullable=False),
    # JSON: {"drafts": {account: Draft json}}; what was queued, kept even if the file changes.
    Column("snapshot", Text, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "post_id", Integer, ForeignKey("posts.id", ondelete="CASCADE", name="fk_deliveries_post_id"), nullable=False
    ),
    Column("account", String(200), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("next_try_at", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),  # publish tries (is_try rows)
    Column("remote_id", String(200), nullable=True),
    Column("url", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("progress", Text, nullable=True),  # Progress json: thread part ids, media ids
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("claimed_at", UTCDateTime, nullable=True),  # start of the latest claim: a lost try's look-up window
    Column("draft", Text, nullable=False),  # Draft json, with its key and the stored image paths
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lease_token", Integer, nullable=False, server_default="0"),  # grows with every claim: the fence
    # When waiting work last became `sending` (a take-over keeps it): could the first owner have sent anything?
    Column("sending_since", UTCDateTime, nullable=True),
    UniqueConstraint("post_id", "account", name="uq_deliveries_post_account"),
    CheckConstraint(STATUS_CHECK, name="ck_deliveries_status"),
)

# The log orders by coalesce(sent_at, due_at) newest first, optionally filtered by status or account:
# expression indexes let both filter and order come from the index instead of a sort.
_log_at = func.coalesce(deliveries.c.sent_at, deliveries.c.due_at)
Index("ix_deliveries_log_at", _log_at)
Index("ix_deliveries_status_log_at", deliveries.c.status, _log_at)
Index("ix_deliveries_account_log_at", deliveries.c.account, _log_at)


def in_status(status: str) -> ColumnElement[bool]:
    """``status = '<status>'`` with the status written into the SQL, not bound: a partial index below is
    used only by a query whose WHERE repeats the index's own condition, and neither SQLite (which plans
    before the value is bound) nor a PostgreSQL generic plan can see that through a parameter."""
    if status not in DELIVERY_STATUSES:  # only ours is ever written into SQL
        raise ValueError(f"not a delivery status: {status!r}")
    return deliveries.c.status == literal_column(f"'{status}'")


def _partial(name: str, status: str, *columns: ColumnElement[object]) -> Index:
    """An index over the rows in ``status`` only. The daemon's claim asks for waiting work by time and for
    live leases; those indexes hold only the rows in that status, so a claim or a settle moves a row out
    of one small index and into another instead of rewriting every status index (half the page writes a
    delivery, measured in issue 14)."""
    where = in_status(status)
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


_d = deliveries.c
# The daemon: when is work next due, which accounts have some, which leases lapsed (migration 0006). The
# status leads the key though every row has the same: without statistics SQLite's planner would otherwise
# prefer status_log_at's equality on status, and walk every pending row for a MIN.
_partial("ix_deliveries_pending_due_at", PENDING, _d.status, _d.due_at)
_partial("ix_deliveries_retrying_next_try_at", RETRYING, _d.status, _d.next_try_at)
_partial("ix_deliveries_sending_lease_until", SENDING, _d.status, _d.lease_until)
# One account's next delivery, whatever the backlog: one probe with LIMIT 1. (An account's live lease is
# found among the sending rows, which are as few as the requests in flight.)
_partial("ix_deliveries_pending_account_due_at", PENDING, _d.account, _d.due_at)
_partial("ix_deliveries_retrying_account_next_try_at", RETRYING, _d.account, _d.next_try_at)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        Integer,
        ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_attempts_delivery_id"),
        nullable=False,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("code", String(64), nullable=True),
    Column("message", Text, nullable=True),
    Column("is_try", Boolean, nullable=False),
)
Index("ix_attempts_delivery_id", attempts.c.delivery_id, attempts.c.id)

daemon = Table(
    "daemon",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("owner", String(200), nullable=True),  # NULL: the slot is free
    Column("started_at", UTCDateTime, nullable=True),
    Column("heartbeat_at", UTCDateTime, nullable=True),
    CheckConstraint("id = 1", name="ck_daemon_single_row"),
)

# The outbox of notices (issue 13): a row is written in the same transaction as the status change it
# tells of, so a crash can neither lose nor duplicate one; the daemon's sender sends and settles it.
# ``state``: queued (to send; ``next_try_at`` is also the sender's claim), sent, failed (gave up),
# skipped (not worth a notice under [notify]: ``error`` says why).
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # delivery | daemon
    Column(
        "delivery_id",
        Integer,
        ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_notices_delivery_id"),
        nullable=True,
    ),
    Column("post_id", Integer, nullable=True),
    Column("status", String(16), nullable=True),  # the status the delivery reached
    Column("reason", Text, nullable=True),  # the delivery's error at that moment
    Column("outcome", String(32), nullable=True),  # its last attempt's outcome (auth, rejected, ...)
    Column("code", String(64), nullable=True),
    Column("subject", Text, nullable=True),  # daemon notices are composed when queued
    Column("body", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("next_try_at", UTCDateTime, nullable=True),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("done_targets", Text, nullable=True),  # JSON list of the target ids that have it
    Column("error", Text, nullable=True),
    Column("day", String(10), nullable=True),  # a digest's local date: one digest a day, whatever the daemons
    UniqueConstraint("kind", "day", name="uq_notices_kind_day"),
)
Index("ix_notices_state_next_try_at", notices.c.state, notices.c.next_try_at)
Index("ix_notices_delivery_id", notices.c.delivery_id, notices.c.id)
