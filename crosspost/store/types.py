"""Column types shared by the tables and the migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from crosspost.store.timefmt import from_db, to_db_text, to_utc


class UTCDateTime(TypeDecorator[datetime]):
    """An aware time, stored as UTC; read back aware in UTC.

    SQLite: fixed-width ISO text (see :mod:`crosspost.store.timefmt`); others: ``timestamptz``.
    Naive times raise, so a local time can never be stored as if it were UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return to_db_text(value)
        return to_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return from_db(value)
