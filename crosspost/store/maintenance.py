"""An admin's upkeep of the store: ``crosspost backup PATH`` and ``crosspost prune --before AGE``.

Backup (SQLite): the database through SQLite's online backup API, a consistent copy taken while
the daemon and staff keep writing, then the media folder. In that order because media copies are
only ever added, named by content, and written before the post that uses them is committed: every
image the copied database refers to is already in the folder when it is copied. PostgreSQL has
``pg_dump`` for the database; the media folder is copied all the same.

Prune: the history rows of deliveries that are over (``sent`` or ``cancelled``). Never of a
``failed``, ``unknown`` or ``missed`` one: ``retry`` reads their history to know whether an
earlier try may have landed, and pruning it could make a resend publish twice.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from crosspost.errors import CrosspostError
from crosspost.statuses import CANCELLED, SENT
from crosspost.store.permissions import make_folder, share_file
from crosspost.store.reads import sqlite_path
from crosspost.store.sql import SqlStore

DATABASE_NAME = "crosspost.db"  # the database's name inside a backup folder
MEDIA_NAME = "media"
PRUNABLE = (SENT, CANCELLED)  # deliveries whose history no decision reads any more


_AGE_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_age(text: str) -> timedelta:
    """``--before`` AGE: a whole number of days, weeks, months (30 days) or years (365 days): 90d, 6m, 1y."""
    match = re.fullmatch(r"(\d+)([dwmy])", text.strip())
    if match is None or int(match.group(1)) == 0:
        raise CrosspostError(
            f"--before {text}: not an age; write a number of days, weeks, months or years: 90d, 6m, 1y"
        )
    return timedelta(days=int(match.group(1)) * _AGE_UNITS[match.group(2)])


@dataclass(frozen=True)
class Backup:
    folder: Path
    database: Path | None  # None: PostgreSQL (pg_dump's job)
    media_files: int


def backup(store: SqlStore, dest: Path) -> Backup:
    """Write the database (SQLite) and the media copies into the new folder ``dest``.

    Raises CrosspostError if ``dest`` exists and is not an empty folder (a backup never mixes into
    another one or overwrites it)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise CrosspostError(f"{dest}: already exists and is not an empty folder; name a new folder for the backup")
    make_folder(dest)
    database = None
    source = sqlite_path(store.url)
    if source is not None:
        database = dest / DATABASE_NAME
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(database)
            try:
                src.backup(dst)  # page by page, under SQLite's own locking: consistent while others write
            finally:
                dst.close()
        finally:
            src.close()
        share_file(database)
    return Backup(dest, database, _copy_media(store.media_dir, dest / MEDIA_NAME))


def _copy_media(source: Path, dest: Path) -> int:
    make_folder(dest)
    count = 0
    if source.is_dir():
        for path in sorted(source.iterdir()):
            if path.is_file() and not path.name.startswith(".incoming-"):  # a copy being written, not yet used
                shutil.copyfile(path, dest / path.name)
                share_file(dest / path.name)
                count += 1
    return count


def prune(store: SqlStore, before: datetime) -> int:
    """Delete the history rows older than ``before`` of deliveries that are sent or cancelled; the count."""
    from sqlalchemy import delete, select

    from crosspost.store.tables import attempts, deliveries

    finished = select(deliveries.c.id).where(deliveries.c.status.in_(PRUNABLE))
    with store.engine.begin() as conn:
        done = conn.execute(delete(attempts).where(attempts.c.at < before, attempts.c.delivery_id.in_(finished)))
    return int(done.rowcount or 0)
