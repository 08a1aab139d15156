"""One write transaction per settled delivery (issue 14): a clean send is its claim and one write.

The real twitter adapter against the sandbox over HTTP, the real store; the
store engine's own ``begin`` event counts the write transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapter_world import adapter, fresh_fixture, sandbox_fixture
from sqlalchemy import event, select

from crosspost.config import load_config
from crosspost.daemon import Daemon
from crosspost.delivery import Policy, deliver
from crosspost.demo import demo_config
from crosspost.model import Draft
from crosspost.sandbox import Sandbox
from crosspost.store.engine import close_own_connections
from crosspost.store.sql import SqlStore
from crosspost.store.tables import notices

__all__ = ["fresh_fixture", "sandbox_fixture"]  # fixtures, used by name


def trace_sqlite(store: SqlStore, statement: Callable[[str], None] | None) -> None:
    """Have every statement SQLite runs for ``store`` from now on (COMMIT included) passed to ``statement``
    (None: stop). SQLite's own trace callback, not SQLAlchemy's events: the daemon's per-delivery statements
    and transactions go to the DBAPI connection directly (store.direct), and what counts is what SQLite runs."""
    close_own_connections(store.engine)  # connections made from here on are traced: the writer's, the reader's
    store.engine.dispose()
    earlier = _TRACED.pop(store, None)
    if earlier is not None:
        event.remove(store.engine, "connect", earlier)
    if statement is None:
        return

    def connect(dbapi_connection: sqlite3.Connection, record: object) -> None:
        dbapi_connection.set_trace_callback(statement)

    _TRACED[store] = connect
    event.listen(store.engine, "connect", connect)


_TRACED: dict[SqlStore, Callable[..., None]] = {}
POLICY = Policy(max_attempts=3, retry_delay=timedelta(seconds=1), late_limit=timedelta(hours=1), spread=lambda: 0.0)


def test_a_clean_send_is_one_write_after_its_claim(sandbox: Sandbox, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media") as store:
        store.queue_post(
            title="t", source="t.md", drafts=[Draft("twitter", "twitter", ("One write",))], due_at=now, now=now
        )
        (claim,) = store.claim_due(now=now, owner="d", lease_seconds=60)
        wrote: list[bool] = [False]
        writes: list[str] = []

        def statement(sql: str) -> None:
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                wrote[0] = True
            elif sql.strip().upper() == "COMMIT":
                if wrote[0]:
                    writes.append("write")
                wrote[0] = False

        trace_sqlite(store, statement)
        status = deliver(
            claim, adapter("twitter", sandbox), store, POLICY, lambda: datetime.now(UTC), secrets=frozenset()
        )
        trace_sqlite(store, None)
        record = store.get_post(claim.post_id).deliveries[0]
    assert (status, record.status, record.attempts) == ("sent", "sent", 1)
    assert [a.outcome for a in record.history] == ["sent"]
    # One write: `sent`, the try's row and the post's id together, after the request. There were two (the
    # id saved on its own first); a crash between the request and this write leaves the row `sending`,
    # reconciled by a look-up, as a crash between the request and the id's own write did.
    assert writes == ["write"]
    assert store_progress(tmp_path, claim.delivery_id) == [record.remote_id]


def store_progress(tmp_path: Path, delivery_id: int) -> list[str]:
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media") as store:
        return store.draft_of(delivery_id)[1].parts


def notice_rows(store: SqlStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [(r.status, r.state) for r in conn.execute(select(notices.c.status, notices.c.state))]


def test_a_sent_delivery_writes_no_notice_row_unless_sent_is_in_notify_on(sandbox: Sandbox, tmp_path: Path) -> None:
    """The contract: one notice per delivery that reaches a status in ``[notify] on``. A row for a `sent` that
    no one asked to hear of would only be settled away as skipped: a write transaction per delivery."""
    now = datetime.now(UTC)
    for on, expected in (({"failed", "unknown", "missed"}, []), ({"sent", "failed"}, [("sent", "queued")])):
        folder = tmp_path / "-".join(sorted(on))
        with SqlStore(f"sqlite:///{folder / 'db.sqlite'}", folder / "media") as store:
            store.queue_post(
                title="t",
                source="t.md",
                drafts=[Draft("twitter", "twitter", (f"A notice for {sorted(on)}?",))],
                due_at=now,
                now=now,
            )
            (claim,) = store.claim_due(now=now, owner="d", lease_seconds=60)
            status = deliver(
                claim, adapter("twitter", sandbox), store, POLICY, lambda: datetime.now(UTC), notify_on=frozenset(on)
            )
            assert status == "sent"
            assert notice_rows(store) == expected


def test_a_drain_settles_each_delivery_and_claims_the_next_in_one_transaction(sandbox: Sandbox, tmp_path: Path) -> None:
    """The real daemon (--once) on one account's backlog: every delivery's `sent` and the claim of the
    account's next delivery commit together, so the drain is one write transaction per delivery."""
    config = tmp_path / "crosspost.toml"
    config.write_text(demo_config(sandbox.url, database=str(tmp_path / "db.sqlite")), encoding="utf-8")
    settings = load_config(config, {})
    now = datetime.now(UTC) - timedelta(seconds=1)
    count = 4
    with SqlStore(settings.database_url, settings.media_dir) as store:
        for i in range(count):
            draft = Draft("twitter", "twitter", (f"Backlog post {i} {now.timestamp()}",))
            store.queue_post(title=f"p{i}", source="p.md", drafts=[draft], due_at=now, now=now)
        statements: list[str] = []
        transactions: list[list[str]] = []

        def statement(sql: str) -> None:
            text = " ".join(sql.split())
            if text.startswith("UPDATE deliveries SET status=") and "lease_token=(deliveries.lease_token +" in text:
                statements.append("claim")
            elif text.startswith("UPDATE deliveries SET") and "sent_at" in text:
                statements.append("sent")
            elif text.startswith("INSERT INTO attempts"):
                statements.append("attempt")
            elif text.startswith(("INSERT", "UPDATE", "DELETE")):
                statements.append("other write")
            elif text == "COMMIT":
                if statements:
                    transactions.append(list(statements))
                statements.clear()

        trace_sqlite(store, statement)
        assert Daemon(settings, store, log=lambda line: None).run_once() == 0
        sent = [d.status for p in store.list_posts() for d in p.deliveries]
    assert sent == ["sent"] * count
    deliveries = [t for t in transactions if "claim" in t or "sent" in t]
    # The first claim alone; then each `sent` (with its attempt row) and the next claim; the last finds
    # nothing more due.
    assert deliveries[0] == ["claim"]
    assert deliveries[1:] == [["sent", "attempt", "claim"]] * (count - 1) + [["sent", "attempt"]]


def test_every_sqlite_commit_reaches_the_disk_before_a_request_can_follow_it(tmp_path: Path) -> None:
    # A claim is the promise that a request may be on the wire; under synchronous=NORMAL (WAL) an OS crash
    # or a VM reset could undo it after the request left, and the restarted daemon would publish again.
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media") as store:
        with store.engine.connect() as conn:
            (journal,) = conn.exec_driver_sql("PRAGMA journal_mode").one()
            (synchronous,) = conn.exec_driver_sql("PRAGMA synchronous").one()
    assert (journal, synchronous) == ("wal", 2)  # 2 is FULL: an fsync at every commit


def test_a_clean_send_reads_its_claim_once_and_a_thread_before_every_later_part(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The engine's checkpoint right before adapter.publish answers for the adapter's own first one (nothing
    # is sent between them); every later publishing request (a thread's next part) is preceded by a read.
    now = datetime.now(UTC)
    reads: list[str] = []

    def statement(sql: str) -> None:
        if " ".join(sql.split()).startswith("SELECT deliveries.lease_until FROM deliveries"):
            reads.append(sql)

    counts = []
    with SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media") as store:
        for parts in (("One read",), ("Part one", "Part two", "Part three")):
            drafts = [Draft("twitter", "twitter", parts)]
            store.queue_post(title="t", source="t.md", drafts=drafts, due_at=now, now=now)
            (claim,) = store.claim_due(now=now, owner="d", lease_seconds=60)
            trace_sqlite(store, statement)
            status = deliver(
                claim, adapter("twitter", sandbox), store, POLICY, lambda: datetime.now(UTC), secrets=frozenset()
            )
            trace_sqlite(store, None)
            assert status == "sent"
            counts.append(len(reads))
            reads.clear()
    # The thread: the engine's read (answering part 1's checkpoint too), then before parts 2 and 3 a read
    # where its id is saved and one at the adapter's checkpoint.
    assert counts == [1, 5]
