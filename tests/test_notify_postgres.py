"""Notices on PostgreSQL (opt-in, like tests/test_store_postgres.py): the outbox migration, the notice
written with the status change, the sender's claim and settle, the digest's one-a-day, the log's field.

    export CROSSPOST_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:5432/crosspost_test
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_world import empty_public_schema
from notify_receivers import Hook, hook_url, webhook

from crosspost.config import NotifyConfig, Settings
from crosspost.model import Draft
from crosspost.notify import outbox
from crosspost.notify.sender import send_due
from crosspost.store.sql import SqlStore

URL = os.environ.get("CROSSPOST_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not URL, reason="set CROSSPOST_TEST_POSTGRES to a PostgreSQL URL to run these")
T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    empty_public_schema(URL)
    s = SqlStore(URL, tmp_path / "media")
    yield s
    s.close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook() as h:
        yield h


def settings(tmp_path: Path, hook: Hook) -> Settings:
    from zoneinfo import ZoneInfo

    return Settings(
        path=tmp_path / "crosspost.toml",
        timezone=ZoneInfo("UTC"),
        database_url=URL,
        posts_dir=tmp_path,
        late_limit=timedelta(hours=1),
        max_attempts=5,
        retry_delay=timedelta(seconds=1),
        request_timeout=5.0,
        accounts={},
        notify=NotifyConfig(urls=(hook_url(hook),), ids=("h",)),
    )


def test_a_post_failing_on_postgres_gives_one_notice(store: SqlStore, hook: Hook, tmp_path: Path) -> None:
    drafts = [Draft(a, "twitter", (f"hello {a}",)) for a in ("tw", "vk")]
    post = store.queue_post(title="T", source="p.md", drafts=drafts, due_at=T0, now=T0)
    claims = store.claim_due(now=T0, owner="d", lease_seconds=10)
    for claim in claims:
        store.mark_failed(claim.delivery_id, error=f"{claim.account} refused", now=T0)
    store.mark_failed(claims[0].delivery_id, error="again", now=T0)  # refused by the guard: no second row
    assert [d.notice for d in store.log()] == ["queued:", "queued:"]
    config = settings(tmp_path, hook)
    assert send_due(store, config, T0, print) == 1
    assert [b["title"] for b in hook.bodies] == [f'crosspost: FAILED tw, vk · post {post} "T"']
    assert [d.notice for d in store.get_post(post).deliveries] == ["sent:", "sent:"]
    assert send_due(store, config, T0 + timedelta(days=1), print) == 0


def test_one_digest_a_day_on_postgres(store: SqlStore) -> None:
    assert outbox.enqueue_digest(store.engine, day="2027-03-17", subject="s", body="b", now=T0)
    assert not outbox.enqueue_digest(store.engine, day="2027-03-17", subject="s", body="b", now=T0)
    assert outbox.has_digest(store.engine, "2027-03-17")
    assert replace(outbox.due(store.engine, T0)[0], created_at=T0).kind == "digest"
