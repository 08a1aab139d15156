"""Creating the SQLAlchemy engine, with SQLite set up for several writers.

SQLite: every write transaction starts with ``BEGIN IMMEDIATE``, so a writer
takes the write lock up front and waits on the busy timeout when another holds
it. With pysqlite's default deferred ``BEGIN`` a transaction that read first and
then writes fails at once with "database is locked" (the busy handler is not
consulted when a read lock must be upgraded in WAL mode). Connections made with
``execution_options(crosspost_read=True)`` use a plain deferred ``BEGIN``
instead: in WAL mode readers then never wait for the writer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from crosspost.store.direct import Direct, DirectTransaction, T, Tx, attempt_in_savepoint

BUSY_TIMEOUT_MS = 30_000
READ_OPTION = "crosspost_read"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a 30 s busy timeout, foreign keys and BEGIN IMMEDIATE."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    # Writers of this process queue on a lock of their own before SQLite's. SQLite's busy handler polls
    # (it sleeps 1, 2, 5 ... up to 100 ms between looks), so the daemon's workers, its claimer and its
    # heartbeat, contending for the one write lock, lost tens of milliseconds a write; a thread waiting
    # here wakes the moment the writer before it commits. Other processes still meet the busy timeout.
    writers = threading.Lock()
    _OWN[engine] = _SqliteOwn(writers)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", lambda conn: _on_sqlite_begin(conn, writers))
    event.listen(engine, "commit", lambda conn: _end_write(conn, "commit"))
    event.listen(engine, "rollback", lambda conn: _end_write(conn, "rollback"))
    return engine


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Stop pysqlite from issuing its own BEGIN (and from committing before DDL): _on_sqlite_begin does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _turn_on_wal(cursor)
        # FULL, not NORMAL, though it costs an fsync per commit (0.22 ms a commit against 0.03 ms, a bare
        # sqlite3 loop on this machine's disk; one commit per delivery). In WAL mode NORMAL leaves a
        # commit unsynced until the next checkpoint: a process kill loses nothing, but an OS crash or a
        # power cut (a VM reset) can undo the last commits, and a claim undone after its request left
        # puts the row back to `queued`: the restarted daemon would publish the post again with no trace
        # of the first try. "Save `sending` before the request" means durably, so every commit that
        # holds a claim must reach the disk before the worker sends anything.
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _turn_on_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting for the database as the busy timeout would. A new database is
    still in SQLite's default mode, and while another connection writes it (two processes creating it at
    once: the first one's migration) SQLite refuses the change with "database is locked" at once, busy
    timeout or not. A database already in WAL never waits here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _on_sqlite_begin(conn: Connection, writers: threading.Lock) -> None:
    if conn.get_execution_options().get(READ_OPTION):
        conn.exec_driver_sql("BEGIN")
        return
    # Bounded like SQLite's own wait: a lock never released (a connection dropped mid-transaction without a
    # rollback) then costs one busy timeout, never a hang; the write still waits its turn on SQLite's lock.
    if writers.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        conn.info[_WRITER] = writers
    try:
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
    except BaseException:
        _release_writer(conn)
        raise


def _end_write(conn: Connection, how: str) -> None:
    """End a write transaction, then let the next writer of this process in.

    SQLAlchemy's ``commit``/``rollback`` events fire *before* the DBAPI call. Released there, the lock let
    the next writer's BEGIN IMMEDIATE race the COMMIT still to come, and a writer that lost the race slept
    in SQLite's busy handler (1 ms, then 2, 5, ...) with this process's one write lock idle. So the commit
    (or rollback) is made here, on the DBAPI connection, and the lock released after it; SQLAlchemy's own
    call then finds no transaction open, which pysqlite treats as nothing to do."""
    if _WRITER not in conn.info:
        return
    try:
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None:
            getattr(dbapi, how)()
    finally:
        _release_writer(conn)


def _release_writer(conn: Connection) -> None:
    writers = conn.info.pop(_WRITER, None)
    if writers is not None:
        writers.release()


_WRITER = "crosspost_writer_lock"  # conn.info key: this connection's write transaction holds the lock


class _SqliteOwn:
    """A SQLite engine's writer lock (see make_engine) and its connections kept out of the pool: the one
    :func:`direct_write` uses under the lock, and each thread's for :func:`read_connection`.

    SQLite keeps a page cache per connection and drops it when another connection has written since. With
    the daemon's writes spread over the pool, every write transaction began by reading its pages again (44
    preads a delivery in a drain, traced); the writes queue on the lock anyway, so one connection costs them
    no concurrency. A thread's own read connection spares the checkpoint read the pool's checkout and
    return, which cost more than the read."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.writer: Any = None  # made on first use (see own_connection)
        self.readers = threading.local()
        self.queued: deque[_Write] = deque()  # group_write's writes waiting for the lock (deque: thread-safe ends)

    def close_writer(self) -> None:
        writer, self.writer = self.writer, None
        _close(writer)

    def close_reader(self) -> None:
        reader, self.readers.connection = getattr(self.readers, "connection", None), None
        _close(reader)


def _own_connection(engine: Engine) -> Any:
    """A connection made by the engine (its "connect" set-up applies), detached from the pool: ours to keep."""
    connection = engine.raw_connection()
    connection.detach()  # its place in the pool is free for others
    return connection


def _close(connection: Any) -> None:
    """Close a detached connection, if any (this closes the DBAPI connection itself); never raises."""
    if connection is not None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - a broken connection is being thrown away
            pass


_OWN: weakref.WeakKeyDictionary[Engine, _SqliteOwn] = weakref.WeakKeyDictionary()  # SQLite engines'


def close_own_connections(engine: Engine) -> None:
    """Close the connections kept out of ``engine``'s pool (SQLite: the writer's, the calling thread's
    reader), as ``engine.dispose()`` closes the pool's; the next use makes new ones. Other threads' readers
    close with their thread."""
    own = _OWN.get(engine)
    if own is not None:
        with own.lock:
            own.close_writer()
        own.close_reader()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Any]:
    """A DBAPI connection for one read outside any transaction: on SQLite the calling thread's own
    (autocommit, so a read of its own, which never waits for nor blocks a writer); else a pooled one, whose
    implicit transaction is rolled back when it goes back to the pool. One that failed is not used again."""
    own = _OWN.get(engine)
    if own is None:
        pooled = engine.raw_connection()
        try:
            yield pooled.dbapi_connection
        finally:
            pooled.close()
        return
    reader = getattr(own.readers, "connection", None)
    if reader is None:
        reader = own.readers.connection = _own_connection(engine)
    try:
        yield reader.dbapi_connection
    except Exception:
        own.close_reader()
        raise


@contextmanager
def direct_write(engine: Engine) -> Iterator[DirectTransaction]:
    """A write transaction for :class:`~crosspost.store.direct.Direct` statements only, without SQLAlchemy's
    ``Connection`` (see :class:`~crosspost.store.direct.DirectTransaction`). SQLite: under the same writer
    lock as ``engine.begin()``, on the writer's own connection (see :class:`_SqliteOwn`), ``BEGIN
    IMMEDIATE``, the COMMIT made before the lock is let go. PostgreSQL: a connection of the pool. Committed
    when the block ends, rolled back if it raises; DBAPI errors are raised as SQLAlchemy's."""
    own = _OWN.get(engine)
    if own is None:
        pooled = engine.raw_connection()
        try:
            with _transaction(engine, pooled.dbapi_connection, pooled.invalidate) as tx:
                yield tx
        finally:
            pooled.close()
        return
    # The writer lock first, then the connection: writers queued on the lock hold none of the pool's
    # connections, so a checkpoint read (which needs one, and must never wait for a writer) finds one free.
    held = own.lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        with _writer_transaction(engine, own) as tx:
            yield tx
    finally:
        if held:
            own.lock.release()


class _Write(Generic[T]):
    """One write queued for :func:`group_write`: its work, then what came of it."""

    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[Tx], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


def group_write(engine: Engine, work: Callable[[Tx], T]) -> T:
    """Run ``work(tx)`` in a :func:`direct_write` transaction and return what it returns: committed (durably)
    before this returns, nothing of it kept if it raises (the exception is raised here).

    SQLite: a group commit. Writes of this process queue for the writer lock; the thread that gets it runs
    every write queued by then, each in a savepoint of one transaction, and commits them together, so they
    share one ``BEGIN IMMEDIATE``, one WAL sync and one hand-off of the lock. In a drain the writer lock was
    the daemon's bottleneck: held 2.3 ms a delivery, 0.9 ms of it the COMMIT, three workers queued on it.
    A write that fails undoes only its own savepoint; a COMMIT that fails fails every write of the group.
    The works run on whichever thread leads, so they must not lean on thread-local state (the daemon's
    settles and claims do not). PostgreSQL: its own transaction (row locks let writers run side by side)."""
    own = _OWN.get(engine)
    if own is None:
        with direct_write(engine) as tx:
            return work(tx)
    write = _Write(work)
    own.queued.append(write)
    if not own.lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        try:
            own.queued.remove(write)
        except ValueError:
            pass  # a leader took it after all: what it did is told below
        else:
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("this process's writer lock is stuck"))
    else:
        try:
            if not write.done:  # else the writer before us ran and committed it
                _commit_queued(engine, own)
        finally:
            own.lock.release()
    if write.error is not None:
        raise write.error
    return write.result  # type: ignore[return-value]


def _commit_queued(engine: Engine, own: _SqliteOwn) -> None:
    """With the writer lock held: run every queued write in one transaction and commit (see group_write)."""
    group: list[_Write[Any]] = []
    while own.queued:
        group.append(own.queued.popleft())
    try:
        with _writer_transaction(engine, own) as tx:
            if len(group) == 1:
                group[0].result = group[0].work(tx)  # alone: the transaction is its savepoint
            else:
                for n, write in enumerate(group):
                    # A failed one is raised by its own caller; the others go on.
                    ok, outcome = attempt_in_savepoint(tx, f"w{n}", write.work)
                    if ok:
                        write.result = outcome
                    else:
                        write.error = outcome  # type: ignore[assignment]
    except BaseException as exc:  # noqa: BLE001 - BEGIN, the lone write or COMMIT failed: so did every write
        for write in group:
            write.error = write.error or exc
    finally:
        for write in group:
            write.done = True


@contextmanager
def _writer_transaction(engine: Engine, own: _SqliteOwn) -> Iterator[DirectTransaction]:
    """A transaction on the writer's own connection (made on first use); the caller holds the writer lock."""
    if own.writer is None:
        own.writer = _own_connection(engine)
    with _transaction(engine, own.writer.dbapi_connection, own.close_writer, begin="BEGIN IMMEDIATE") as tx:
        yield tx


@contextmanager
def _transaction(
    engine: Engine, dbapi_connection: Any, discard: Callable[[], object], begin: str | None = None
) -> Iterator[DirectTransaction]:
    """The transaction of :func:`direct_write` on ``dbapi_connection``; ``discard()`` it after a DBAPI error."""
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        if begin is not None:
            dbapi_connection.execute(begin)  # PostgreSQL (psycopg) begins by itself
        try:
            yield DirectTransaction(dialect, dbapi_connection)
        except BaseException:
            try:
                dbapi_connection.rollback()
            except dbapi_error:
                discard()  # a connection that cannot even roll back is not used again
            raise
        dbapi_connection.commit()
    except dbapi_error as exc:
        discard()
        raise DBAPIError.instance("COMMIT", None, exc, dbapi_error, dialect=dialect) from None


# Advisory lock ids (PostgreSQL) for the few writes that must not interleave across processes.
LOCK_MEDIA = 0x63700001
LOCK_CLAIM = 0x63700002
LOCK_MIGRATE = 0x63700003  # several daemons started at once on a new database: one migrates, the rest find head
_ADVISORY_LOCK = Direct(text("SELECT pg_advisory_xact_lock(:lock_id)"))


def serialize(conn: Tx, lock_id: int) -> None:
    """Hold ``lock_id`` until the transaction ends. SQLite needs nothing: BEGIN IMMEDIATE already serializes writers."""
    if conn.dialect.name == "postgresql":
        _ADVISORY_LOCK(conn, {"lock_id": int(lock_id)})
