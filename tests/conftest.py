"""Shared test setup: nothing may leave the machine, and the store fixtures every backend runs.

Every socket connection to an address other than loopback fails at once, so a
test that would reach a real platform fails loudly instead of leaking.

``database_url`` and ``store`` are parametrised over SQLite and PostgreSQL: a
test that takes either runs on both (the PostgreSQL case when
``CROSSPOST_TEST_POSTGRES`` names a server, as ``.ci/run`` always does).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crosspost.store.sql import SqlStore

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # AF_UNIX paths


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> None:
    if os.environ.get("CROSSPOST_LIVE_NETWORK") == "1":  # opt-in live checks (tests/test_live.py)
        return
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


# ---------------------------------------------------------------- the store, over every backend

POSTGRES_URL = os.environ.get("CROSSPOST_TEST_POSTGRES", "")  # .ci/run always sets it (.ci/with-postgres)


@contextmanager
def fresh_postgres_schema(url: str) -> Iterator[str]:
    """A new, empty schema in the database at ``url``, dropped afterwards; yields a URL whose search_path is it.

    A schema rather than a database: creating one costs a millisecond, and tests stay apart all the same,
    since the store names no schema and so creates and finds everything through the search_path.
    """
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '30s'")  # a connection the test left in a transaction: fail, not hang
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database's URL: a new SQLite file, then (when CROSSPOST_TEST_POSTGRES is set) a new PostgreSQL schema.

    The PostgreSQL case skips only when the variable is unset; a server that is named but cannot be
    reached is an error, so CI never passes by skipping.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL: set CROSSPOST_TEST_POSTGRES (or run under .ci/with-postgres)")
    with fresh_postgres_schema(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[SqlStore]:
    """A store on an empty database of each backend, its media under ``tmp_path``; closed afterwards."""
    s = SqlStore(database_url, tmp_path / "media")
    yield s
    s.close()
