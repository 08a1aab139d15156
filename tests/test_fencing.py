"""Fencing in the store and the delivery engine: a claim's token, refused late writes, the take-over delay.

The process-level proof (a daemon frozen with SIGSTOP) is tests/test_frozen_daemon.py;
these pin each rule down on a real SqlStore, one step at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import test_delivery
from test_delivery import POLICY, T0, Clock, ScriptedAdapter, queue, record

from crosspost.delivery import LOST, deliver
from crosspost.model import Draft, Progress
from crosspost.store.records import Claim
from crosspost.store.sql import SqlStore

LEASE = 10.0
store = test_delivery.store  # the fixtures: a real SqlStore on SQLite, and a clock the test moves
clock = test_delivery.clock


def take(s: SqlStore, owner: str, now: datetime = T0) -> Claim:
    (claim,) = s.claim_due(now=now, owner=owner, lease_seconds=LEASE)
    return claim


def test_every_claim_grows_the_token_and_a_taken_over_claims_writes_are_refused(store: SqlStore) -> None:
    post = queue(store, "tw")
    old = take(store, "frozen")
    later = T0 + timedelta(seconds=LEASE + 1)
    new = take(store, "second", later)
    assert new.token == old.token + 1 and new.status_before == "sending"
    # The frozen worker wakes up: each of its writes is refused and nothing of it lands.
    assert not store.holds(old.fence, now=later)
    assert not store.save_progress(old.delivery_id, Progress(parts=["ghost"]), fence=old.fence)
    assert not store.record_attempt(
        old.delivery_id, at=T0, seconds=1.0, outcome="sent", code=None, error=None, is_try=True, fence=old.fence
    )
    assert not store.mark_sent(old.delivery_id, remote_id="ghost", url="u", now=later, fence=old.fence)
    assert not store.extend_lease(old.delivery_id, owner="frozen", until=later, token=old.token)
    assert store.extend_leases([old.fence, new.fence], until=later + timedelta(seconds=LEASE)) == [False, True]
    rec = record(store, post)
    assert (rec.status, rec.remote_id, rec.attempts, rec.history) == ("sending", None, 0, ())
    assert store.draft_of(rec.id)[1].parts == []
    # The new owner's writes land.
    assert store.holds(new.fence, now=later)
    assert store.mark_sent(new.delivery_id, remote_id="real", url="u", now=later, fence=new.fence)
    assert record(store, post).remote_id == "real"


def test_a_stale_claim_is_taken_over_only_once_its_last_request_can_no_longer_land(store: SqlStore) -> None:
    queue(store, "tw")
    queue(store, "tw")
    first = take(store, "frozen")
    lapse = T0 + timedelta(seconds=LEASE)
    grace = 7.0  # request_timeout 5 s plus a 2 s margin
    # The lease lapsed, but a request the owner started just before may still be on its way: hands off,
    # and the account counts as busy (its other post waits too).
    assert (
        store.claim_due(now=lapse + timedelta(seconds=6.9), owner="second", lease_seconds=LEASE, takeover_after=grace)
        == []
    )
    (taken,) = store.claim_due(
        now=lapse + timedelta(seconds=7), owner="second", lease_seconds=LEASE, takeover_after=grace
    )
    assert (taken.delivery_id, taken.status_before, taken.token) == (first.delivery_id, "sending", first.token + 1)


def test_a_worker_whose_claim_was_taken_over_publishes_nothing_and_writes_nothing(
    store: SqlStore, clock: Clock
) -> None:
    post = queue(store, "tw")
    old = take(store, "frozen")
    clock.advance(LEASE + 1)
    take(store, "second", clock())
    tw = ScriptedAdapter("tw", ["ok"])
    lines: list[str] = []
    assert deliver(old, tw, store, POLICY, clock, log=lines.append) == LOST
    assert tw.publish_calls == [] and tw.wall.parts == []  # stopped before its request
    assert record(store, post).history == ()
    assert len(lines) == 1 and "outcome=lost_claim" in lines[0] and "status=sent" not in lines[0]


def test_a_take_over_during_a_thread_stops_the_old_worker_before_its_next_part(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", parts=3)
    old = take(store, "frozen")

    def part_one_then_frozen(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> object:
        # Part 1 is made; the worker freezes before it can save the id, and another daemon takes over.
        clock.advance(LEASE + 1)
        take(store, "second", clock())
        adapter.post_one(progress)  # its save is refused: LostClaim, raised inside the adapter
        adapter.post_one(progress)  # never reached
        raise AssertionError("the adapter went on after losing the claim")

    tw = ScriptedAdapter("tw", [part_one_then_frozen])
    assert deliver(old, tw, store, POLICY, clock) == LOST
    assert tw.wall.parts == ["tw-1"]  # part 2 never sent
    assert store.draft_of(record(store, post).id)[1].parts == []  # the new owner's progress is untouched


def test_a_worker_whose_lease_ran_out_stops_before_its_next_request(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", parts=3)
    claim = take(store, "slow")

    def slow_part(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> object:
        clock.advance(LEASE + 1)  # stuck past its lease: a take-over may be under way
        adapter.post_one(progress)  # its id is saved (the claim still holds), then the lease check stops it
        progress.checkpoint()  # what an adapter calls before its next publishing request
        raise AssertionError("the adapter went on after its lease ran out")

    tw = ScriptedAdapter("tw", [slow_part])
    assert deliver(claim, tw, store, POLICY, clock) == LOST
    assert tw.wall.parts == ["tw-1"]
    assert store.draft_of(record(store, post).id)[1].parts == ["tw-1"]  # a fact, kept for the next owner


def test_a_take_over_after_a_single_posts_request_refuses_its_one_write_and_keeps_no_id(
    store: SqlStore, clock: Clock
) -> None:
    """A single post's id is no longer saved on its own: it rides with `sent` (issue 14). A worker that lost
    its claim while its request was out writes neither; the new owner finds the row as it left it."""
    post = queue(store, "tw")
    old = take(store, "frozen")

    def posted_then_taken_over(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> object:
        progress.checkpoint()  # the claim holds: the request goes out
        part = adapter.post_one(progress)
        clock.advance(LEASE + 1)
        take(store, "second", clock())  # the answer came back after the take-over
        return adapter.receipt(part)

    tw = ScriptedAdapter("tw", [posted_then_taken_over])
    assert deliver(old, tw, store, POLICY, clock) == LOST
    assert tw.wall.parts == ["tw-1"]
    rec = record(store, post)
    assert (rec.status, rec.remote_id, rec.history) == ("sending", None, ())
    assert store.draft_of(rec.id)[1].parts == []  # the new owner's look-up settles it, from the platform
