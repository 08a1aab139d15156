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

# .ci/run always sets it (.ci/with-postgres). Under pytest-xdist each worker swaps it for a database of its own
# (pytest_configure, below) before any test module reads it.
POSTGRES_URL = os.environ.get("CROSSPOST_TEST_POSTGRES", "")
# The test files that run daemons or wake-up listeners on PostgreSQL, kept on one xdist worker, one test
# at a time: a daemon counts its peers by their presence locks in pg_locks, which lists every database of
# the cluster, so another worker's daemons (in its own database) would count too, shrink each daemon's
# share of the work and fail the tests that count. A new such file belongs here.
SERIAL_GROUPS = {
    "test_daemon_postgres.py": "postgres-daemons",
    "test_daemon_wake.py": "postgres-daemons",  # its listener test runs on both backends
    "test_reliability_soak_postgres.py": "postgres-daemons",
}


def _worker_database(url: str, worker: str) -> str:
    """``url`` with its database swapped for a new, empty ``<name>_<worker>`` (an old one of that name dropped)."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a crashed run's leftover
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_database(base_url: str, url: str) -> None:
    """Drop the database of ``url``, connected to the one of ``base_url``: one cannot drop the database one is in."""
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    global POSTGRES_URL
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...: set in xdist's worker processes only
    if worker and POSTGRES_URL:
        # A database per worker: the tests that use the whole database (its public schema, its LISTEN
        # channel, its advisory locks) stay within one worker. The environment too, for the modules that
        # read the variable themselves (tests/test_daemon_postgres.py, tests/test_notify_postgres.py).
        base, POSTGRES_URL = POSTGRES_URL, _worker_database(POSTGRES_URL, worker)
        os.environ["CROSSPOST_TEST_POSTGRES"] = POSTGRES_URL
        config.add_cleanup(lambda: _drop_database(base, POSTGRES_URL))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks to name each test's group
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = SERIAL_GROUPS.get(item.path.name)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


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
