"""The suite runs on several xdist workers (pyproject's addopts): each keeps to a PostgreSQL database of its own,
and the files that run PostgreSQL daemons stay on one worker (tests/conftest.py)."""

from __future__ import annotations

import os

import conftest
import pytest


def test_each_worker_uses_a_postgresql_database_of_its_own() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker and conftest.POSTGRES_URL):
        pytest.skip("only under xdist with CROSSPOST_TEST_POSTGRES set (the README's command under .ci/run)")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(conftest.POSTGRES_URL)
    assert url.database is not None and url.database.endswith(f"_{worker}")
    assert os.environ["CROSSPOST_TEST_POSTGRES"] == conftest.POSTGRES_URL  # what the modules reading it see
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (url.database,)


def test_the_postgresql_daemon_files_share_one_xdist_group(request: pytest.FixtureRequest) -> None:
    grouped = [item for item in request.session.items if item.path.name in conftest.SERIAL_GROUPS]
    if not grouped:
        pytest.skip("none of those files was collected in this run")
    for item in grouped:
        marks = [m.args[0] for m in item.iter_markers("xdist_group")]
        assert marks == [conftest.SERIAL_GROUPS[item.path.name]], item.nodeid
    if os.environ.get("PYTEST_XDIST_WORKER") and request.config.getoption("dist") == "loadgroup":
        # xdist names each test's group in its node id; the scheduler sends a group to one worker.
        assert all(item.nodeid.endswith("@postgres-daemons") for item in grouped)
