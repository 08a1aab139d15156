"""What every backend must do alike: the migrations build tables.py's schema, and opening a new database races safely.

Each test runs on SQLite and on PostgreSQL (the shared ``database_url`` fixture).
"""

from __future__ import annotations

import multiprocessing
import traceback
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from crosspost.store import migrations
from crosspost.store.engine import make_engine
from crosspost.store.sql import SqlStore
from crosspost.store.tables import metadata


def test_migrations_build_exactly_the_tables_metadata(database_url: str, tmp_path: Path) -> None:
    SqlStore(database_url, tmp_path / "media").close()
    engine = make_engine(database_url)
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot reflect expression indexes (test_store_migrations checks them)
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()


def test_upgrade_again_changes_nothing_and_keeps_data(database_url: str, tmp_path: Path) -> None:
    SqlStore(database_url, tmp_path / "media").close()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO posts (title, source, created_at, snapshot) VALUES ('t', 's', :at, '{}')"),
            {"at": "2027-01-01T00:00:00.000000+00:00"},
        )
    migrations.upgrade(engine)
    assert migrations.is_current(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM daemon")).scalar() == 1
    engine.dispose()


def test_a_released_daemon_slot_remembers_when_its_daemon_was_last_seen(store: SqlStore) -> None:
    t0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
    assert store.daemon_last_seen() is None
    assert store.acquire_daemon(owner="a", now=t0, stale_after=15)
    assert store.acquire_daemon(owner="b", now=t0 + timedelta(seconds=60), stale_after=15)  # a went stale
    store.release_daemon(owner="b")
    assert store.daemon_status() is None and store.daemon_last_seen() == t0 + timedelta(seconds=60)


def _open(url: str, media: str, together: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    try:
        import alembic.command  # noqa: F401  (imported before the barrier: the race is in the database)
        import sqlalchemy  # noqa: F401

        together.wait(60)
        SqlStore(url, Path(media)).close()
        out.put(None)
    except Exception:  # reported to the test, which fails with the traceback
        out.put(traceback.format_exc())


def test_several_processes_opening_a_new_database_at_once_all_succeed(database_url: str, tmp_path: Path) -> None:
    # Several daemons started together on an empty database: one creates the schema, the others wait and find it.
    ctx = multiprocessing.get_context("spawn")
    together, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(database_url, str(tmp_path / "media"), together, out)) for _ in range(4)]
    for p in procs:
        p.start()
    errors = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [e for e in errors if e] == []
    engine = make_engine(database_url)
    assert migrations.is_current(engine)
    engine.dispose()
