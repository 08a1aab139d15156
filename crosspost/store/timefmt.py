"""How times are written to and read from the database, without importing SQLAlchemy.

SQLite has no time type: times are stored as fixed-width ISO 8601 text in UTC
(``2027-03-17T01:00:00.000000+00:00``). Fixed width and a single offset make
text order equal time order, so comparisons, ``coalesce`` and indexes work on
the raw column, and an admin reading the table with ``sqlite3`` sees a time
that says it is UTC. PostgreSQL stores ``timestamptz``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(value: datetime) -> datetime:
    """An aware time moved to UTC. Naive times are refused: their zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} given to the store; pass an aware time")
    return value.astimezone(UTC)


def to_db_text(value: datetime) -> str:
    """The SQLite text form of an aware time."""
    if value.tzinfo is not UTC:  # the daemon's clock is UTC already: no conversion on its hot path
        value = to_utc(value)
    return value.isoformat(timespec="microseconds")


def from_db(value: str | datetime | None) -> datetime | None:
    """An aware UTC time from either storage form (text on SQLite, a datetime elsewhere)."""
    if value is None:
        return None
    if type(value) is str:
        value = datetime.fromisoformat(value)
        if value.tzinfo is UTC:  # the stored form: nothing more to do (this runs for every row of a log)
            return value
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        # Only reachable for rows written by hand without an offset: they are UTC by convention.
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
