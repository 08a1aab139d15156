"""`crosspost backup PATH` (restorable: database and media) and `crosspost prune --before AGE`.

Through the real CLI on test_cli's folder. Deliveries get their states through the store's own
API (a claim, then the daemon's marks), as tests/test_resolve.py does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import test_cli
from test_cli import AGREEMENT, EXHIBITION, Invoke, error_line, queue, store_of

folder = test_cli.folder
run = test_cli.run


def _files(media: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in media.iterdir()}


def test_a_backup_restores_every_post_and_image(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    queue(run, EXHIBITION, "--at", "+2h")  # two images, copied into media/
    before = [json.loads(run("show", str(i), "--json").stdout) for i in (1, 2)]
    media = _files(folder / "media")
    assert len(media) == 2
    result = run("backup", "bak")
    assert result.stdout == "bak/crosspost.db: the database\nbak/media: 2 media files\n"
    # What the README's restore says: stop the daemon, put the two back.
    (folder / "crosspost.db").unlink()
    for leftover in ("crosspost.db-wal", "crosspost.db-shm"):
        (folder / leftover).unlink(missing_ok=True)
    shutil.rmtree(folder / "media")
    shutil.copyfile(folder / "bak" / "crosspost.db", folder / "crosspost.db")
    shutil.copytree(folder / "bak" / "media", folder / "media")
    assert [json.loads(run("show", str(i), "--json").stdout) for i in (1, 2)] == before
    assert _files(folder / "media") == media
    conn = sqlite3.connect(folder / "crosspost.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_a_backup_is_shared_with_the_group_and_never_overwrites(run: Invoke, folder: Path) -> None:
    queue(run, EXHIBITION, "--at", "+2h")
    run("backup", "bak")
    assert stat.S_IMODE((folder / "bak").stat().st_mode) == 0o2770
    assert stat.S_IMODE((folder / "bak" / "crosspost.db").stat().st_mode) == 0o660
    assert {stat.S_IMODE(p.stat().st_mode) for p in (folder / "bak" / "media").iterdir()} == {0o660}
    again = run("backup", "bak", code=1)
    assert error_line(again) == (
        "crosspost: error: bak: already exists and is not an empty folder; name a new folder for the backup"
    )


def test_a_backup_taken_while_a_writer_holds_the_database_is_consistent(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    writer = sqlite3.connect(folder / "crosspost.db", isolation_level=None, timeout=30)
    writer.execute("BEGIN IMMEDIATE")  # a daemon's write transaction, not yet committed
    writer.execute("UPDATE deliveries SET error = 'half-written' WHERE id = 1")
    try:
        run("backup", "bak")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    copy = sqlite3.connect(folder / "bak" / "crosspost.db")
    assert copy.execute("SELECT error FROM deliveries WHERE id = 1").fetchone() == (None,)
    copy.close()


def _settle(folder: Path, *, sent: str, unknown: str, at: datetime) -> None:
    """Post 1: ``sent`` sent and ``unknown`` unknown, each after one try recorded at ``at``."""
    store = store_of(folder)
    try:
        now = datetime.now(UTC) + timedelta(seconds=1)
        for claim in store.claim_due(now=now, owner="test", lease_seconds=60):
            store.record_attempt(
                claim.delivery_id, at=at, seconds=1.0, outcome="ambiguous", code=None, error="timeout", is_try=True
            )
            if claim.account == sent:
                assert store.mark_sent(claim.delivery_id, remote_id="1", url="https://example.org/1", now=now)
            elif claim.account == unknown:
                assert store.mark_unknown(claim.delivery_id, error="could not settle", now=now, fence=claim.fence)
    finally:
        store.close()


def _history(run: Invoke, account: str) -> list[dict[str, object]]:
    post = json.loads(run("show", "1", "--json").stdout)
    return next(d["history"] for d in post["deliveries"] if d["account"] == account)  # type: ignore[no-any-return]


def test_prune_deletes_old_history_of_finished_deliveries_only(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "twitter", "--to", "vk")
    _settle(folder, sent="vk", unknown="twitter", at=datetime.now(UTC) - timedelta(days=400))
    assert _history(run, "vk") and _history(run, "twitter")
    assert run("prune", "--before", "1y").stdout.startswith("1 history row from before ")
    assert _history(run, "vk") == []
    # An unknown one's history says a try may have landed: retry must still look it up first.
    assert [h["outcome"] for h in _history(run, "twitter")] == ["ambiguous"]
    assert run("prune", "--before", "1y").stdout.startswith("0 history rows from before ")


def test_prune_keeps_what_is_newer_than_the_age(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "vk")
    _settle(folder, sent="vk", unknown="", at=datetime.now(UTC) - timedelta(days=10))
    run("prune", "--before", "30d")
    assert len(_history(run, "vk")) == 1


def test_prune_refuses_what_is_not_an_age(run: Invoke) -> None:
    run("upgrade")
    result = run("prune", "--before", "yesterday", code=1)
    assert error_line(result) == (
        "crosspost: error: --before yesterday: not an age; write a number of days, weeks, months or years: 90d, 6m, 1y"
    )
