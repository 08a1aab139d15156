"""Waking the daemon when work arrives, instead of having it poll.

``queue``, ``reschedule`` and ``retry`` call :func:`nudge` after their write;
a running daemon holds a :class:`Listener` and re-times its wake-up when one
arrives. A nudge carries nothing: it only says "look again", so a lost or
forged one costs at most one cheap read, and the daemon's own slow re-check
(once a second) still finds what a lost nudge announced.

- PostgreSQL: ``NOTIFY crosspost_wake``; every daemon on the database, on any
  host, ``LISTEN``s on its own connection (made again after the database
  restarts).
- SQLite: an empty datagram to a Unix socket in Linux's abstract namespace,
  named after the database file's absolute path: nothing to clean up after a
  SIGKILL, no path-length limit, nothing written beside the database. Only
  one daemon runs per SQLite database, so one socket is enough. Elsewhere
  than Linux there is no socket and the re-check alone keeps the guarantee.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

CHANNEL = "crosspost_wake"
# PostgreSQL: each running daemon holds a session advisory lock (this class, a key of its own) on its
# listening connection. The database drops it when the daemon dies, so pg_locks counts the live daemons:
# the scheduler uses that to take only its share of the accounts, and the work spreads over them all.
PRESENCE_CLASS = 0x6370


def live_daemons(engine: Engine) -> int:
    """How many daemons hold a presence lock on this PostgreSQL database (at least 1: the caller)."""
    with engine.connect() as conn:
        count = conn.exec_driver_sql(
            # pg_locks lists the whole server: count this database's daemons only, or a second crosspost
            # database on the same server (a staging copy) would shrink every daemon's share here.
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %(cls)s AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"cls": PRESENCE_CLASS},
        ).scalar()
        conn.rollback()
    return max(1, int(count or 0))


def socket_name(path: Path) -> bytes:
    """The abstract socket address for the SQLite database at ``path`` (leading NUL: no file)."""
    digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:32]
    return b"\0crosspost-" + digest.encode()


def nudge(sqlite_path: Path | None, engine: Callable[[], Engine]) -> None:
    """Tell the daemons on this database to look again. Never raises: no daemon running is normal."""
    try:
        if sqlite_path is not None:
            if sys.platform.startswith("linux"):
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.setblocking(False)
                    sock.sendto(b"", socket_name(sqlite_path))
            return
        if engine().dialect.name == "postgresql":
            with engine().begin() as conn:
                conn.exec_driver_sql(f"NOTIFY {CHANNEL}")
    except Exception:  # noqa: BLE001 - no daemon listening, or a busy database: the daemon's re-check finds it
        return


class Listener:
    """Waits for a nudge: :meth:`wait` returns True when one came within ``timeout`` seconds."""

    def __init__(self, url: str, sqlite_path: Path | None) -> None:
        self.url = url
        self.sqlite_path = sqlite_path
        self.closed = threading.Event()
        self._sock: socket.socket | None = None
        self._pg: Any = None
        if sqlite_path is not None and sys.platform.startswith("linux"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(socket_name(sqlite_path))
                self._sock = sock
            except OSError:  # another process holds it (a daemon being refused): the re-check alone then
                sock.close()
        elif sqlite_path is None:
            try:
                self._pg = _listen(url)  # now: the other daemons count this one before its first round
            except Exception:  # noqa: BLE001 - the first wait connects again
                self._pg = None

    def wait(self, timeout: float) -> bool:
        if self._sock is not None:
            self._sock.settimeout(timeout)
            try:
                self._sock.recv(64)
            except (TimeoutError, OSError):
                return False
            self._drain_socket()
            return True
        if self.sqlite_path is None:
            return self._wait_postgres(timeout)
        return self.closed.wait(timeout) and False

    def _drain_socket(self) -> None:
        # Ten queued posts are one look: read what else has arrived without waiting.
        assert self._sock is not None
        self._sock.setblocking(False)
        try:
            while self._sock.recv(64) is not None:
                pass
        except OSError:
            pass

    def _wait_postgres(self, timeout: float) -> bool:
        try:
            if self._pg is None:
                self._pg = _listen(self.url)
            return any(True for _ in self._pg.notifies(timeout=timeout, stop_after=1))
        except Exception:  # noqa: BLE001 - the database restarted or is down: reconnect at the next wait
            self._close_pg()
            self.closed.wait(timeout)
            return True  # a reconnect may have missed nudges: look again

    def _close_pg(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._pg = None

    def close(self) -> None:
        self.closed.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._close_pg()


def _listen(url: str) -> Any:
    """A psycopg connection of its own (autocommit: LISTEN takes effect at once) listening on CHANNEL."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    conn.execute(f"LISTEN {CHANNEL}")
    # objid is 32 bits: the backend pid is unique among live sessions, so two daemons never share a key.
    conn.execute(f"SELECT pg_advisory_lock({PRESENCE_CLASS}, pg_backend_pid())")
    return conn
