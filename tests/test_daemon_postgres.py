"""Several daemons on one PostgreSQL database: the work shared, each post once, one request in flight per account.

Opt-in like the other PostgreSQL tests: skipped unless CROSSPOST_TEST_POSTGRES
names a database this test may empty (``.ci/run`` starts one). Real daemon
processes, real adapters, the sandbox over HTTP; the sandbox's request log is
the witness for "never two requests in flight for one account".
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_world import ACCOUNTS, Daemons, empty_public_schema, overlaps

from crosspost.sandbox import build_sandbox

URL = os.environ.get("CROSSPOST_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not URL, reason="set CROSSPOST_TEST_POSTGRES to a PostgreSQL URL to run these")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Daemons]:
    empty_public_schema(URL)
    sandbox = build_sandbox()
    w = Daemons(tmp_path, sandbox, sandbox.start(port=0), URL)
    w.store().close()  # the schema, made in-process before the daemons race for it
    yield w
    w.kill_all()
    sandbox.stop()


def sent_by(err: str) -> int:
    return len(re.findall(r"status=sent", err))


def assert_each_once_and_one_in_flight(world: Daemons, count: int) -> None:
    published = world.published()
    for account in ACCOUNTS:
        texts = published[account]
        assert len(texts) == count, (account, len(texts))
        assert len(set(texts)) == count, f"{account}: a post went out twice"
        assert overlaps(world.publish_requests(account)) == [], f"{account}: two requests in flight"


def test_three_daemons_share_100_posts_on_3_accounts_each_once(world: Daemons) -> None:
    now = datetime.now(UTC)
    world.queue_many(100, now + timedelta(seconds=4), now=now)
    for _ in range(3):
        world.start()
    world.wait_until(lambda: world.statuses() == {"sent": 300})
    results = world.stop_all()
    assert [code for code, _ in results.values()] == [0, 0, 0]  # none refused, all stopped cleanly
    assert not any("another crosspost daemon" in err for _, err in results.values())
    shares = sorted(sent_by(err) for _, err in results.values())
    assert sum(shares) == 300
    assert shares[0] > 0, f"a daemon got no work: {shares}"  # shared, not one daemon doing it all
    assert_each_once_and_one_in_flight(world, 100)


def test_a_daemon_killed_mid_run_has_its_work_taken_over(world: Daemons) -> None:
    now = datetime.now(UTC)
    world.queue_many(40, now + timedelta(seconds=4), now=now)
    procs = {p.pid: p for p in (world.start() for _ in range(3))}
    holding: list[int] = []

    def some_sent_and_one_holding() -> bool:
        holding[:] = world.senders()  # read once: a claim held now may be settled a moment later
        return world.statuses().get("sent", 0) >= 30 and bool(holding)

    world.wait_until(some_sent_and_one_holding)
    victim = procs[holding[0]]  # one holding a claim: killed with its work on hand
    others = [p for p in procs.values() if p is not victim]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    world.wait_until(lambda: world.statuses() == {"sent": 120})
    results = world.stop_all()
    assert results[victim.pid][0] == -signal.SIGKILL
    assert sent_by(results[victim.pid][1]) > 0  # it had work before it died
    assert [results[p.pid][0] for p in others] == [0, 0]
    assert_each_once_and_one_in_flight(world, 40)


def test_posts_queued_while_running_are_woken_for_through_notify(world: Daemons) -> None:
    daemon = world.start()
    world.wait_until(world.running)  # queued after its start: only the nudge can tell it
    now = datetime.now(UTC)
    ids = [world.queue_cli(n, now + timedelta(seconds=1.5 + 0.3 * n), "vk") for n in range(3)]
    world.wait_until(lambda: world.statuses() == {"sent": 3}, timeout=60)
    with world.store() as store:
        sent = [store.get_post(i).deliveries[0] for i in ids]
    assert all(d.sent_at is not None and d.sent_at >= d.due_at for d in sent)  # never early
    assert [d.sent_at for d in sent] == sorted(d.sent_at for d in sent if d.sent_at)  # in due order
    assert daemon.poll() is None


def test_queue_sends_notify_and_each_daemon_counts_the_live_ones(world: Daemons) -> None:
    from crosspost.store.wake import Listener, live_daemons

    first, second = Listener(URL, None), Listener(URL, None)
    try:
        with world.store() as store:
            # Each listener holds a presence lock; a previous test's killed daemons may still be ending theirs.
            world.wait_until(lambda: live_daemons(store.engine) == 2, timeout=30)
            assert first.wait(0.05) is False
            world.queue_many(1, datetime.now(UTC) + timedelta(hours=1), now=datetime.now(UTC))
            assert first.wait(30) is True and second.wait(30) is True  # every daemon hears it
            second.close()  # the database drops a gone daemon's lock: the others' share grows
            # The server ends the closed session's backend (and frees its lock) a moment after the client goes.
            world.wait_until(lambda: live_daemons(store.engine) == 1, timeout=30)
    finally:
        first.close()
        second.close()


def test_a_daemon_of_another_database_on_the_server_is_not_counted(world: Daemons) -> None:
    # pg_locks lists the whole cluster: a second crosspost database on the same server (a staging copy)
    # must not shrink this one's share of the accounts.
    import psycopg
    from sqlalchemy.engine import make_url

    from crosspost.store.wake import PRESENCE_CLASS, live_daemons

    other = make_url(URL).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(other, autocommit=True) as one, psycopg.connect(other, autocommit=True) as two:
        for elsewhere in (one, two):  # two daemons there, none here
            elsewhere.execute(f"SELECT pg_advisory_lock({PRESENCE_CLASS}, pg_backend_pid())")
        store = world.store()
        try:
            assert live_daemons(store.engine) == 1  # no daemon here: the caller alone
        finally:
            store.close()
