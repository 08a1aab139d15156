"""claim_due: due only, never early, one per account, exclusions, leases, and no double claims under concurrency."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from crosspost.model import Draft
from crosspost.statuses import PENDING, RETRYING, SENDING
from crosspost.store import claims
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def queue(store: SqlStore, *accounts: str, due: datetime = T0) -> int:
    drafts = [Draft(account=a, platform="vk", parts=("text",)) for a in accounts]
    return store.queue_post(title="T", source="p.md", drafts=drafts, due_at=due, now=T0)


def claim(store: SqlStore, now: datetime, **kw: object) -> list[tuple[int, str, str]]:
    return [
        (c.post_id, c.account, c.status_before)
        for c in store.claim_due(now=now, owner=str(kw.pop("owner", "d1")), lease_seconds=60, **kw)  # type: ignore[arg-type]
    ]


def test_never_early_and_due_only(store: SqlStore) -> None:
    pid = queue(store, "a", due=T0)
    assert claim(store, T0 - US) == []
    assert claim(store, T0) == [(pid, "a", "pending")]
    assert claim(store, T0 + timedelta(seconds=30)) == []  # already sending under a live lease


def test_one_per_account_oldest_first_and_exclusions(store: SqlStore) -> None:
    first = queue(store, "a", "b", due=T0)
    second = queue(store, "a", "c", due=T0 + timedelta(seconds=1))
    now = T0 + timedelta(seconds=5)
    got = claim(store, now, exclude_accounts=["c"])
    assert sorted(got) == [(first, "a", "pending"), (first, "b", "pending")]
    # a is busy (live lease), c excluded before, now allowed; second's a waits for the first to finish.
    assert claim(store, now) == [(second, "c", "pending")]
    post = store.get_post(first)
    store.mark_sent(post.deliveries[0].id, remote_id="1", url="u", now=now)
    assert claim(store, now) == [(second, "a", "pending")]


def test_limit(store: SqlStore) -> None:
    queue(store, "a", "b", "c")
    assert len(claim(store, T0, limit=2)) == 2
    assert len(claim(store, T0, limit=2)) == 1


def test_retrying_waits_for_next_try(store: SqlStore) -> None:
    queue(store, "a")
    (c,) = store.claim_due(now=T0, owner="d", lease_seconds=60)
    store.record_attempt(c.delivery_id, at=T0, seconds=1, outcome="transient", code="503", error="x", is_try=True)
    store.mark_retrying(c.delivery_id, next_try_at=T0 + timedelta(minutes=2), error="x")
    assert store.claim_due(now=T0 + timedelta(minutes=2) - US, owner="d", lease_seconds=60) == []
    (again,) = store.claim_due(now=T0 + timedelta(minutes=2), owner="d", lease_seconds=60)
    assert (again.status_before, again.attempts, again.last_outcome, again.last_try_at) == (
        "retrying",
        1,
        "transient",
        T0,
    )


def test_terminal_and_cancelled_are_never_claimed(store: SqlStore) -> None:
    pid = queue(store, "a", "b", "c")
    (a, b, c) = store.claim_due(now=T0, owner="d", lease_seconds=60)
    store.mark_sent(a.delivery_id, remote_id="1", url="u", now=T0)
    store.mark_failed(b.delivery_id, error="auth", now=T0)
    store.mark_unknown(c.delivery_id, error="timeout", now=T0)
    other = queue(store, "d")
    store.cancel(other, now=T0)
    assert claim(store, T0 + timedelta(days=30)) == []
    assert store.get_post(pid).status == "partial"


def test_expired_lease_is_reclaimed_for_reconciliation(store: SqlStore) -> None:
    pid = queue(store, "a")
    queue(store, "a", due=T0)  # a second post for the same account waits behind the stale one
    store.claim_due(now=T0, owner="dead", lease_seconds=60)
    assert claim(store, T0 + timedelta(seconds=59), owner="new") == []  # lease still live: not touched
    (c,) = store.claim_due(now=T0 + timedelta(seconds=60), owner="new", lease_seconds=60)
    assert (c.post_id, c.status_before, c.last_try_at) == (pid, "sending", T0)
    assert c.extra == {
        "claimed_at": T0,
        "lease_owner": "dead",
        "lease_until": T0 + timedelta(seconds=60),
        "sending_since": T0,
    }
    # The new lease is live again: nobody else gets it.
    assert claim(store, T0 + timedelta(seconds=61), owner="third") == []
    # A take-over keeps when the waiting work was first claimed; the latest claim's time moves on.
    (again,) = store.claim_due(now=T0 + timedelta(seconds=120), owner="third", lease_seconds=60)
    assert (again.extra["claimed_at"], again.extra["sending_since"]) == (T0 + timedelta(seconds=60), T0)


def test_extend_lease_only_for_its_owner(store: SqlStore) -> None:
    queue(store, "a")
    (c,) = store.claim_due(now=T0, owner="d1", lease_seconds=60)
    store.extend_lease(c.delivery_id, owner="other", until=T0 + timedelta(hours=1))
    assert store.next_wakeup() == T0 + timedelta(seconds=60)
    store.extend_lease(c.delivery_id, owner="d1", until=T0 + timedelta(hours=1))
    assert store.next_wakeup() == T0 + timedelta(hours=1)
    assert claim(store, T0 + timedelta(minutes=30), owner="d2") == []


def _drain(store: SqlStore, owner: str, got: list[int]) -> None:
    # Claim and finish until nothing is left, as a daemon would.
    idle = 0
    while idle < 3:
        claims = store.claim_due(now=T0, owner=owner, lease_seconds=600)
        idle = 0 if claims else idle + 1
        for c in claims:
            got.append(c.delivery_id)
            store.mark_sent(c.delivery_id, remote_id=str(c.delivery_id), url="u", now=T0)


def test_two_threads_never_claim_the_same_delivery(database_url: str, tmp_path: Path) -> None:
    url = database_url
    setup = SqlStore(url, tmp_path / "media")
    for i in range(40):
        queue(setup, f"acct{i % 5}", f"other{i % 3}")
    results: dict[str, list[int]] = {"t1": [], "t2": []}
    stores = {name: SqlStore(url, tmp_path / "media") for name in results}
    threads = [threading.Thread(target=_drain, args=(stores[n], n, results[n])) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = results["t1"] + results["t2"]
    assert len(everything) == len(set(everything)) == 80
    assert {d.status for d in setup.log()} == {"sent"}


def _drain_process(url: str, media: str, owner: str, queue_out: multiprocessing.Queue) -> None:
    got: list[int] = []
    _drain(SqlStore(url, Path(media)), owner, got)
    queue_out.put(got)


def test_processes_never_claim_the_same_delivery(database_url: str, tmp_path: Path) -> None:
    url = database_url
    setup = SqlStore(url, tmp_path / "media")
    for i in range(30):
        queue(setup, f"acct{i % 4}", f"other{i % 3}")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_drain_process, args=(url, str(tmp_path / "media"), f"p{i}", out)) for i in range(3)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    everything = [d for part in got for d in part]
    assert len(everything) == len(set(everything)) == 60


def test_a_workers_one_account_claim_still_waits_for_that_accounts_live_lease(store: SqlStore) -> None:
    # The drain's claim asks one account only (its busy check narrowed to that account): a second delivery
    # of an account whose first is in flight waits, another account's does not, and a lapsed one is taken over.
    first = queue(store, "a", "b")
    second = queue(store, "a")
    assert claim(store, T0, accounts=["a"]) == [(first, "a", "pending")]
    assert claim(store, T0, accounts=["a"]) == []
    assert claim(store, T0, accounts=["b"]) == [(first, "b", "pending")]
    b = next(d for d in store.get_post(first).deliveries if d.account == "b")
    assert store.mark_sent(b.id, remote_id="1", url="u", now=T0)
    lapsed = T0 + timedelta(seconds=60 + 8)
    assert claim(store, lapsed, accounts=["a"], takeover_after=7.0) == [(first, "a", "sending")]
    assert second not in [p for p, _, _ in claim(store, lapsed, accounts=["a"], takeover_after=7.0)]


def test_the_claims_statements_each_walk_one_partial_index(store: SqlStore) -> None:
    """The claim's questions probe the index of their status's rows, by account and time where they name
    the account: their cost does not grow with the backlog (the old claim read every due row into
    Python), and nothing is sorted. Checked on the statements the claim itself runs, which name their
    status in the SQL: a bound status would hide the partial index from SQLite's planner (it plans before
    the value is bound) and from PostgreSQL's generic plans. PostgreSQL is told to avoid table scans,
    which a handful of rows would otherwise make cheaper; its plans are checked for the probes."""
    for i in range(50):
        queue(store, "a", "b", due=T0 + timedelta(milliseconds=i))
    params = {"account": "a", "horizon": T0, "lapsed": T0, "n": 5}
    postgres = store.sqlite_file is None
    expected = [
        (claims._NEXT[0], PENDING, "ix_deliveries_pending_account_due_at (account=? AND due_at<?)"),
        (claims._NEXT[1], RETRYING, "ix_deliveries_retrying_account_next_try_at (account=? AND next_try_at<?)"),
    ]
    if not postgres:
        expected += [
            (claims._BUSY_ONE, SENDING, "ix_deliveries_sending_lease_until (status=? AND lease_until>?)"),
            (claims._STALE, SENDING, "ix_deliveries_sending_lease_until (status=? AND lease_until<?)"),
            (claims._WITH_DUE, PENDING, "ix_deliveries_pending_due_at (status=? AND due_at<?)"),
        ]
    with store.engine.connect() as conn:
        if postgres:
            conn.execute(text("SET enable_seqscan = off"))
        for statement, status, index in expected:
            compiled = statement.compiled(conn.dialect)
            assert f"status = '{status}'" in compiled.sql
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(explain + compiled.sql, compiled.parameters(params))
            )
            assert (index.split(" (")[0] if postgres else f"INDEX {index}") in plan, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # ordered by the index itself: no sort of the backlog
        conn.rollback()
