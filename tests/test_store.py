"""SqlStore: queueing, reading, the CLI's changes, the daemon's marks and the daemon slot."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image as PILImage

from crosspost.errors import CrosspostError, NotFound
from crosspost.model import Draft, Image, Progress
from crosspost.store.records import post_status
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)


def draft(account: str, platform: str = "twitter", *images: Image, text: str = "hello") -> Draft:
    return Draft(account=account, platform=platform, parts=(text,), images=images, link="https://example.org")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "posts" / "Photo.JPG"
    path.parent.mkdir()
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "JPEG")  # queue prepares images: a real one
    path.write_bytes(buffer.getvalue())
    return path


def queue(
    store: SqlStore, *accounts: str, due: datetime = T0, title: str = "T", drafts: list[Draft] | None = None
) -> int:
    return store.queue_post(
        title=title, source="posts/p.md", drafts=drafts or [draft(a) for a in accounts], due_at=due, now=T0
    )


def rows(store: SqlStore, sql: str) -> list[tuple]:
    """The rows of ``sql`` as the database holds them, read past the store's own code."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def stored(store: SqlStore, at: datetime) -> object:
    """``at`` as a column holds it: fixed-width UTC text on SQLite, a ``timestamptz`` elsewhere."""
    return at.isoformat(timespec="microseconds") if store.url.startswith("sqlite") else at


def claim_all(store: SqlStore, now: datetime = T0) -> dict[str, int]:
    return {c.account: c.delivery_id for c in store.claim_due(now=now, owner="d1", lease_seconds=60)}


# ---------------------------------------------------------------- queue


def test_queue_stores_post_drafts_and_pending_deliveries(store: SqlStore, image: Path) -> None:
    pid = queue(store, drafts=[draft("tw", "twitter", Image(image, "alt")), draft("vk", "vk", Image(image))])
    post = store.get_post(pid)
    assert (post.title, post.source, post.status, post.due_at) == ("T", "posts/p.md", "queued", T0)
    assert [(d.account, d.platform, d.status, d.attempts) for d in post.deliveries] == [
        ("tw", "twitter", "pending", 0),
        ("vk", "vk", "pending", 0),
    ]
    keys = [d.key for d in post.drafts]
    assert len(set(keys)) == 2 and all(k.startswith(f"cp-{pid}-") and k.isascii() and len(k) <= 64 for k in keys)
    # One copy for the shared image, named by content hash, lower-cased extension; drafts point at it.
    copies = list((store.media_dir).iterdir())
    assert len(copies) == 1 and copies[0].suffix == ".jpg" and len(copies[0].stem) == 64
    for d in post.drafts:
        assert d.images[0].path == copies[0] and d.images[0].sha256 == copies[0].stem
        assert d.images[0].mime == "image/jpeg"
    assert post.drafts[0].images[0].alt == "alt"
    # Later edits of the file change nothing queued.
    stored = copies[0].read_bytes()
    image.write_bytes(b"changed")
    assert copies[0].read_bytes() == stored


def test_delivery_key_stays_short_ascii_and_stable(store: SqlStore) -> None:
    long_name = "vk-" + "x" * 80
    pid = queue(store, long_name, "tw")
    keys = {d.account: d.key for d in store.get_post(pid).drafts}
    assert all(len(k) <= 64 and k.isascii() for k in keys.values())
    claims = {c.account: c for c in store.claim_due(now=T0, owner="d", lease_seconds=60)}
    assert claims[long_name].draft.key == keys[long_name]
    assert store.draft_of(claims["tw"].delivery_id)[0].key == keys["tw"]


def test_failing_queue_stores_nothing_and_removes_its_copies(store: SqlStore, image: Path, tmp_path: Path) -> None:
    other = tmp_path / "posts" / "other.png"
    other.write_bytes(image.read_bytes())
    with pytest.raises(CrosspostError, match="image not found"):
        queue(store, drafts=[draft("tw", "twitter", Image(other), Image(tmp_path / "posts" / "missing.jpg"))])
    assert rows(store, "SELECT count(*) FROM posts") == [(0,)]
    assert rows(store, "SELECT count(*) FROM deliveries") == [(0,)]
    assert [p.name for p in store.media_dir.iterdir()] == []


def test_failing_queue_keeps_copies_other_posts_use(store: SqlStore, image: Path, tmp_path: Path) -> None:
    queue(store, drafts=[draft("tw", "twitter", Image(image))])
    kept = list(store.media_dir.iterdir())
    with pytest.raises(CrosspostError):
        queue(store, drafts=[draft("tw", "twitter", Image(image), Image(tmp_path / "nope.jpg"))])
    assert list(store.media_dir.iterdir()) == kept
    assert rows(store, "SELECT count(*) FROM posts") == [(1,)]


def test_queue_refuses_naive_times_and_stores_nothing(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.queue_post(title="T", source="p.md", drafts=[draft("tw")], due_at=datetime(2027, 1, 1), now=T0)
    with pytest.raises(CrosspostError):
        store.queue_post(title="T", source="p.md", drafts=[draft("tw"), draft("tw")], due_at=T0, now=T0)
    assert rows(store, "SELECT count(*) FROM posts") == [(0,)]


def test_times_are_stored_in_utc_and_returned_aware(store: SqlStore) -> None:
    pyongyang = timezone(timedelta(hours=9))
    pid = queue(store, "tw", due=datetime(2027, 3, 17, 10, 0, tzinfo=pyongyang))
    assert store.get_post(pid).due_at == T0 and store.get_post(pid).due_at.tzinfo == UTC
    assert rows(store, "SELECT due_at FROM deliveries") == [(stored(store, T0),)]


# ---------------------------------------------------------------- reading


def test_list_is_newest_due_first_with_status_filters(store: SqlStore) -> None:
    early = queue(store, "tw", "vk", due=T0, title="early")
    late = queue(store, "tw", due=T0 + timedelta(hours=1), title="late")
    assert [p.id for p in store.list_posts()] == [early, late]  # both waiting: soonest due first
    claimed = claim_all(store, T0)  # early's two deliveries
    store.mark_sent(claimed["tw"], remote_id="1", url="u", now=T0)
    store.mark_failed(claimed["vk"], error="no", now=T0)
    assert [(p.id, p.status) for p in store.list_posts()] == [(late, "queued"), (early, "partial")]
    assert [p.id for p in store.list_posts(status="partial")] == [early]
    assert [p.id for p in store.list_posts(status="pending")] == [late]  # a delivery-only status
    assert store.list_posts(status="sent") == []
    with pytest.raises(CrosspostError, match="unknown status"):
        store.list_posts(status="bogus")


def test_post_status_summary() -> None:
    assert post_status(["sent", "sending"]) == "sending"
    assert post_status(["sent", "retrying"]) == "queued"
    assert post_status(["sent", "sent"]) == "sent"
    assert post_status(["cancelled"]) == "cancelled"
    assert post_status(["sent", "failed"]) == "partial"
    assert post_status(["cancelled", "missed"]) == "failed"


def test_get_post_history_and_attempt_counting(store: SqlStore) -> None:
    pid = queue(store, "tw")
    did = claim_all(store)["tw"]
    store.record_attempt(did, at=T0, seconds=1.5, outcome="transient", code="503", error="busy", is_try=True)
    store.record_attempt(did, at=T0, seconds=0.2, outcome="absent", code=None, error=None, is_try=False)
    store.record_attempt(did, at=T0, seconds=0.3, outcome="sent", code=None, error=None, is_try=True)
    post = store.get_post(pid)
    (delivery,) = post.deliveries
    assert delivery.attempts == 2
    assert [(a.outcome, a.code, a.error, a.is_try, a.seconds) for a in delivery.history] == [
        ("transient", "503", "busy", True, 1.5),
        ("absent", None, None, False, 0.2),
        ("sent", None, None, True, 0.3),
    ]
    assert store.list_posts()[0].deliveries[0].history == ()  # list carries no history
    with pytest.raises(NotFound):
        store.get_post(999)


def test_log_filters_and_order(store: SqlStore) -> None:
    a = queue(store, "tw", "vk", due=T0)
    b = queue(store, "tw", due=T0 + timedelta(hours=2))
    c = queue(store, "vk", due=T0 + timedelta(hours=1))
    claimed = claim_all(store, T0)
    store.mark_sent(claimed["tw"], remote_id="9", url="https://x.com/i/9", now=T0 + timedelta(hours=3))
    store.mark_failed(claimed["vk"], error="rejected", now=T0)
    order = [(r.post_id, r.account) for r in store.log()]
    # sent_at (3h) wins over due_at for a's tw; then b (2h), c (1h), a's vk (due 0h).
    assert order == [(a, "tw"), (b, "tw"), (c, "vk"), (a, "vk")]
    assert [(r.post_id, r.account) for r in store.log(account="vk")] == [(c, "vk"), (a, "vk")]
    assert [r.post_id for r in store.log(status="pending")] == [b, c]
    assert [r.account for r in store.log(post_id=a)] == ["tw", "vk"]
    assert [r.post_id for r in store.log(since=T0 + timedelta(minutes=90))] == [a, b]
    assert [r.post_id for r in store.log(limit=1)] == [a]
    sent = store.log(status="sent")[0]
    assert (sent.remote_id, sent.url, sent.post_title, sent.sent_at) == (
        "9",
        "https://x.com/i/9",
        "T",
        T0 + timedelta(hours=3),
    )
    assert store.log(status="failed")[0].error == "rejected"
    with pytest.raises(CrosspostError):
        store.log(status="queued")


def test_delivery_log_view_answers_plain_sql(store: SqlStore) -> None:
    pid = queue(store, "tw", title="Seventy-five years")
    got = rows(
        store,
        "SELECT post_id, title, account, platform, status, attempts, remote_id, url, error, due_at, sent_at"
        " FROM delivery_log",
    )
    assert got == [
        (
            pid,
            "Seventy-five years",
            "tw",
            "twitter",
            "pending",
            0,
            None,
            None,
            None,
            stored(store, T0),
            None,
        )
    ]


# ---------------------------------------------------------------- the CLI's changes


def test_cancel_touches_only_pending_and_retrying(store: SqlStore) -> None:
    pid = queue(store, "a", "b", "c", "d")
    claimed = claim_all(store)
    store.mark_retrying(claimed["a"], next_try_at=T0 + timedelta(minutes=5), error="503")
    store.mark_sent(claimed["b"], remote_id="1", url="u", now=T0)
    store.release(claimed["d"], status="pending")
    # c stays sending: a request is under way.
    cancelled = store.cancel(pid, now=T0)
    assert sorted(d.account for d in cancelled) == ["a", "d"]
    assert {d.account: d.status for d in store.get_post(pid).deliveries} == {
        "a": "cancelled",
        "b": "sent",
        "c": "sending",
        "d": "cancelled",
    }
    assert store.cancel(pid, now=T0) == []
    with pytest.raises(NotFound):
        store.cancel(999, now=T0)


def test_reschedule_moves_pending_and_retrying(store: SqlStore) -> None:
    pid = queue(store, "a", "b", "c")
    claimed = claim_all(store)
    store.mark_retrying(claimed["a"], next_try_at=T0 + timedelta(minutes=5), error="503")
    store.mark_sent(claimed["b"], remote_id="1", url="u", now=T0)
    store.release(claimed["c"], status="pending")
    later = T0 + timedelta(days=1)
    moved = store.reschedule(pid, later, now=T0)
    assert sorted((d.account, d.status, d.due_at, d.next_try_at) for d in moved) == [
        ("a", "pending", later, None),
        ("c", "pending", later, None),
    ]
    assert store.claim_due(now=later - timedelta(seconds=1), owner="d", lease_seconds=60) == []
    with pytest.raises(NotFound):
        store.reschedule(999, later, now=T0)


def test_retryable_and_requeue(store: SqlStore) -> None:
    pid = queue(store, "a", "b", "c", "d")
    claimed = claim_all(store)
    for account in ("a", "b", "c", "d"):
        store.record_attempt(claimed[account], at=T0, seconds=1, outcome="x", code=None, error="e", is_try=True)
    store.save_progress(claimed["a"], Progress(parts=["p1"], media={"sha": "m1"}))
    store.mark_failed(claimed["a"], error="auth", now=T0)
    store.mark_unknown(claimed["b"], error="timeout", now=T0)
    store.mark_missed(claimed["c"], error="late", now=T0)
    store.mark_sent(claimed["d"], remote_id="1", url="u", now=T0)
    assert [d.account for d in store.retryable(pid)] == ["a", "b", "c"]
    assert [d.account for d in store.retryable(pid, "b")] == ["b"]
    with pytest.raises(NotFound):
        store.retryable(999)

    later = T0 + timedelta(hours=1)
    record = store.requeue(claimed["a"], now=later, note="crosspost retry")
    assert (record.status, record.attempts, record.error, record.due_at) == ("pending", 0, None, later)
    history = store.get_post(pid).deliveries[0].history
    assert [(h.outcome, h.is_try, h.error) for h in history] == [
        ("x", True, "e"),
        ("requeued", False, "crosspost retry"),
    ]
    (claim,) = [c for c in store.claim_due(now=later, owner="d", lease_seconds=60) if c.account == "a"]
    # Published parts are kept; media ids are dropped, since they expire on the platforms before a retry.
    assert claim.progress.parts == ["p1"] and claim.progress.media == {}
    with pytest.raises(CrosspostError, match="is sent"):
        store.requeue(claimed["d"], now=later, note="")
    with pytest.raises(NotFound):
        store.requeue(999, now=later, note="")


def test_a_persons_settle_sent_lands_on_unknown_but_never_on_a_claimed_delivery(store: SqlStore) -> None:
    queue(store, "a", "b")
    claimed = claim_all(store)
    store.mark_unknown(claimed["a"], error="timeout", now=T0)
    assert store.settle(claimed["a"], "sent", by="person", now=T0, remote_id="7", url="u7", sent_at=T0)
    # "b" is still sending: a daemon holds it, and only that daemon may settle it.
    assert not store.settle(claimed["b"], "sent", by="person", now=T0, remote_id="8", url="u8", sent_at=T0)
    assert (store.delivery(claimed["a"]).status, store.delivery(claimed["a"]).remote_id) == ("sent", "7")
    assert store.delivery(claimed["b"]).status == "sending"


# ---------------------------------------------------------------- the daemon's marks


def test_marks_only_change_a_sending_delivery(store: SqlStore) -> None:
    pid = queue(store, "a", "b")
    ids = {d.account: d.id for d in store.get_post(pid).deliveries}
    # Not claimed yet: pending. Only mark_missed may apply.
    store.mark_sent(ids["a"], remote_id="1", url="u", now=T0)
    store.mark_failed(ids["a"], error="x", now=T0)
    store.mark_unknown(ids["a"], error="x", now=T0)
    store.mark_retrying(ids["a"], next_try_at=T0, error="x")
    store.release(ids["a"], status="retrying")
    assert store.delivery(ids["a"]).status == "pending"
    store.mark_missed(ids["b"], error="late by 7h", now=T0)
    assert store.delivery(ids["b"]).status == "missed"
    # A terminal status is never left by a mark.
    for mark in (
        lambda: store.mark_sent(ids["b"], remote_id="1", url="u", now=T0),
        lambda: store.mark_missed(ids["b"], error="again", now=T0),
        lambda: store.release(ids["b"], status="pending"),
    ):
        mark()
        assert store.delivery(ids["b"]).status == "missed"
    with pytest.raises(NotFound):
        store.mark_sent(999, remote_id="1", url="u", now=T0)
    with pytest.raises(ValueError):
        store.release(ids["a"], status="sent")


def test_sent_clears_lease_and_keeps_remote_id(store: SqlStore) -> None:
    queue(store, "a")
    did = claim_all(store)["a"]
    assert store.next_wakeup() == T0 + timedelta(seconds=60)  # the lease expiry
    store.mark_sent(did, remote_id="123", url="https://vk.com/wall-1_123", now=T0 + timedelta(seconds=2))
    record = store.delivery(did)
    assert (record.status, record.remote_id, record.sent_at) == ("sent", "123", T0 + timedelta(seconds=2))
    assert rows(store, "SELECT lease_owner, lease_until FROM deliveries") == [(None, None)]
    assert store.next_wakeup() is None


def test_progress_saved_at_once(store: SqlStore) -> None:
    queue(store, "tw")
    (claim,) = store.claim_due(now=T0, owner="d", lease_seconds=60)
    claim.progress.on_change = lambda p: store.save_progress(claim.delivery_id, p)
    claim.progress.add_part("111")
    claim.progress.add_media("abc", "m-1")
    assert store.draft_of(claim.delivery_id)[1] == Progress(parts=["111"], media={"abc": "m-1"})


def test_next_wakeup(store: SqlStore) -> None:
    assert store.next_wakeup() is None
    queue(store, "a", due=T0 + timedelta(hours=2))
    queue(store, "b", due=T0)
    assert store.next_wakeup() == T0
    did = claim_all(store)["b"]
    store.mark_retrying(did, next_try_at=T0 + timedelta(minutes=3), error="503")
    assert store.next_wakeup() == T0 + timedelta(minutes=3)


# ---------------------------------------------------------------- the daemon slot


def test_daemon_slot(store: SqlStore) -> None:
    assert store.daemon_status() is None
    assert store.acquire_daemon(owner="host:1", now=T0, stale_after=30)
    assert not store.acquire_daemon(owner="host:2", now=T0 + timedelta(seconds=10), stale_after=30)
    store.heartbeat(owner="host:1", now=T0 + timedelta(seconds=20))
    assert store.daemon_status() == ("host:1", T0 + timedelta(seconds=20), T0.isoformat())
    # Another owner's heartbeat changes nothing.
    store.heartbeat(owner="host:2", now=T0 + timedelta(seconds=40))
    assert not store.acquire_daemon(owner="host:2", now=T0 + timedelta(seconds=45), stale_after=30)
    # Stale: taken over.
    assert store.acquire_daemon(owner="host:2", now=T0 + timedelta(seconds=51), stale_after=30)
    assert (store.daemon_status() or ("",))[0] == "host:2"
    store.release_daemon(owner="host:1")  # not the owner any more: nothing happens
    assert (store.daemon_status() or ("",))[0] == "host:2"
    store.release_daemon(owner="host:2")
    assert store.daemon_status() is None
    assert store.acquire_daemon(owner="host:3", now=T0 + timedelta(seconds=52), stale_after=30)


def test_a_database_without_its_driver_is_one_clear_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(CrosspostError) as caught:
        SqlStore("mysql://press:hunter2@127.0.0.1:1/crosspost", tmp_path / "media")
    message = str(caught.value)
    assert "hunter2" not in message
    assert message.startswith("database mysql://press:***@127.0.0.1:1/crosspost: its driver is not installed")


def test_a_database_url_that_is_not_a_url_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CrosspostError, match=r"^database nosuchdb://x: not a URL crosspost can use"):
        SqlStore("nosuchdb://x", tmp_path / "media")


@pytest.mark.parametrize("status", [None, "queued", "sent", "partial", "cancelled", "failed", "pending", "missed"])
def test_post_summaries_are_list_posts_in_short(store: SqlStore, status: str | None) -> None:
    sent_one = queue(store, "a", "b", due=T0)
    queue(store, "a", "b", due=T0 + timedelta(hours=2))
    cancelled = queue(store, "c", due=T0 + timedelta(hours=1))
    claimed = claim_all(store)
    store.mark_sent(claimed["a"], remote_id="1", url="u", now=T0)
    store.mark_failed(claimed["b"], error="auth", now=T0)
    store.cancel(cancelled, now=T0)
    full = store.list_posts(status=status)
    short = store.post_summaries(status=status)
    assert [(p.id, p.title, p.due_at, p.status, tuple((d.account, d.status) for d in p.deliveries)) for p in full] == [
        tuple(s) for s in short
    ]
    if status is None:
        assert [s.id for s in short] == [sent_one + 1, cancelled, sent_one]
