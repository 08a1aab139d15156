"""The outbox: the ``notices`` table's writes and reads (SQLAlchemy Core, on a given connection/engine).

A delivery's notice row is written by :func:`enqueue_notices` inside the transaction that changes its
status, for every status that may be worth a notice; whether it is worth one under the current
``[notify]`` is the sender's decision (a row it does not send is ``skipped``, with the reason), so
``log`` and ``show`` can say what became of a delivery's notice. One exception, by the contract's
rule (one notice per delivery that reaches a status in ``on``): when the writer knows ``on`` (the
daemon passes its config's) and the status is not in it, no row is written at all. That is the
common ``sent`` under the default ``on``: a row there would only be settled away as ``skipped`` by
the sender, one more write transaction per delivery for nothing; ``log`` then shows no notice.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from crosspost.store.direct import Direct, Tx
from crosspost.store.engine import READ_OPTION
from crosspost.store.records import FAILED, MISSED, PENDING, RETRYING, SENDING, SENT, UNKNOWN
from crosspost.store.tables import attempts, deliveries, notices, posts

# Statuses a delivery may reach that a notice can be about (cancelled is a person's own act).
NOTICE_STATUSES = frozenset({FAILED, UNKNOWN, MISSED, SENT})
QUEUED, NOTICE_SENT, GAVE_UP, SKIPPED = "queued", "sent", "failed", "skipped"
DELIVERY, DAEMON, DIGEST = "delivery", "daemon", "digest"
WAITING = (PENDING, SENDING, RETRYING)

n = notices.c


def enqueue_notices(
    conn: Tx,
    delivery_ids: Iterable[int],
    *,
    status: str,
    now: datetime,
    on: Collection[str] | None = None,
) -> None:
    """Queue one notice per delivery in ``delivery_ids``, which have just reached ``status``.

    Call it in the status change's own transaction (after the guarded UPDATE succeeded), so the
    notice commits or rolls back with it. Statuses no notice is about are ignored, and so is a status
    not in ``on`` (the ``[notify]`` on of the writer's config; None: not known, the sender judges).
    Direct statements (crosspost.store.direct): the daemon's settle runs this in its own transaction.
    """
    if status not in NOTICE_STATUSES or (on is not None and status not in on):
        return
    for delivery_id in delivery_ids:
        row = _DELIVERY_OF(conn, {"id": delivery_id}).first()
        if row is None:
            continue
        last = _LAST_ATTEMPT(conn, {"id": delivery_id}).first()
        _INSERT_NOTICE(
            conn,
            {
                "delivery_id": delivery_id,
                "post_id": row.post_id,
                "status": status,
                "reason": row.error,
                "outcome": last.outcome if last else None,
                "code": last.code if last else None,
                "created_at": now,
            },
        )


_DELIVERY_OF = Direct(select(deliveries.c.post_id, deliveries.c.error).where(deliveries.c.id == bindparam("id")))
_LAST_ATTEMPT = Direct(
    select(attempts.c.outcome, attempts.c.code)
    .where(attempts.c.delivery_id == bindparam("id"))
    .order_by(attempts.c.id.desc())
    .limit(1)
)
_NOTICE_COLUMNS = ("delivery_id", "post_id", "status", "reason", "outcome", "code", "created_at")
_NOTICE_VALUES = {c: bindparam(c, type_=notices.c[c].type) for c in _NOTICE_COLUMNS}
_INSERT_NOTICE = Direct(insert(notices).values({**_NOTICE_VALUES, "kind": DELIVERY, "state": QUEUED, "tries": 0}))


def enqueue_daemon_notice(engine: Engine, *, subject: str, body: str, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(notices).values(kind=DAEMON, subject=subject, body=body, created_at=now, state=QUEUED, tries=0)
        )


def has_digest(engine: Engine, day: str) -> bool:
    with _reading(engine) as conn:
        return conn.execute(select(n.id).where(n.kind == DIGEST, n.day == day)).first() is not None


def enqueue_digest(engine: Engine, *, day: str, subject: str, body: str, now: datetime) -> bool:
    """Queue the digest of ``day`` (a local ISO date); False if one is queued already (another daemon's)."""
    from sqlalchemy.exc import IntegrityError

    values = {"kind": DIGEST, "day": day, "subject": subject, "body": body, "created_at": now, "state": QUEUED}
    try:
        with engine.begin() as conn:
            conn.execute(insert(notices).values(**values, tries=0))
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class Notice:
    """One queued outbox row, with what composing it needs from its delivery and post."""

    id: int
    kind: str
    post_id: int | None
    title: str | None
    account: str | None
    platform: str | None
    status: str | None
    reason: str | None
    outcome: str | None
    code: str | None
    url: str | None  # the delivery's public URL (a sent one)
    subject: str | None
    body: str | None
    created_at: datetime
    tries: int
    done_targets: frozenset[str]


def due(engine: Engine, now: datetime) -> list[Notice]:
    """The queued notices whose (re)try time has come, oldest first."""
    query = (
        select(
            n.id,
            n.kind,
            n.post_id,
            posts.c.title,
            deliveries.c.account,
            deliveries.c.platform,
            n.status,
            n.reason,
            n.outcome,
            n.code,
            deliveries.c.url,
            n.subject,
            n.body,
            n.created_at,
            n.tries,
            n.done_targets,
        )
        .select_from(
            notices.outerjoin(deliveries, deliveries.c.id == n.delivery_id).outerjoin(posts, posts.c.id == n.post_id)
        )
        .where(n.state == QUEUED, or_(n.next_try_at.is_(None), n.next_try_at <= now))
        .order_by(n.id)
    )
    with _reading(engine) as conn:
        rows = conn.execute(query).all()
    return [
        Notice(**{**row._asdict(), "done_targets": frozenset(json.loads(row.done_targets or "[]"))}) for row in rows
    ]


def still_waiting(engine: Engine, post_id: int) -> bool:
    """Whether the post has a delivery not yet settled (its notice may then join a later one)."""
    with _reading(engine) as conn:
        query = select(deliveries.c.id).where(deliveries.c.post_id == post_id, deliveries.c.status.in_(WAITING))
        return conn.execute(query.limit(1)).first() is not None


def claim(engine: Engine, ids: Sequence[int], *, now: datetime, lease: timedelta) -> bool:
    """Take ``ids`` for sending until ``now + lease`` (another daemon's sender leaves them alone).

    False (and nothing taken) when another sender got any of them first."""
    with engine.connect() as conn:
        transaction = conn.begin()
        taken = conn.execute(
            update(notices)
            .where(n.id.in_(ids), n.state == QUEUED, or_(n.next_try_at.is_(None), n.next_try_at <= now))
            .values(next_try_at=now + lease)
        ).rowcount
        if taken != len(ids):
            transaction.rollback()
            return False
        transaction.commit()
    return True


def _reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite a plain BEGIN, so the sender's polling never takes the
    write lock the daemon's workers need (see crosspost.store.engine)."""
    return engine.connect().execution_options(**{READ_OPTION: True})


def settle(
    engine: Engine,
    ids: Sequence[int],
    *,
    state: str,
    now: datetime,
    error: str | None = None,
    done_targets: Iterable[str] = (),
    next_try_at: datetime | None = None,
    tried: bool = True,
) -> None:
    """Record what became of ``ids``: sent, failed (gave up), skipped, or queued again at ``next_try_at``."""
    values: dict[str, object] = {
        "state": state,
        "error": error,
        "done_targets": json.dumps(sorted(done_targets)),
        "next_try_at": next_try_at,
        "settled_at": None if state == QUEUED else now,
    }
    if tried:
        values["tries"] = n.tries + 1
    with engine.begin() as conn:
        conn.execute(update(notices).where(and_(n.id.in_(ids), n.state == QUEUED)).values(**values))
