"""Claiming due deliveries for the daemon: atomically, index-driven, one per account.

The whole claim is one write transaction: ``BEGIN IMMEDIATE`` on SQLite (writers
queue, so two claimers never see the same row as free), ``FOR UPDATE SKIP
LOCKED`` plus an advisory lock on PostgreSQL. Each UPDATE also repeats the
status it expects, so even a broken lock could not hand a row out twice.

Every claim adds one to the row's ``lease_token``: the claim's fence. A stale
``sending`` row (its owner died or froze) is taken over only ``takeover_after``
seconds after its lease lapsed: the owner checks its lease before every
publishing request, so its last request started before the lapse, and after
``request_timeout`` plus a margin it can no longer land. Only then may the
new owner's look-up be trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, func, select, union, update
from sqlalchemy.engine import Connection

from crosspost.model import Draft, Progress
from crosspost.statuses import CLAIM, OUT_LOOKUP_FAILED, PENDING, RETRYING, SENDING, allowed_from
from crosspost.store.direct import Direct, Tx
from crosspost.store.engine import LOCK_CLAIM, serialize
from crosspost.store.records import Claim
from crosspost.store.tables import attempts, deliveries, in_status

d = deliveries.c


def claim_due(
    conn: Tx,
    *,
    now: datetime,
    owner: str,
    lease_seconds: float,
    limit: int,
    exclude_accounts: Sequence[str],
    takeover_after: float = 0.0,
    accounts: Sequence[str] | None = None,
    ahead: float = 0.0,
    daemons: int = 1,
) -> list[Claim]:
    """See :meth:`crosspost.store.sql.SqlStore.claim_due`; runs inside the caller's write transaction."""
    serialize(conn, LOCK_CLAIM)
    lapsed = now - timedelta(seconds=takeover_after)
    # An account with a live lease, or one lapsed too recently to take over, may have a request in flight
    # (this daemon's or another's): leave it alone. Bounded by the requests in flight.
    if daemons == 1 and accounts is not None and len(accounts) == 1:
        # A worker's next claim (the drain's every claim): only its own account can be claimed, and with one
        # daemon no share is worked out, so only that account's live lease matters. Stale rows of other
        # accounts may still be taken below: they have no live lease, by definition.
        busy = set(_BUSY_ONE(conn, {"lapsed": lapsed, "account": accounts[0]}).scalars())
    else:
        busy = set(_BUSY(conn, {"lapsed": lapsed}).scalars())
    skip = busy | set(exclude_accounts)
    # Dead daemons' leftovers first: they block their account until settled. Bounded by LIMIT.
    stale = _STALE(conn, {"lapsed": lapsed, "n": limit}).all()
    picked: list[Any] = []
    for row in stale:
        if len(picked) < limit and row.account not in skip:
            skip.add(row.account)
            picked.append(row)
    # Then each idle account's one next delivery: one LIMIT 1 probe of the (account, time) index of its status,
    # so a claim costs the same with a backlog of ten or ten thousand. Claiming ``ahead`` of the due time
    # lets the request leave on time; the worker holds it until then (``extra["not_before"]``).
    horizon = now + timedelta(seconds=ahead)
    names = accounts if accounts is not None else accounts_with_due(conn, horizon)
    due = [row for name in dict.fromkeys(names) if name not in skip for row in _next_of(conn, name, horizon)]
    due.sort(key=lambda r: (r[3], r[0]))
    if daemons > 1:
        # Several daemons: this one takes its share of the accounts that have work (in flight anywhere, or
        # due now), less those it holds, so the accounts spread over the daemons instead of piling on one.
        in_play = busy | {r.account for r in (*picked, *due)}
        limit = min(limit, -(-len(in_play) // daemons) - len(set(exclude_accounts)))
    picked = picked[: max(0, limit)]
    picked.extend(due[: max(0, limit - len(picked))])

    lease_until = now + timedelta(seconds=lease_seconds)
    claims: list[Claim] = []
    for row in picked:
        if row.status == SENDING:
            before = _take_over(conn, row.id, owner=owner, now=now, lapsed=lapsed, lease_until=lease_until)
        else:
            # Waiting work, the drain's every claim: one UPDATE ... RETURNING, guarded by the status the probe
            # saw (the transition table's claim: pending or retrying to sending; never a terminal status).
            params = {"c_id": row.id, "c_status": row.status, "c_owner": owner, "c_until": lease_until, "c_now": now}
            before = _CLAIM(conn, params).first()
        if before is None:
            continue
        token = before.lease_token
        # The latest rows back to the last try: the last outcome, and the look-ups that failed since.
        recent = _RECENT(conn, {"id": row.id}).all()
        last = recent[0] if recent else None
        failed_lookups = 0
        for attempt in recent:
            if attempt.is_try:
                break
            failed_lookups += attempt.outcome == OUT_LOOKUP_FAILED
        claim = Claim(
            delivery_id=row.id,
            post_id=before.post_id,
            account=row.account,
            platform=before.platform,
            draft=Draft.from_json(before.draft),
            progress=Progress.from_json(before.progress),
            attempts=before.attempts,
            due_at=before.due_at,
            status_before=row.status,
            last_try_at=last.at if last else None,
            last_outcome=last.outcome if last else None,
            owner=owner,
            token=token,
            failed_lookups=failed_lookups,
        )
        if row.status != SENDING and row[3] > now:
            claim.extra["not_before"] = row[3]
        if row.status == SENDING:
            # The lost try started after its claim: the look-up window begins there.
            claim.last_try_at = before.claimed_at
            claim.extra.update(
                claimed_at=before.claimed_at,
                lease_owner=before.lease_owner,
                lease_until=before.lease_until,
                sending_since=before.sending_since,
            )
        claims.append(claim)
    return claims


def _take_over(
    conn: Tx, delivery_id: int, *, owner: str, now: datetime, lapsed: datetime, lease_until: datetime
) -> Any:
    """A dead or frozen daemon's ``sending`` row, its lease lapsed before ``lapsed``: the row as it was
    (the lost try's claim time and owner: the look-up's window), once it is ours; None if it is not."""
    before = _STALE_ROW(conn, {"id": delivery_id, "lapsed": lapsed}).first()
    if before is None:
        return None
    params = {"id": delivery_id, "lapsed": lapsed, "t_owner": owner, "t_until": lease_until, "t_now": now}
    taken = _TAKE_OVER(conn, params).first()
    if taken is None:
        return None
    return _TakenOver(**before._asdict(), lease_token=taken.lease_token)


class _TakenOver(NamedTuple):
    post_id: int
    platform: str
    draft: str
    progress: str | None
    attempts: int
    due_at: datetime
    claimed_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    sending_since: datetime | None
    lease_token: int


def _probe(status: str, column: Any) -> Any:
    return (
        select(d.id, d.account, d.status, column)
        .where(d.account == bindparam("account"), in_status(status), column <= bindparam("horizon"))
        .order_by(column, d.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# Built once and run as Direct statements (store.direct): the claim runs after every delivery, with the
# write lock held, and SQLAlchemy's execution layer cost more than SQLite takes to run these.
_BUSY = Direct(select(d.account).where(in_status(SENDING), d.lease_until > bindparam("lapsed")).distinct())
_BUSY_ONE = Direct(
    select(d.account)
    .where(d.account == bindparam("account"), in_status(SENDING), d.lease_until > bindparam("lapsed"))
    .limit(1)
)
_STALE = Direct(
    select(d.id, d.account, d.status, d.lease_until)
    .where(in_status(SENDING), d.lease_until <= bindparam("lapsed"))
    .order_by(d.lease_until, d.id)
    .limit(bindparam("n", type_=Integer))
    .with_for_update(skip_locked=True)
)
_NEXT = (Direct(_probe(PENDING, d.due_at)), Direct(_probe(RETRYING, d.next_try_at)))
assert {PENDING, RETRYING} <= set(allowed_from(SENDING, CLAIM))  # what _CLAIM's guard relies on
_CLAIM = Direct(
    update(deliveries)
    .where(d.id == bindparam("c_id"), d.status == bindparam("c_status"))
    .values(
        status=SENDING,
        lease_owner=bindparam("c_owner", type_=d.lease_owner.type),
        lease_until=bindparam("c_until", type_=d.lease_until.type),
        claimed_at=bindparam("c_now", type_=d.claimed_at.type),
        sending_since=bindparam("c_now", type_=d.sending_since.type),
        updated_at=bindparam("c_now", type_=d.updated_at.type),
        lease_token=d.lease_token + 1,
    )
    .returning(d.post_id, d.platform, d.draft, d.progress, d.attempts, d.due_at, d.lease_token)
)
# A take-over: still sending and lapsed (the probe saw it so; the guard says it again), the transition
# table's claim from sending to sending, a new token; sending_since is kept (see Claim.extra).
assert SENDING in allowed_from(SENDING, CLAIM)
_STALE_GUARD = (d.id == bindparam("id"), d.status == SENDING, d.lease_until <= bindparam("lapsed"))
_STALE_ROW = Direct(
    select(
        d.post_id,
        d.platform,
        d.draft,
        d.progress,
        d.attempts,
        d.due_at,
        d.claimed_at,
        d.lease_owner,
        d.lease_until,
        d.sending_since,
    ).where(*_STALE_GUARD)
)
_TAKE_OVER = Direct(
    update(deliveries)
    .where(*_STALE_GUARD)
    .values(
        lease_owner=bindparam("t_owner", type_=d.lease_owner.type),
        lease_until=bindparam("t_until", type_=d.lease_until.type),
        claimed_at=bindparam("t_now", type_=d.claimed_at.type),
        updated_at=bindparam("t_now", type_=d.updated_at.type),
        lease_token=d.lease_token + 1,
    )
    .returning(d.lease_token)
)
_RECENT = Direct(
    select(attempts.c.at, attempts.c.outcome, attempts.c.is_try)
    .where(attempts.c.delivery_id == bindparam("id"))
    .order_by(attempts.c.id.desc())
    .limit(20)
)


def _next_of(conn: Tx, account: str, horizon: datetime) -> list[Any]:
    """The account's earliest delivery due by ``horizon`` (pending by due_at, retrying by next_try_at), or none."""
    params = {"account": account, "horizon": horizon}
    rows = [row for row in (query(conn, params).first() for query in _NEXT) if row is not None]
    return sorted(rows, key=lambda r: (r[3], r[0]))[:1]


def accounts_with_due(conn: Tx, horizon: datetime) -> list[str]:
    """Every account with a delivery due by ``horizon``. This one walks the whole backlog: the daemon asks it
    only now and then, for accounts missing from its config (their deliveries must fail, not wait forever)."""
    return sorted(_WITH_DUE(conn, {"horizon": horizon}).scalars())


_HORIZON = bindparam("horizon", type_=d.due_at.type)
_WITH_DUE = Direct(
    union(
        select(d.account).where(in_status(PENDING), d.due_at <= _HORIZON),
        select(d.account).where(in_status(RETRYING), d.next_try_at <= _HORIZON),
    )
)


def next_due_after(conn: Connection, after: datetime) -> datetime | None:
    """The earliest due time (pending) or next try (retrying) strictly after ``after``: when the daemon's
    timer should fire next. Work already due is not in it: a worker finishing, or a nudge, claims that."""
    times = [
        conn.execute(select(func.min(column)).where(in_status(status), column > after)).scalar()
        for status, column in ((PENDING, d.due_at), (RETRYING, d.next_try_at))
    ]
    found = [t for t in times if t is not None]
    return min(found, default=None)
