"""The daemon's hot statements, compiled once by SQLAlchemy and run on the DBAPI cursor.

A drain runs about ten statements per delivery (the checkpoint reads, the
settle, the next claim), several with SQLite's one write lock held. Through
``Connection.execute`` each costs 20 us uncontended (the statement's cache key
is walked on every call, then a ``CursorResult`` is built and its rows
processed); on the DBAPI cursor the same SQL costs 2 us. Under a drain, with
three workers taking turns at the GIL, that layer was a third of the daemon's
CPU. So the statements that run per delivery are :class:`Direct`:

- written as SQLAlchemy Core, like every other statement of the store, and
  compiled by SQLAlchemy for the connection's dialect (the SQL text, its
  parameter style and order): nothing here writes SQL by hand;
- run in the caller's transaction, on the cursor of the same connection: a
  SQLAlchemy ``Connection``'s, or a :class:`DirectTransaction` (the daemon's
  per-delivery writes: the same pool, writer lock and BEGIN IMMEDIATE, see
  :func:`crosspost.store.engine.direct_write`);
- with the types' own processors, taken from SQLAlchemy for that dialect, on
  the way in and out (an aware time becomes SQLite's fixed-width text and
  comes back aware; a SQLite integer comes back a bool);
- with DBAPI errors raised as SQLAlchemy's (``sqlalchemy.exc.OperationalError``
  and the rest), so callers that handle a busy or restarted database handle
  these the same way.

The one limit: a statement SQLAlchemy can finish only when it sees the
values (an ``IN`` list, "expanding" parameters) is refused when compiled;
write the alternatives out (``or_``) instead.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

Processor = Callable[[Any], Any]
T = TypeVar("T")
_NONE = object()  # a parameter the caller must give


class Rows:
    """What a :class:`Direct` statement gave: its rows and its rowcount. Rows are made (named tuples, values
    processed) when asked for; ``scalars()`` takes the first column alone (the claim's busy accounts)."""

    __slots__ = ("_compiled", "_fetched", "_description", "_rows", "rowcount")

    def __init__(self, compiled: _Compiled, fetched: list[Any], description: Any, rowcount: int) -> None:
        self._compiled = compiled
        self._fetched = fetched
        self._description = description
        self._rows: list[Any] | None = None
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        if self._rows is None:
            self._rows = self._compiled.rows(self._fetched, self._description)
        return self._rows

    def first(self) -> Any:
        rows = self.all()
        return rows[0] if rows else None

    def scalar(self) -> Any:
        rows = self.all()
        return rows[0][0] if rows else None

    def scalars(self) -> list[Any]:
        process = self._compiled.first_column(self._description)
        if process is None:
            return [raw[0] for raw in self._fetched]
        return [process(raw[0]) for raw in self._fetched]


class _Compiled:
    """One statement as one dialect runs it: SQL text, how to lay out and process the parameters, the rows."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError(f"a Direct statement must compile without its values (no IN lists): {compiled.string}")
        self.sql: str = compiled.string
        self.positional = bool(compiled.positional)
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.params)
        # Per parameter, in the order the DBAPI takes them: its name, the value the statement itself holds
        # (a literal's; _NONE when the caller must give it) and the type's processor for this dialect.
        self.layout: list[tuple[str, Any, Processor | None]] = []
        for name in names:
            bind = compiled.binds[name]
            value = _NONE if bind.required else compiled.params.get(name)
            self.layout.append((name, value, bind.type.dialect_impl(dialect).bind_processor(dialect)))
        columns = list(statement.exported_columns) if getattr(statement, "exported_columns", None) else []
        self.row: Any = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]
        self.columns = columns
        self.dialect = dialect
        # The types' result processors, made at the first run: some need the DBAPI's own type code of the
        # column (psycopg's float or numeric), which only the cursor's description gives.
        self.results: list[tuple[int, Processor]] | None = None

    def result_processors(self, description: Any) -> list[tuple[int, Processor]]:
        found: list[tuple[int, Processor]] = []
        if not self.columns:  # a text() statement's rows come as the DBAPI gives them
            return found
        for index, (column, described) in enumerate(zip(self.columns, description, strict=True)):
            process = column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
            if process is not None:
                found.append((index, process))
        return found

    def parameters(self, given: Mapping[str, Any]) -> Any:
        values = []
        for name, value, process in self.layout:
            if name in given:
                value = given[name]
            elif value is _NONE:
                raise KeyError(f"no value for {name} in {self.sql!r}")
            values.append(value if process is None else process(value))
        if self.positional:
            return tuple(values)
        return {name: value for (name, _, _), value in zip(self.layout, values, strict=True)}

    def first_column(self, description: Any) -> Processor | None:
        if self.results is None:
            self.results = self.result_processors(description)
        return next((process for index, process in self.results if index == 0), None)

    def rows(self, fetched: list[Any], description: Any) -> list[Any]:
        if self.row is None:
            return fetched
        results = self.results
        if results is None:
            results = self.results = self.result_processors(description)
        if not results:
            return [self.row._make(r) for r in fetched]
        out = []
        for raw in fetched:
            values = list(raw)
            for index, process in results:
                values[index] = process(values[index])
            out.append(self.row._make(values))
        return out


class Direct:
    """A Core statement the daemon runs per delivery: ``Direct(stmt)(conn, params)`` is ``conn.execute(stmt,
    params)`` without SQLAlchemy's per-call execution layer (see the module's note)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, _Compiled(self.statement, dialect))
        return found

    def __call__(self, tx: Tx, params: Mapping[str, Any] | None = None) -> Rows:
        """Run in ``tx``'s transaction: a SQLAlchemy connection's (it began it, as usual) or a
        :class:`DirectTransaction`."""
        return self.on_dbapi(dbapi_of(tx), tx.dialect, params)

    def on_dbapi(self, dbapi_connection: Any, dialect: Dialect, params: Mapping[str, Any] | None = None) -> Rows:
        """Run on a DBAPI connection (a pooled one from ``engine.raw_connection()``: a read needing no transaction)."""
        compiled = self.compiled(dialect)
        values = compiled.parameters(params or {})
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(compiled.sql, values)
            description = cursor.description
            fetched = cursor.fetchall() if description is not None else []
            return Rows(compiled, fetched, description, cursor.rowcount)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(compiled.sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect) from None
        finally:
            cursor.close()


def savepoint(tx: Tx, name: str, work: Callable[[], object]) -> bool:
    """Run ``work`` in a savepoint of ``tx``'s transaction: its failure undoes only what it did. False if it
    failed. The savepoint statements go straight to the cursor: SQLAlchemy's ``begin_nested`` costs 0.1 ms, a
    delivery's largest single overhead. On a SQLAlchemy connection ``work`` may run SQLAlchemy statements too:
    a failed statement leaves no mark on SQLAlchemy's transaction, and the database's is mended by the
    rollback to the savepoint (PostgreSQL refuses every statement after an error until then)."""
    return attempt_in_savepoint(tx, name, lambda _: work())[0]


def attempt_in_savepoint(tx: Tx, name: str, work: Callable[[Tx], T]) -> tuple[bool, T | Exception]:
    """:func:`savepoint`, for a ``work(tx)`` whose outcome is wanted: ``(True, what it returned)``, or
    ``(False, what it raised)`` once what it did is undone (the transaction goes on). A failure of the
    savepoint's own statements is raised: the transaction is then in doubt."""
    cursor = dbapi_of(tx).cursor()
    try:
        cursor.execute(f"SAVEPOINT {name}")
        try:
            result = work(tx)
        except Exception as exc:  # noqa: BLE001 - the caller is told, and what work did is undone
            cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            cursor.execute(f"RELEASE SAVEPOINT {name}")
            return False, exc
        cursor.execute(f"RELEASE SAVEPOINT {name}")
        return True, result
    except tx.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(name, None, exc, tx.dialect.loaded_dbapi.Error, dialect=tx.dialect) from None
    finally:
        cursor.close()


class DirectTransaction:
    """A write transaction on a pooled DBAPI connection, made by :func:`crosspost.store.engine.direct_write`:
    what the daemon's per-delivery writes run in. SQLAlchemy's ``Engine.begin`` (a ``Connection``, its
    transaction objects and events, the pool's checkout and reset) cost more than the writes themselves;
    here the pool still lends the connection, and everything in it is a :class:`Direct` statement."""

    __slots__ = ("dialect", "dbapi_connection")

    def __init__(self, dialect: Dialect, dbapi_connection: Any) -> None:
        self.dialect = dialect
        self.dbapi_connection = dbapi_connection


Tx = Connection | DirectTransaction  # where a Direct statement may run


def dbapi_of(tx: Tx) -> Any:
    if type(tx) is DirectTransaction:
        return tx.dbapi_connection
    dbapi_connection = tx.connection.dbapi_connection  # type: ignore[union-attr]
    assert dbapi_connection is not None
    return dbapi_connection
