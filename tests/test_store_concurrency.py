"""Several processes writing one database at once; on SQLite they queue on the busy timeout, never "locked"."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from crosspost.model import Draft
from crosspost.store.engine import make_engine
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)


def _writer(url: str, media: str, n: int, worker: int, out: multiprocessing.Queue) -> None:
    try:
        store = SqlStore(url, Path(media))  # several processes may create the database together
        for i in range(n):
            drafts = [Draft(account=f"w{worker}-{a}", platform="vk", parts=(f"post {i}",)) for a in ("x", "y")]
            pid = store.queue_post(title=f"{worker}/{i}", source="p.md", drafts=drafts, due_at=T0, now=T0)
            post = store.get_post(pid)
            store.record_attempt(
                post.deliveries[0].id, at=T0, seconds=0.1, outcome="x", code=None, error=None, is_try=True
            )
            store.reschedule(pid, T0 + timedelta(hours=1), now=T0)
            if i % 2:
                store.cancel(pid, now=T0)
            store.log(limit=5)
        out.put((worker, None))
    except Exception:  # reported to the test, which fails with the traceback
        out.put((worker, traceback.format_exc()))


def test_concurrent_writers_from_several_processes(database_url: str, tmp_path: Path) -> None:
    url = database_url
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    workers, per_worker = 4, 15
    procs = [
        ctx.Process(target=_writer, args=(url, str(tmp_path / "media"), per_worker, w, out)) for w in range(workers)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert {w: e for w, e in results.items() if e} == {}
    store = SqlStore(url, tmp_path / "media")
    posts = store.list_posts()
    assert len(posts) == workers * per_worker
    assert sum(d.attempts for p in posts for d in p.deliveries) == workers * per_worker
    assert {p.status for p in posts} == {"queued", "cancelled"}


def test_a_connection_to_a_database_another_holds_locked_waits_to_turn_on_wal(tmp_path: Path) -> None:
    """Two processes opening one new database: the first may still hold it, in SQLite's default journal
    mode, while the second asks for WAL. SQLite answers that request "database is locked" at once,
    without its busy timeout; the connection must wait its turn, as every other statement does."""
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # what the first process's migration holds
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, holder.execute, ("COMMIT",))
    release.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1  # after the holder's commit
    finally:
        release.join()
        engine.dispose()
        holder.close()
