"""Alembic migrations shipped inside the package, run programmatically (no alembic.ini).

:func:`is_current_sqlite` answers "is this SQLite file already at head?" with the
standard library alone, so the common case (an existing, current database) never
imports Alembic or even SQLAlchemy: ``list`` and ``log`` stay fast.

The opening policy (:func:`prepare`): the schema changes only when an admin means it. ``UPGRADE``
(``crosspost upgrade``, the daemon's start) creates or migrates; ``CREATE`` (``queue``) may create a
database that does not exist yet but never migrates one; ``EXISTING`` (every other command) neither
creates nor migrates, so a staffer's ``list`` never leaves an empty database behind nor changes the
schema under a running daemon of another version. A database newer than this crosspost is refused
by every policy in one line (Alembic would say "Can't locate revision").
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from crosspost.errors import CrosspostError

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The newest revision in versions/. A test checks it against Alembic's own view of the scripts.
HEAD = "0006"
SCRIPT_LOCATION = Path(__file__).resolve().parent
# Every revision this crosspost ships (file names start with the revision id), without importing Alembic.
KNOWN = frozenset(
    m.group(1) for f in (SCRIPT_LOCATION / "versions").glob("*.py") if (m := re.match(r"(\d{4})_", f.name))
)

UPGRADE, CREATE, EXISTING = "upgrade", "create", "existing"
ABSENT = None  # no database at all
EMPTY = ""  # a database without crosspost's tables


class SchemaError(CrosspostError):
    """The database is missing, older or newer than this crosspost: the message says what to run."""


def sqlite_version(path: Path) -> str | None:
    """The SQLite file's revision: ABSENT (no file), EMPTY (no crosspost tables) or its ``version_num``."""
    if not path.is_file():
        return ABSENT
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # no such table yet, or not a database: let Alembic say so
        return EMPTY
    return str(row[0]) if row is not None else EMPTY


def engine_version(engine: Engine) -> str:
    """The database's revision through an engine (any database): EMPTY or its ``version_num``."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return EMPTY
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or EMPTY)


def prepare(version: str | None, policy: str, shown: str, upgrade_now: Callable[[], None]) -> None:
    """Bring a database found at ``version`` to :data:`HEAD` as ``policy`` allows, else raise SchemaError.

    ``upgrade_now`` runs the migrations (it is called only when they must run)."""
    from crosspost import __version__

    if version == HEAD:
        return
    if version not in (ABSENT, EMPTY) and version not in KNOWN:
        raise SchemaError(
            f"database {shown} is at schema {version}, newer than crosspost {__version__} knows (up to {HEAD}); "
            "install the crosspost that upgraded it (pip install -U crosspost where it runs)"
        )
    if version is ABSENT and policy == EXISTING:
        raise SchemaError(
            f"database {shown} does not exist yet (nothing has been queued); "
            "create it with crosspost upgrade, or queue a post"
        )
    if version == EMPTY and policy == EXISTING:
        raise SchemaError(f"database {shown} holds no crosspost tables yet; create them with crosspost upgrade")
    if version not in (ABSENT, EMPTY) and policy != UPGRADE:
        raise SchemaError(
            f"database {shown} is at schema {version}, this crosspost needs {HEAD}; "
            "an admin runs crosspost upgrade once (the daemon's start does it too)"
        )
    upgrade_now()


def is_current_sqlite(path: Path) -> bool:
    """True if the SQLite file at ``path`` exists and its ``alembic_version`` says :data:`HEAD`."""
    return sqlite_version(path) == HEAD


def is_current(engine: Engine) -> bool:
    """The same question through an engine (any database)."""
    return engine_version(engine) == HEAD


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
