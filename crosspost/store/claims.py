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
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from crosspost.model import Draft, Progress
from crosspost.statuses import CLAIM, OUT_LOOKUP_FAILED, PENDING, RETRYING, SENDING
from crosspost.store.engine import LOCK_CLAIM, serialize
from crosspost.store.records import Claim
from crosspost.store.tables import attempts, deliveries
from crosspost.store.writes import settle_row

d = deliveries.c


def claim_due(
    conn: Connection,
    *,
    now: datetime,
    owner: str,
    lease_seconds: float,
    limit: int,
    exclude_accounts: Sequence[str],
    takeover_after: float = 0.0,
) -> list[Claim]:
    """See :meth:`crosspost.store.sql.SqlStore.claim_due`; runs inside the caller's write transaction."""
    serialize(conn, LOCK_CLAIM)
    lapsed = now - timedelta(seconds=takeover_after)
    # An account with a live lease, or one lapsed too recently to take over, may have a request in flight
    # (this daemon's or another's): leave it alone.
    busy = set(conn.execute(select(d.account).where(d.status == SENDING, d.lease_until > lapsed).distinct()).scalars())
    skip = busy | set(exclude_accounts)
    # Candidates in the order they should go: dead daemons' leftovers first (they block their account
    # until settled), then due work, oldest first. Each query walks one (status, time) index.
    queries = [
        (
            d.lease_until,
            select(d.id, d.account, d.status, d.lease_until).where(d.status == SENDING, d.lease_until <= lapsed),
        ),
        (d.due_at, select(d.id, d.account, d.status, d.due_at).where(d.status == PENDING, d.due_at <= now)),
        (
            d.next_try_at,
            select(d.id, d.account, d.status, d.next_try_at).where(d.status == RETRYING, d.next_try_at <= now),
        ),
    ]
    stale: list[Any] = []
    due: list[Any] = []
    for i, (column, query) in enumerate(queries):
        rows = conn.execute(query.order_by(column, d.id).with_for_update(skip_locked=True)).all()
        (stale if i == 0 else due).extend(rows)
    due.sort(key=lambda r: (r[3], r[0]))

    picked: list[Any] = []
    for row in (*stale, *due):
        if len(picked) >= limit:
            break
        if row.account in skip:
            continue
        skip.add(row.account)
        picked.append(row)

    lease_until = now + timedelta(seconds=lease_seconds)
    claims: list[Claim] = []
    for row in picked:
        where = [d.status == row.status]
        if row.status == SENDING:
            where.append(d.lease_until <= lapsed)
        before = conn.execute(
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
            ).where(d.id == row.id, *where)
        ).first()
        if before is None:
            continue
        values = {"lease_owner": owner, "lease_until": lease_until, "claimed_at": now, "lease_token": d.lease_token + 1}
        if not settle_row(conn, row.id, SENDING, by=CLAIM, values={**values, "updated_at": now}, where=where):
            continue
        token = conn.execute(select(d.lease_token).where(d.id == row.id)).scalar_one()
        # The latest rows back to the last try: the last outcome, and the look-ups that failed since.
        recent = conn.execute(
            select(attempts.c.at, attempts.c.outcome, attempts.c.is_try)
            .where(attempts.c.delivery_id == row.id)
            .order_by(attempts.c.id.desc())
            .limit(20)
        ).all()
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
        if row.status == SENDING:
            # The lost try started after its claim: the look-up window begins there.
            claim.last_try_at = before.claimed_at
            claim.extra.update(
                claimed_at=before.claimed_at, lease_owner=before.lease_owner, lease_until=before.lease_until
            )
        claims.append(claim)
    return claims
