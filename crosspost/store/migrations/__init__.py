"""Alembic migrations shipped inside the package, run programmatically (no alembic.ini).

:func:`is_current_sqlite` answers "is this SQLite file already at head?" with the
standard library alone, so the common case (an existing, current database) never
imports Alembic or even SQLAlchemy: ``list`` and ``log`` stay fast.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The newest revision in versions/. A test checks it against Alembic's own view of the scripts.
HEAD = "0003"
SCRIPT_LOCATION = Path(__file__).resolve().parent


def is_current_sqlite(path: Path) -> bool:
    """True if the SQLite file at ``path`` exists and its ``alembic_version`` says :data:`HEAD`."""
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # no such table yet, or not a database: let Alembic say so
        return False
    return row is not None and row[0] == HEAD


def is_current(engine: Engine) -> bool:
    """The same question through an engine (any database)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def upgrade(engine: Engine) -> None:
    """Create or upgrade the database to head, in one transaction.

    On SQLite that transaction is ``BEGIN IMMEDIATE`` (see :mod:`crosspost.store.engine`):
    two processes opening a new database at once queue here, and the second finds head.
    """
    # Alembic is imported only here: it costs more than half a second at start-up.
    from alembic import command
    from alembic.config import Config

    from crosspost.store.engine import LOCK_MIGRATE, serialize

    with engine.begin() as conn:
        serialize(conn, LOCK_MIGRATE)  # PostgreSQL: the same queueing, through an advisory lock
        config = Config()
        config.set_main_option("script_location", str(SCRIPT_LOCATION))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
