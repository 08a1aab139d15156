"""The daemon slot's heartbeat (daemon.presence): a real take-over stops the daemon; its own stop does not
read as one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crosspost.daemon.presence import Presence
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'crosspost.db'}", tmp_path / "media")
    yield store
    store.close()


def presence(store: SqlStore, lines: list[str], lost: list[bool]) -> Presence:
    return Presence(
        store,
        "press:101",
        clock=lambda: T0,
        exclusive=True,
        log=lines.append,
        secrets=frozenset(),
        held_claims=list,
        on_lost=lambda: lost.append(True),
    )


def test_a_daemon_whose_slot_was_taken_over_is_told_and_stops(sqlite_store: SqlStore) -> None:
    lines: list[str] = []
    lost: list[bool] = []
    watcher = presence(sqlite_store, lines, lost)
    with watcher.held("vk"):
        assert sqlite_store.acquire_daemon(owner="press:202", now=T0 + timedelta(seconds=60), stale_after=15)
        watcher.beat()
    assert lost == [True]
    assert any("level=error event=heartbeat" in line and "took the database over" in line for line in lines)


def test_a_beat_that_meets_the_daemons_own_stop_reports_no_take_over(sqlite_store: SqlStore) -> None:
    # The heartbeat thread's beat can run while held() frees the slot: it then finds no holder. That is the
    # daemon's own clean stop, not another daemon: no error line, no second stop.
    lines: list[str] = []
    lost: list[bool] = []
    watcher = presence(sqlite_store, lines, lost)
    with watcher.held("vk"):
        pass
    watcher.beat()  # the beat that lost the race with the release
    assert lost == []
    assert [line.split()[1] for line in lines] == ["event=start", "event=stop"]
