"""Reconciliation: a look-up that fails for a passing reason is tried again before anything is concluded,
and a delivery being reconciled says so; `crosspost retry` uses the same look-up and points to `resolve`."""

from __future__ import annotations

from pathlib import Path

import test_delivery
from test_delivery import (
    DELAY,
    T0,
    Clock,
    ScriptedAdapter,
    claim,
    land_then,
    queue,
    record,
    run,
    settings_for,
)

from crosspost.adapters.base import Ambiguous, LookupUnavailable, RateLimited, Rejected, Transient
from crosspost.delivery import retry_post
from crosspost.store.sql import SqlStore

store = test_delivery.store  # the fixtures: a real SqlStore on SQLite, and a clock the test moves
clock = test_delivery.clock


def test_a_look_up_that_fails_for_a_passing_reason_is_retried_before_any_publish(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [land_then(Ambiguous("read timeout"))], find=[Transient("X answered 503"), "wall"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}  # not unknown: a minute later it may settle
    rec = record(store, post)
    assert rec.error == (
        f"reconciling: look-up failed (X answered 503); next look-up at {(T0 + DELAY).isoformat(timespec='seconds')}"
    )
    assert (rec.next_try_at, rec.attempts) == (T0 + DELAY, 1)  # the look-up spent no publishing try
    clock.advance(DELAY.total_seconds())
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert tw.publish_calls == [[]]  # the next claim looked up first and found it: never resent
    rec = record(store, post)
    assert (rec.remote_id, rec.attempts) == ("tw-1", 1)
    assert [a.outcome for a in rec.history] == ["ambiguous", "lookup_failed", "found"]


def test_a_rate_refused_look_up_then_absent_publishes_on_the_next_claim(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Ambiguous("read timeout"), "ok"], find=[RateLimited("429"), "absent"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    clock.advance(DELAY.total_seconds())
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert tw.publish_calls == [[], []] and tw.wall.parts == ["tw-1"]
    assert [a.outcome for a in record(store, post).history] == ["ambiguous", "lookup_failed", "absent", "sent"]


def test_look_ups_that_keep_failing_end_unknown_after_their_own_budget(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    failures = [Transient(f"503 number {i}") for i in range(1, 6)]
    tw = ScriptedAdapter("tw", [Ambiguous("read timeout")], find=list(failures))
    statuses: list[str] = []
    for _ in range(5):
        statuses += run(store, clock, {"tw": tw}).values()
        clock.advance(3600)
    assert statuses == ["retrying"] * 4 + ["unknown"]
    rec = record(store, post)
    assert rec.attempts == 1 and tw.publish_calls == [[]]
    assert rec.error == (
        "the request may have reached X and 5 look-ups failed, the last: look-up failed (503 number 5); "
        "check, then use `crosspost resolve`"
    )


def test_a_dead_daemons_row_whose_look_up_failed_is_reconciled_later(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [], find=[Transient("503"), "wall"])
    claim(store, clock)  # a daemon claims, its request lands, and it dies
    tw.wall.parts.append("tw-1")
    clock.advance(11)
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    assert record(store, post).error.startswith("reconciling: look-up failed (503)")  # type: ignore[union-attr]
    clock.advance(3600)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert tw.publish_calls == [] and record(store, post).remote_id == "tw-1"


def test_a_duplicate_refusal_whose_look_up_failed_stays_evidence(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter(
        "tw",
        [Ambiguous("timeout"), Rejected("duplicate content", duplicate=True)],
        find=["absent", Transient("503"), "absent"],
    )
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    clock.advance(DELAY.total_seconds())
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}  # duplicate; its look-up failed: reconciling
    clock.advance(3600)
    # Absent, but X said duplicate: no proof it is not there. A person decides; never a third try.
    assert run(store, clock, {"tw": tw}) == {"tw": "unknown"}
    assert len(tw.publish_calls) == 2
    assert "says duplicate" in (record(store, post).error or "")


def test_retry_leaves_an_unknown_the_look_up_cannot_settle_and_points_to_resolve(
    store: SqlStore, clock: Clock, tmp_path: Path
) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter(
        "tw", [Ambiguous("timeout")], find=[LookupUnavailable("no reads"), LookupUnavailable("no reads")]
    )
    assert run(store, clock, {"tw": tw}) == {"tw": "unknown"}
    results = retry_post(store, settings_for(tmp_path, "tw"), post, "tw", now=clock(), adapter_factory=lambda a, t: tw)
    [(rec, what)] = results
    assert (rec.status, what) == ("unknown", "unsettled")  # requeuing it could publish it twice
    assert rec.error == (
        "still unknown: the look-up on X could not settle it (no reads); check on X, then "
        f"`crosspost resolve {post} --account tw --sent URL` or `--not-sent`"
    )
    assert claim(store, clock) == []  # not requeued
    assert tw.publish_calls == [[]]


def test_retry_of_an_unknown_uses_the_same_look_up_and_finds_it(store: SqlStore, clock: Clock, tmp_path: Path) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [land_then(Ambiguous("timeout"))], find=[Transient("503")] * 5 + ["wall"])
    for _ in range(5):
        run(store, clock, {"tw": tw})
        clock.advance(3600)
    assert record(store, post).status == "unknown"  # five look-ups failed
    [(rec, what)] = retry_post(
        store, settings_for(tmp_path, "tw"), post, None, now=clock(), adapter_factory=lambda a, t: tw
    )
    assert (rec.status, what, rec.remote_id) == ("sent", "sent", "tw-1")
    assert tw.wall.parts == ["tw-1"] and tw.publish_calls == [[]]
