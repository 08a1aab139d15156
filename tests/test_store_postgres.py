"""The store on PostgreSQL: opt-in, skipped unless CROSSPOST_TEST_POSTGRES names an empty database.

    export CROSSPOST_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:5432/crosspost_test
    pytest tests/test_store_postgres.py

(needs ``pip install 'psycopg[binary]'``). Each test starts from an empty ``public`` schema.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crosspost.model import Draft, Progress
from crosspost.store.sql import SqlStore

URL = os.environ.get("CROSSPOST_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not URL, reason="set CROSSPOST_TEST_POSTGRES to a PostgreSQL URL to run these")
T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    from sqlalchemy import create_engine, text

    engine = create_engine(URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    s = SqlStore(URL, tmp_path / "media")
    yield s
    s.close()


def queue(store: SqlStore, *accounts: str, due: datetime = T0) -> int:
    drafts = [Draft(a, "twitter", (f"hello {a}",)) for a in accounts]
    return store.queue_post(title="T", source="p.md", drafts=drafts, due_at=due, now=T0)


def test_queue_claim_settle_and_read_back(store: SqlStore) -> None:
    post = queue(store, "tw", "vk")
    assert store.claim_due(now=T0 - timedelta(seconds=1), owner="d", lease_seconds=10) == []
    claims = {c.account: c for c in store.claim_due(now=T0, owner="d", lease_seconds=10)}
    assert set(claims) == {"tw", "vk"}
    store.save_progress(claims["tw"].delivery_id, Progress(parts=["1"]))
    store.record_attempt(
        claims["tw"].delivery_id, at=T0, seconds=0.1, outcome="sent", code=None, error=None, is_try=True
    )
    store.mark_sent(claims["tw"].delivery_id, remote_id="1", url="https://x.com/i/web/status/1", now=T0)
    store.mark_failed(claims["vk"].delivery_id, error="auth", now=T0)
    assert [(d.account, d.status, d.attempts) for d in store.log()] == [("vk", "failed", 0), ("tw", "sent", 1)]
    assert [d.account for d in store.log(status="sent", account="tw", post_id=post, since=T0)] == ["tw"]
    assert store.list_posts()[0].status == "partial"
    assert store.post_summaries()[0].states == (("tw", "sent"), ("vk", "failed"))
    assert store.requeue(claims["vk"].delivery_id, now=T0, note="retry").status == "pending"
    assert [d.account for d in store.cancel(post, now=T0)] == ["vk"]
    full = store.get_post(post)
    assert [len(d.history) for d in full.deliveries] == [1, 1] and len(full.drafts) == 2


def test_two_claimers_never_get_the_same_delivery(store: SqlStore) -> None:
    for n in range(20):
        queue(store, f"acct{n}")
    got: list[int] = []
    lock = threading.Lock()

    def claim(owner: str) -> None:
        for _ in range(10):
            claims = store.claim_due(now=T0, owner=owner, lease_seconds=60, limit=3)
            with lock:
                got.extend(c.delivery_id for c in claims)

    threads = [threading.Thread(target=claim, args=(f"d{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(set(got)) and len(got) == 20


def test_the_daemon_slot(store: SqlStore) -> None:
    assert store.acquire_daemon(owner="a", now=T0, stale_after=15)
    assert not store.acquire_daemon(owner="b", now=T0 + timedelta(seconds=5), stale_after=15)
    assert store.acquire_daemon(owner="b", now=T0 + timedelta(seconds=60), stale_after=15)
    store.release_daemon(owner="b")
    assert store.daemon_status() is None and store.daemon_last_seen() == T0 + timedelta(seconds=60)
