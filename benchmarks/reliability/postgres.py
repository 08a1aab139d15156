"""A PostgreSQL schema of its own for one reliability world, and what crosspost wrote in it.

A schema rather than a database: any role that may create tables may create one, it costs a
millisecond, and two runs on one server (the suite, a benchmark) stay apart, since the store names no
schema and finds everything through the ``search_path`` the URL sets. Dropped when the world closes.
"""

from __future__ import annotations

import uuid
from typing import Any


def _libpq(url: str) -> str:
    """``url`` (an SQLAlchemy URL) as psycopg takes it."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(_libpq(url), autocommit=True, connect_timeout=10)


def new_schema(url: str, prefix: str) -> tuple[str, str]:
    """Create an empty schema on the server at ``url``; returns (its name, a URL whose search_path is it)."""
    from sqlalchemy.engine import make_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}".replace("-", "_")
    with _connect(url) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, scoped.render_as_string(hide_password=False)


def drop_schema(url: str, schema: str) -> None:
    with _connect(url) as conn:
        conn.execute("SET lock_timeout = '30s'")  # a daemon still in a transaction: fail, not hang
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def dump(url: str) -> bytes:
    """Every row of every table in the schema ``url`` points at, as text: for the secrets scan, which
    on SQLite reads the database file instead."""
    out: list[str] = []
    with _connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            out += [row[0] for row in conn.execute(f'SELECT t::text FROM "{table}" t')]
    return "\n".join(out).encode("utf-8", "replace")
