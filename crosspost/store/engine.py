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

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

BUSY_TIMEOUT_MS = 30_000
READ_OPTION = "crosspost_read"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a 30 s busy timeout, foreign keys and BEGIN IMMEDIATE."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Stop pysqlite from issuing its own BEGIN (and from committing before DDL): _on_sqlite_begin does it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(READ_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# Advisory lock ids (PostgreSQL) for the few writes that must not interleave across processes.
LOCK_MEDIA = 0x63700001
LOCK_CLAIM = 0x63700002
LOCK_MIGRATE = 0x63700003  # several daemons started at once on a new database: one migrates, the rest find head


def serialize(conn: Connection, lock_id: int) -> None:
    """Hold ``lock_id`` until the transaction ends. SQLite needs nothing: BEGIN IMMEDIATE already serializes writers."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(lock_id)})")
