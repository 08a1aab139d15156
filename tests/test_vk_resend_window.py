"""VK's guid protects a resend for one hour only: past it, a try that may have landed is looked up first.

The delivery engine reads the window from the platform's spec (``resend_window``), so the rule lives
in :mod:`crosspost.delivery.reconcile` and any platform with such a key declares its own.
"""

from __future__ import annotations

from datetime import timedelta

import test_delivery
from test_delivery import DELAY, T0, Clock, ScriptedAdapter, land_then, record

from crosspost.adapters.base import Ambiguous, Transient
from crosspost.delivery import deliver
from crosspost.delivery.policy import Policy
from crosspost.delivery.reconcile import late_doubt
from crosspost.model import Draft
from crosspost.platforms import spec_for
from crosspost.store.records import Attempt
from crosspost.store.sql import SqlStore

store = test_delivery.store  # the fixtures: a real SqlStore on SQLite, and a clock the test moves
clock = test_delivery.clock
POLICY = Policy(max_attempts=5, retry_delay=DELAY, late_limit=timedelta(hours=6), spread=lambda: 0.0)
HOUR = timedelta(hours=1)


def queue_vk(store: SqlStore) -> int:
    draft = Draft(account="vk", platform="vk", parts=("A statement on the anniversary.",))
    return store.queue_post(title="t", source="t.md", drafts=[draft], due_at=T0, now=T0 - HOUR)


def run(store: SqlStore, clock: Clock, adapter: ScriptedAdapter) -> list[str]:
    claims = store.claim_due(now=clock(), owner="test", lease_seconds=10)
    return [deliver(c, adapter, store, POLICY, clock) for c in claims]


def test_vk_declares_the_guids_hour() -> None:
    assert spec_for("vk").resend_window == HOUR
    assert spec_for("telegram").resend_window is None


def test_a_resend_past_the_hour_is_looked_up_first_and_finds_the_late_post(store: SqlStore, clock: Clock) -> None:
    post = queue_vk(store)
    # The post is made but the answer lost; a look-up right away does not see it yet (it surfaces late).
    vk = ScriptedAdapter("vk", [land_then(Ambiguous("read timeout")), Transient("VK error 10")], find=["absent"])
    assert run(store, clock, vk) == ["retrying"]
    clock.advance(DELAY.total_seconds())
    assert run(store, clock, vk) == ["retrying"]  # a passing failure, inside the hour: no look-up needed
    assert len(vk.find_calls) == 1
    clock.advance(2 * HOUR.total_seconds())  # the guid no longer protects the resend
    assert run(store, clock, vk) == ["sent"]
    assert len(vk.find_calls) == 2 and vk.find_calls[1] <= T0  # the window reaches back to the doubtful try
    assert len(vk.publish_calls) == 2 and vk.wall.parts == ["vk-1"]  # never posted twice
    assert [a.outcome for a in record(store, post, "vk").history] == ["ambiguous", "absent", "transient", "found"]


def test_a_resend_inside_the_hour_trusts_the_guid(store: SqlStore, clock: Clock) -> None:
    post = queue_vk(store)
    vk = ScriptedAdapter("vk", [Ambiguous("read timeout"), "ok"], find=["absent"])
    assert run(store, clock, vk) == ["retrying"]
    clock.advance(30 * 60)
    assert run(store, clock, vk) == ["sent"]
    assert len(vk.find_calls) == 1  # only the look-up right after the doubtful try
    assert [a.outcome for a in record(store, post, "vk").history] == ["ambiguous", "absent", "sent"]


def test_late_doubt_is_settled_by_a_look_up_after_the_window_or_a_person() -> None:
    def row(minutes: int, outcome: str, is_try: bool) -> Attempt:
        return Attempt(T0 + timedelta(minutes=minutes), 0.1, outcome, None, None, is_try)

    doubt = row(0, "ambiguous", True)
    soon = [doubt, row(1, "absent", False)]
    assert late_doubt(soon, T0 + timedelta(minutes=90), HOUR) == doubt
    assert late_doubt(soon, T0 + timedelta(minutes=50), HOUR) is None
    assert late_doubt(soon, T0 + timedelta(minutes=90), None) is None
    assert late_doubt([*soon, row(70, "absent", False)], T0 + timedelta(minutes=90), HOUR) is None
    assert late_doubt([*soon, row(5, "resolved_not_sent", False)], T0 + timedelta(minutes=90), HOUR) is None
    assert late_doubt([row(0, "transient", True)], T0 + timedelta(minutes=90), HOUR) is None


def test_a_late_look_up_that_fails_is_retried_reaching_back_to_the_doubtful_try(store: SqlStore, clock: Clock) -> None:
    post = queue_vk(store)
    script = [land_then(Ambiguous("read timeout")), Transient("VK error 10")]
    vk = ScriptedAdapter("vk", script, find=["absent", Transient("VK error 10"), "wall"])
    assert run(store, clock, vk) == ["retrying"]
    clock.advance(30 * 60)
    assert run(store, clock, vk) == ["retrying"]  # a passing failure half an hour later
    clock.advance(2 * HOUR.total_seconds())
    assert run(store, clock, vk) == ["retrying"]  # the late look-up failed: reconciling, nothing published
    clock.advance(60)
    assert run(store, clock, vk) == ["sent"]
    # The look-up again reaches back to the doubtful try, not just to the last (clear) one.
    assert vk.find_calls[2] <= T0 and len(vk.publish_calls) == 2 and vk.wall.parts == ["vk-1"]
    outcomes = [a.outcome for a in record(store, post, "vk").history]
    assert outcomes == ["ambiguous", "absent", "transient", "lookup_failed", "found"]
