"""Claiming due deliveries for the daemon: atomically, index-driven, one per account.

The whole claim is one write transaction: ``BEGIN IMMEDIATE`` on SQLite (writers
queue, so two claimers never see the same row as free), ``FOR UPDATE SKIP
LOCKED`` plus an advisory lock on PostgreSQL. Each UPDATE also repeats the
status it expects, so even a broken lock could not hand a row out twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from crosspost.model import Draft, Progress
from crosspost.store.engine import LOCK_CLAIM, serialize
from crosspost.store.records import PENDING, RETRYING, SENDING, Claim
from crosspost.store.tables import attempts, deliveries

d = deliveries.c


def claim_due(
    conn: Connection,
    *,
    now: datetime,
    owner: str,
    lease_seconds: float,
    limit: int,
    exclude_accounts: Sequence[str],
) -> list[Claim]:
    """See :meth:`crosspost.store.sql.SqlStore.claim_due`; runs inside the caller's write transaction."""
    serialize(conn, LOCK_CLAIM)
    # An account with a live lease has a request in flight (this daemon's or another's): leave it alone.
    busy = set(conn.execute(select(d.account).where(d.status == SENDING, d.lease_until > now).distinct()).scalars())
    skip = busy | set(exclude_accounts)
    # Candidates in the order they should go: dead daemons' leftovers first (they block their account
    # until settled), then due work, oldest first. Each query walks one (status, time) index.
    queries = [
        (
            d.lease_until,
            select(d.id, d.account, d.status, d.lease_until).where(d.status == SENDING, d.lease_until <= now),
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
        guard = [d.id == row.id, d.status == row.status]
        if row.status == SENDING:
            guard.append(d.lease_until <= now)
        before = conn.execute(
            select(d.post_id, d.platform, d.draft, d.progress, d.attempts, d.due_at, d.claimed_at, d.lease_owner).where(
                *guard
            )
        ).first()
        if before is None:
            continue
        changed = conn.execute(
            update(deliveries)
            .where(*guard)
            .values(status=SENDING, lease_owner=owner, lease_until=lease_until, claimed_at=now, updated_at=now)
        ).rowcount
        if changed != 1:
            continue
        last = conn.execute(
            select(attempts.c.at, attempts.c.outcome)
            .where(attempts.c.delivery_id == row.id)
            .order_by(attempts.c.id.desc())
            .limit(1)
        ).first()
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
        )
        if row.status == SENDING:
            # The lost try started after its claim: the look-up window begins there.
            claim.last_try_at = before.claimed_at
            claim.extra.update(claimed_at=before.claimed_at, lease_owner=before.lease_owner)
        claims.append(claim)
    return claims
