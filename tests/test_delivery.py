"""The delivery policy (crosspost.delivery) against a real SqlStore, with recording adapter doubles.

The doubles are real Adapter subclasses following a script: each publish/find
call takes the next step (an error to raise, or "ok" to publish). The wall of
published parts lets every test assert that nothing went out twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    LookupUnavailable,
    RateLimited,
    Receipt,
    Rejected,
    Transient,
)
from crosspost.config import AccountConfig, Settings
from crosspost.delivery import Policy, deliver, retry_post
from crosspost.model import Draft, Progress
from crosspost.store.records import Claim, DeliveryRecord
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
DELAY = timedelta(seconds=10)
Step = object  # an exception to raise, "ok", or a callable(draft, progress)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Wall:
    """What the fake platform holds: published parts, in order."""

    parts: list[str] = field(default_factory=list)


class ScriptedAdapter(Adapter):
    """An Adapter that follows a script; records every call and every part it published."""

    platform = "twitter"

    def __init__(self, account: str, publish: list[Step], find: list[Step] | None = None) -> None:
        super().__init__(AccountConfig(name=account, platform="twitter", credentials={}), requests.Session())
        self.publish_script = list(publish)
        self.find_script = list(find or [])
        self.wall = Wall()
        self.publish_calls: list[list[str]] = []
        self.find_calls: list[datetime] = []

    def post_rest(self, draft: Draft, progress: Progress) -> Receipt:
        for _ in range(len(progress.parts), len(draft.parts)):
            self.post_one(progress)
        return self.receipt(progress.parts[0])

    def post_one(self, progress: Progress) -> str:
        part_id = f"{self.account.name}-{len(self.wall.parts) + 1}"
        self.wall.parts.append(part_id)
        progress.add_part(part_id)
        return part_id

    @staticmethod
    def receipt(remote_id: str) -> Receipt:
        return Receipt(remote_id, f"https://x.com/i/web/status/{remote_id}")

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        self.publish_calls.append(list(progress.parts))
        step = self.publish_script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(self, draft, progress)  # type: ignore[no-any-return]
        return self.post_rest(draft, progress)

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        self.find_calls.append(since)
        step = self.find_script.pop(0) if self.find_script else "wall"
        if isinstance(step, BaseException):
            raise step
        if step == "absent":
            return None
        # "wall": answer truthfully from what was published
        unseen = [p for p in self.wall.parts if p not in progress.parts]
        return self.receipt(unseen[0]) if unseen else None

    def verify(self) -> str:
        return "@double"


def land_then(error: BaseException) -> Callable[[ScriptedAdapter, Draft, Progress], Receipt]:
    """The post is made, then the answer is lost (a dropped connection) — without recording the part."""

    def step(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> Receipt:
        adapter.wall.parts.append(f"{adapter.account.name}-{len(adapter.wall.parts) + 1}")
        raise error

    return step


def one_part_then(error: BaseException) -> Callable[[ScriptedAdapter, Draft, Progress], Receipt]:
    def step(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> Receipt:
        adapter.post_one(progress)
        raise error

    return step


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path / 'cp.db'}", tmp_path / "media")
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


POLICY = Policy(max_attempts=3, retry_delay=DELAY, late_limit=timedelta(hours=1), spread=lambda: 0.0)


def queue(store: SqlStore, *accounts: str, parts: int = 1, due: datetime = T0) -> int:
    drafts = [
        Draft(account=a, platform="twitter", parts=tuple(f"part {i + 1}/{parts}" for i in range(parts)))
        for a in accounts
    ]
    return store.queue_post(title="t", source="t.md", drafts=drafts, due_at=due, now=due - timedelta(hours=1))


def claim(store: SqlStore, clock: Clock) -> list[Claim]:
    return store.claim_due(now=clock(), owner="test", lease_seconds=10)


def run(store: SqlStore, clock: Clock, adapters: dict[str, ScriptedAdapter], lines: list[str] | None = None) -> dict:
    claims = claim(store, clock)
    return {
        c.account: deliver(
            c,
            adapters[c.account],
            store,
            POLICY,
            clock,
            secrets={"s3cret"},
            log=(lines if lines is not None else []).append,
        )
        for c in claims
    }


def record(store: SqlStore, post_id: int, account: str = "tw") -> DeliveryRecord:
    return next(d for d in store.get_post(post_id).deliveries if d.account == account)


def test_two_server_errors_then_success_is_sent_after_three_tries(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Transient("503"), Transient("503"), "ok"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    assert record(store, post).next_try_at == T0 + DELAY
    clock.advance(9)
    assert claim(store, clock) == []  # never before its time
    clock.advance(1)
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    assert record(store, post).next_try_at == clock() + 2 * DELAY  # doubled
    clock.advance(20)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    rec = record(store, post)
    assert (rec.status, rec.attempts, rec.remote_id) == ("sent", 3, "tw-1")
    assert [a.outcome for a in rec.history] == ["transient", "transient", "sent"]


def test_rate_limit_waits_for_the_reset_and_spends_one_try(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    reset = T0 + timedelta(seconds=300)
    tw = ScriptedAdapter("tw", [RateLimited("429", reset_at=reset), "ok"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    assert record(store, post).next_try_at == reset
    clock.advance(299)
    assert claim(store, clock) == []
    clock.advance(1)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert record(store, post).attempts == 2


def test_auth_error_fails_at_once_while_another_account_is_sent(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", "fb")
    adapters = {
        "tw": ScriptedAdapter("tw", [AuthError("token expired (code 89)")]),
        "fb": ScriptedAdapter("fb", ["ok"]),
    }
    assert run(store, clock, adapters) == {"tw": "failed", "fb": "sent"}
    rec = record(store, post)
    assert rec.attempts == 1 and "refused access: token expired" in (rec.error or "")


def test_ambiguous_then_found_is_sent_without_a_resend(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [land_then(Ambiguous("read timeout"))])
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    rec = record(store, post)
    assert (rec.remote_id, rec.attempts) == ("tw-1", 1)
    assert [a.outcome for a in rec.history] == ["ambiguous", "found"]
    assert tw.wall.parts == ["tw-1"] and len(tw.publish_calls) == 1
    assert tw.find_calls[0] <= T0  # the window starts before the try


def test_ambiguous_and_absent_is_retried(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Ambiguous("connection reset"), "ok"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    clock.advance(10)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert [a.outcome for a in record(store, post).history] == ["ambiguous", "absent", "sent"]
    assert tw.wall.parts == ["tw-1"]


def test_ambiguous_with_lookup_unavailable_is_unknown_and_never_resent(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Ambiguous("read timeout")], find=[LookupUnavailable("reads need the Basic tier")])
    assert run(store, clock, {"tw": tw}) == {"tw": "unknown"}
    rec = record(store, post)
    assert rec.error == (
        "the request may have reached X and the look-up could not settle it: reads need the Basic tier; "
        "check, then use `crosspost resolve`"
    )
    clock.advance(3600)
    assert claim(store, clock) == []


def test_duplicate_after_an_ambiguous_try_is_evidence_it_landed(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter(
        "tw", [Ambiguous("timeout"), Rejected("duplicate content", duplicate=True)], find=["absent", "absent"]
    )
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    clock.advance(10)
    assert run(store, clock, {"tw": tw}) == {"tw": "unknown"}
    assert "X says duplicate: an earlier try probably landed" in (record(store, post).error or "")


def test_duplicate_after_ambiguous_found_by_lookup_is_sent(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Ambiguous("timeout"), land_then(Rejected("dup", duplicate=True))], find=["absent"])
    run(store, clock, {"tw": tw})
    clock.advance(10)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert record(store, post).remote_id == "tw-1"


def test_a_plain_duplicate_is_a_failure(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Rejected("You already said that", duplicate=True)])
    assert run(store, clock, {"tw": tw}) == {"tw": "failed"}
    assert "refused the post: You already said that" in (record(store, post).error or "")


def test_overdue_past_late_limit_is_missed_without_a_request(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    clock.advance(3601)
    tw = ScriptedAdapter("tw", [])
    assert run(store, clock, {"tw": tw}) == {"tw": "missed"}
    assert tw.publish_calls == []
    assert "overdue" in (record(store, post).error or "")


def test_out_of_tries_fails_with_the_last_error(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Transient("HTTP 503 s3cret")] * 3)
    statuses: list[str] = []
    for _ in range(3):
        statuses += run(store, clock, {"tw": tw}).values()
        clock.advance(100)
    assert statuses == ["retrying", "retrying", "failed"]
    assert record(store, post).error == "gave up after 3 tries: HTTP 503 ***"  # and the secret is masked


def test_a_thread_resumes_at_its_first_unpublished_part(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", parts=3)
    tw = ScriptedAdapter("tw", [one_part_then(Transient("503")), "ok"])
    assert run(store, clock, {"tw": tw}) == {"tw": "retrying"}
    clock.advance(10)
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert tw.publish_calls == [[], ["tw-1"]]
    assert tw.wall.parts == ["tw-1", "tw-2", "tw-3"]
    assert record(store, post).remote_id == "tw-1"


def test_a_thread_refused_half_way_says_which_parts_are_public(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", parts=3)
    tw = ScriptedAdapter("tw", [one_part_then(Rejected("X refused part 2"))])
    assert run(store, clock, {"tw": tw}) == {"tw": "failed"}
    rec = record(store, post)
    assert rec.error == (
        "X refused the post: X refused part 2; part 1 of 3 is public on X (first id tw-1): "
        "`crosspost retry` resumes after them"
    )
    # Public parts are never hidden: part 1's id and url stay on the failed row.
    assert (rec.remote_id, rec.url) == ("tw-1", "https://x.com/i/web/status/tw-1")


def test_a_thread_part_found_after_ambiguity_goes_on_in_the_same_claim(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw", parts=3)

    def first_then_lost(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> Receipt:
        adapter.post_one(progress)
        return land_then(Ambiguous("dropped"))(adapter, draft, progress)

    tw = ScriptedAdapter("tw", [first_then_lost, "ok"])
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert tw.wall.parts == ["tw-1", "tw-2", "tw-3"]
    assert tw.publish_calls == [[], ["tw-1", "tw-2"]]
    rec = record(store, post)
    assert (rec.remote_id, rec.url) == ("tw-1", "https://x.com/i/web/status/tw-1")


def test_an_unexpected_adapter_exception_is_treated_as_ambiguous(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [land_then(KeyError("content-type"))])
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert [a.outcome for a in record(store, post).history] == ["ambiguous", "found"]


def test_a_dead_daemons_sending_row_is_looked_up_before_any_resend(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [])
    [lost] = claim(store, clock)  # a daemon claims, its request lands, and it dies
    tw.wall.parts.append("tw-1")
    clock.advance(11)  # the lease expires
    [again] = claim(store, clock)
    assert again.status_before == "sending" and again.delivery_id == lost.delivery_id
    assert deliver(again, tw, store, POLICY, clock) == "sent"
    assert tw.publish_calls == [] and record(store, post).remote_id == "tw-1"


def test_a_dead_daemons_row_not_found_is_published(store: SqlStore, clock: Clock) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", ["ok"])
    claim(store, clock)
    clock.advance(11)
    [again] = claim(store, clock)
    assert deliver(again, tw, store, POLICY, clock) == "sent"
    assert [a.outcome for a in record(store, post).history] == ["interrupted", "absent", "sent"]


def test_log_lines_have_fields_and_no_secret(store: SqlStore, clock: Clock) -> None:
    queue(store, "tw")
    lines: list[str] = []
    run(store, clock, {"tw": ScriptedAdapter("tw", [AuthError("bad token s3cret")])}, lines)
    assert len(lines) == 1
    assert lines[0].startswith("level=error post=1 account=tw attempt=1 outcome=auth status=failed reason=")
    assert "s3cret" not in lines[0]


def settings_for(tmp_path: Path, *accounts: str) -> Settings:
    return Settings(
        path=tmp_path / "crosspost.toml",
        timezone=ZoneInfo("UTC"),
        database_url="sqlite://",
        posts_dir=tmp_path,
        late_limit=timedelta(hours=1),
        max_attempts=3,
        retry_delay=DELAY,
        request_timeout=5.0,
        accounts={a: AccountConfig(name=a, platform="twitter", credentials={"k": "s3cret"}) for a in accounts},
    )


def test_retry_finds_an_unknown_one_and_requeues_a_failed_one(store: SqlStore, clock: Clock, tmp_path: Path) -> None:
    post = queue(store, "tw", "fb")
    tw = ScriptedAdapter("tw", [land_then(Ambiguous("timeout"))], find=[LookupUnavailable("no reads")])
    fb = ScriptedAdapter("fb", [AuthError("expired")])
    assert run(store, clock, {"tw": tw, "fb": fb}) == {"tw": "unknown", "fb": "failed"}
    clock.advance(60)
    results = retry_post(
        store,
        settings_for(tmp_path, "tw", "fb"),
        post,
        None,
        now=clock(),
        adapter_factory=lambda account, timeout: {"tw": tw, "fb": fb}[account.name],
    )
    assert sorted((r.account, r.status, what) for r, what in results) == [
        ("fb", "pending", "requeued"),
        ("tw", "sent", "sent"),
    ]
    assert record(store, post, "tw").remote_id == "tw-1" and tw.wall.parts == ["tw-1"]


def test_retry_requeues_an_unknown_one_not_found(store: SqlStore, clock: Clock, tmp_path: Path) -> None:
    post = queue(store, "tw")
    tw = ScriptedAdapter("tw", [Ambiguous("timeout"), "ok"], find=[LookupUnavailable("no reads"), "absent"])
    assert run(store, clock, {"tw": tw}) == {"tw": "unknown"}
    results = retry_post(store, settings_for(tmp_path, "tw"), post, "tw", now=clock(), adapter_factory=lambda a, t: tw)
    assert [(r.status, what) for r, what in results] == [("pending", "requeued")]
    assert run(store, clock, {"tw": tw}) == {"tw": "sent"}
    assert record(store, post).attempts == 1  # a fresh budget


def test_uploaded_media_ids_are_stored_before_the_post_request_that_uses_them(store: SqlStore, clock: Clock) -> None:
    # The photo ids are a look-up's evidence: a daemon killed during the post request leaves a row whose
    # next owner can recognise the post only by them. They must be in the row before that request leaves.
    import json

    from sqlalchemy import select

    from crosspost.store.tables import deliveries

    post = queue(store, "tw")
    stored_at_post: list[dict[str, str]] = []

    def upload_then_post(adapter: ScriptedAdapter, draft: Draft, progress: Progress) -> Receipt:
        progress.checkpoint()
        progress.add_media("sha-of-the-photo", "media-1")
        progress.checkpoint()  # what every adapter does right before the post request
        with store.engine.connect() as conn:
            row = conn.execute(select(deliveries.c.progress).where(deliveries.c.post_id == post)).scalar_one()
        stored_at_post.append(json.loads(row or "{}").get("media", {}))
        return adapter.post_rest(draft, progress)

    assert run(store, clock, {"tw": ScriptedAdapter("tw", [upload_then_post])}) == {"tw": "sent"}
    assert stored_at_post == [{"sha-of-the-photo": "media-1"}]
