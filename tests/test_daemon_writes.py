"""One write transaction per settled delivery (issue 14): a clean send is its claim and one write.

The real twitter adapter against the sandbox over HTTP, the real store; the
store engine's own ``begin`` event counts the write transactions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapter_world import adapter, fresh_fixture, sandbox_fixture
from sqlalchemy import event, select

from crosspost.delivery import Policy, deliver
from crosspost.model import Draft
from crosspost.sandbox import Sandbox
from crosspost.store.sql import SqlStore
from crosspost.store.tables import notices

__all__ = ["fresh_fixture", "sandbox_fixture"]  # fixtures, used by name
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

        def statement(conn: object, cursor: object, sql: str, *args: object) -> None:
            wrote[0] = wrote[0] or sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))

        def commit(conn: object) -> None:
            if wrote[0]:
                writes.append("write")
            wrote[0] = False

        event.listen(store.engine, "before_cursor_execute", statement)
        event.listen(store.engine, "commit", commit)
        status = deliver(
            claim, adapter("twitter", sandbox), store, POLICY, lambda: datetime.now(UTC), secrets=frozenset()
        )
        event.remove(store.engine, "before_cursor_execute", statement)
        event.remove(store.engine, "commit", commit)
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
