"""The checkpoint's read (``SqlStore.holds``) on both backends: it runs on the pool's DBAPI connection, so
these pin what it must still tell apart: the live claim, and every way of no longer holding it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crosspost.model import Draft
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
LEASE = 10.0


def test_holds_tells_the_live_claim_from_every_lost_one(store: SqlStore) -> None:
    store.queue_post(
        title="t", source="t.md", drafts=[Draft("tw", "twitter", ("a",))], due_at=T0, now=T0 - timedelta(hours=1)
    )
    (claim,) = store.claim_due(now=T0, owner="me", lease_seconds=LEASE)
    fence = claim.fence
    assert store.holds(fence, now=T0)
    assert store.holds(fence, now=T0 + timedelta(seconds=LEASE - 0.001))
    assert not store.holds(fence, now=T0 + timedelta(seconds=LEASE))  # the lease ran out
    assert not store.holds(replace(fence, token=fence.token + 1), now=T0)
    assert not store.holds(replace(fence, owner="other"), now=T0)
    assert not store.holds(replace(fence, delivery_id=fence.delivery_id + 1), now=T0)
    assert store.mark_sent(claim.delivery_id, remote_id="1", url="u", now=T0, fence=fence)
    assert not store.holds(fence, now=T0)  # settled: no longer sending
