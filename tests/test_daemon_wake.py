"""The wake-up and the bounded claim (issue 14): nudges, claims made ahead, one account at a time.

Real parts: a real SQLite database, a real Unix datagram socket, the real daemon
process against the sandbox. No timed assertions: what is checked is that a
nudge arrives, what a claim takes, the query plan, and the order of requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_world import Daemons

from crosspost.model import Draft
from crosspost.sandbox import build_sandbox
from crosspost.store.sql import SqlStore
from crosspost.store.wake import Listener

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media")
    yield s
    s.close()


def queue(store: SqlStore, *accounts: str, due: datetime = T0) -> int:
    drafts = [Draft(account=a, platform="vk", parts=(f"text {a} {due}",)) for a in accounts]
    return store.queue_post(title="T", source="p.md", drafts=drafts, due_at=due, now=T0 - timedelta(hours=1))


def test_queue_reschedule_and_retry_nudge_a_listening_daemon(store: SqlStore) -> None:
    listener = Listener(store.url, store.sqlite_file)
    try:
        assert listener.wait(0.05) is False  # nothing written: no nudge
        post = queue(store, "a")
        assert listener.wait(30) is True  # queue
        store.reschedule(post, T0 + timedelta(hours=1), now=T0)
        assert listener.wait(30) is True  # reschedule
        (claim,) = store.claim_due(now=T0 + timedelta(hours=1), owner="d", lease_seconds=60)
        store.mark_failed(claim.delivery_id, error="auth", now=T0, fence=claim.fence)
        assert listener.wait(0.05) is False  # the daemon's own writes nudge nobody
        store.requeue(claim.delivery_id, now=T0, note="retry")
        assert listener.wait(30) is True  # retry
    finally:
        listener.close()


def test_nudges_while_no_daemon_listens_are_harmless(store: SqlStore) -> None:
    queue(store, "a")  # no socket bound: the datagram has nowhere to go, and queue still succeeds
    assert [d.account for d in store.log()] == ["a"]


def test_a_claim_made_ahead_carries_its_due_time_and_takes_nothing_later(store: SqlStore) -> None:
    soon = queue(store, "a", due=T0 + 15 * MS)
    queue(store, "b", due=T0 + 40 * MS)  # beyond the horizon
    (claim,) = store.claim_due(now=T0, owner="d", lease_seconds=60, ahead=0.02)
    assert (claim.post_id, claim.extra["not_before"]) == (soon, T0 + 15 * MS)
    assert store.claim_due(now=T0, owner="d", lease_seconds=60, ahead=0.02) == []
    (due_now,) = store.claim_due(now=T0 + 40 * MS, owner="d", lease_seconds=60)
    assert "not_before" not in due_now.extra  # due already: nothing to hold


def test_the_claim_asks_only_the_accounts_named_one_each_oldest_first(store: SqlStore) -> None:
    first = queue(store, "a", "b", due=T0)
    older = queue(store, "a", due=T0 - timedelta(minutes=1))  # an older due time, queued later: goes first
    claims = store.claim_due(now=T0, owner="d", lease_seconds=60, accounts=["a", "z"])
    assert [(c.account, c.post_id) for c in claims] == [("a", older)]
    assert [c.post_id for c in store.claim_due(now=T0, owner="d", lease_seconds=60, accounts=["b"])] == [first]


def test_next_due_after_skips_what_is_due_already(store: SqlStore) -> None:
    queue(store, "a", due=T0)
    queue(store, "a", due=T0 + timedelta(seconds=5))
    assert store.next_due_after(T0) == T0 + timedelta(seconds=5)
    assert store.next_due_after(T0 + timedelta(seconds=5)) is None


def test_posts_queued_while_the_daemon_runs_go_out_in_due_order_never_early(tmp_path: Path) -> None:
    sandbox = build_sandbox()
    world = Daemons(tmp_path, sandbox, sandbox.start(port=0), f"sqlite:///{tmp_path / 'crosspost.db'}")
    try:
        world.store().close()
        daemon = world.start()
        world.wait_until(world.running, timeout=60)  # queued after its start: only the nudge can tell it
        now = datetime.now(UTC)
        # Due in reverse order of queueing: the timer follows due times, not arrival.
        dues = [now + timedelta(seconds=15 - 4.0 * n) for n in range(3)]  # a loaded `queue` takes seconds
        ids = [world.queue_cli(n, due, "twitter") for n, due in enumerate(dues)]
        world.wait_until(lambda: world.statuses() == {"sent": 3}, timeout=60)
        starts = [start for start, _ in world.publish_requests("twitter")]
        assert len(starts) == 3
        assert all(start >= due.timestamp() for start, due in zip(starts, sorted(dues), strict=True))  # never early
        with world.store() as store:
            order = sorted(ids, key=lambda i: store.get_post(i).deliveries[0].sent_at or T0)
        assert order == list(reversed(ids))
        code, err = world.stop_all()[daemon.pid]
        assert code == 0, err
    finally:
        world.kill_all()
        sandbox.stop()


def test_with_several_daemons_each_claims_its_share_of_the_accounts_with_work(store: SqlStore) -> None:
    queue(store, "a", "b", "c", "d")
    first = store.claim_due(now=T0, owner="d1", lease_seconds=60, daemons=2)
    assert len(first) == 2  # half of the four accounts with work
    # The other daemon: two are in flight elsewhere, two are due; its share is the two left.
    second = store.claim_due(now=T0, owner="d2", lease_seconds=60, daemons=2)
    assert sorted(c.account for c in first + second) == ["a", "b", "c", "d"]
    held = [c.account for c in first]
    # Holding its share, a daemon takes nothing more; with two more accounts' work due, its share is 3 of 6.
    assert store.claim_due(now=T0, owner="d1", lease_seconds=60, daemons=2, exclude_accounts=held) == []
    queue(store, "e", "f", due=T0 + MS)
    more = store.claim_due(now=T0 + MS, owner="d1", lease_seconds=60, daemons=2, exclude_accounts=held)
    assert len(more) == 1
