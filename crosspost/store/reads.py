"""Every read the store does, as plain SQL with ``:name`` parameters.

Both the standard library's ``sqlite3`` and SQLAlchemy's ``text()`` accept that
style, so one set of queries serves two ways in: :func:`sqlite_reader` (no
SQLAlchemy import at all, which keeps ``list`` and ``log`` well under half a
second) and :func:`sqlalchemy_reader` (PostgreSQL, and inside write transactions).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosspost.errors import CrosspostError, NotFound
from crosspost.model import Draft, Progress
from crosspost.store import listing
from crosspost.store.records import (
    CANCELLED,
    DELIVERY_STATUSES,
    FAILED,
    MISSED,
    PENDING,
    RETRYING,
    SENDING,
    UNKNOWN,
    Attempt,
    DeliveryRecord,
    PostRecord,
    PostSummary,
    post_status,
)
from crosspost.store.timefmt import from_db, to_db_text, to_utc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Run = Callable[[str, Mapping[str, Any]], Sequence[Sequence[Any]]]
CONTENT_KEY = "content_sha256"  # the snapshot's key for the hash of the post file and its images (queue --again)
RETRYABLE = (FAILED, UNKNOWN, MISSED)

# The delivery's latest notice (issue 13) as "state:why", e.g. "sent:" or "skipped:sent is not in [notify] on".
_NOTICE = (
    "(SELECT n.state || ':' || coalesce(n.error, '') FROM notices n WHERE n.delivery_id = d.id"
    " ORDER BY n.id DESC LIMIT 1)"
)
_COLUMNS = (  # a DeliveryRecord's, in delivery_from_row's order (also beside crosspost.store.listing's)
    "d.id, d.post_id, p.title, d.account, d.platform, d.status, d.attempts, d.remote_id, d.url, d.error,"
    f" d.due_at, d.sent_at, d.next_try_at, {_NOTICE}"
)
_DELIVERY = f"SELECT {_COLUMNS} FROM deliveries d JOIN posts p ON p.id = d.post_id"
_LOG_AT = "coalesce(d.sent_at, d.due_at)"


def _aware(value: Any) -> datetime:
    result = from_db(value)
    assert result is not None  # NOT NULL columns
    return result


def delivery_from_row(row: Sequence[Any], history: tuple[Attempt, ...] = ()) -> DeliveryRecord:
    """A :class:`DeliveryRecord` from a row of ``_DELIVERY``'s columns."""
    return DeliveryRecord(
        id=row[0],
        post_id=row[1],
        post_title=row[2],
        account=row[3],
        platform=row[4],
        status=row[5],
        attempts=row[6],
        remote_id=row[7],
        url=row[8],
        error=row[9],
        due_at=_aware(row[10]),
        sent_at=from_db(row[11]),
        next_try_at=from_db(row[12]),
        history=history,
        notice=row[13],
    )


_STATES = "d.account, d.status"  # what list's table shows of each delivery


def _post_record(head: Sequence[Any], rows: list[Sequence[Any]]) -> PostRecord:
    deliveries = tuple(delivery_from_row(r) for r in rows)
    return PostRecord(head[0], head[1], head[2], _aware(head[3]), _aware(head[4]), head[5], deliveries)


def _post_summary(head: Sequence[Any], rows: list[Sequence[Any]]) -> PostSummary:
    return PostSummary(head[0], head[1], _aware(head[4]), head[5], tuple((r[0], r[1]) for r in rows))


def _total(listed: list[tuple[Sequence[Any], list[Sequence[Any]]]]) -> int:
    return int(listed[0][0][listing.HEAD_WIDTH - 1]) if listed else 0  # HEAD's last column, on every row


def _placeholders(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    names = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{n}" for n in names), names


class Reader:
    """The read queries over one connection. ``bind`` turns an aware time into the database's form."""

    def __init__(
        self, run: Run, bind: Callable[[datetime], Any], stream: Callable[..., Iterable[Sequence[Any]]] | None = None
    ) -> None:
        self._run = run
        self._bind = bind
        self._stream = stream or run  # rows as the cursor yields them, else all at once

    # ---------------------------------------------------------------- deliveries
    def log(
        self,
        *,
        status: str | Sequence[str] | None = None,
        account: str | None = None,
        post_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRecord]:
        filters = dict(status=status, account=account, post_id=post_id, since=since, until=until)
        return list(self.iter_log(limit=limit, **filters))

    def iter_log(self, *, limit: int | None = None, **filters: Any) -> Iterator[DeliveryRecord]:
        """:meth:`log`'s rows (same keywords) one by one, as the cursor yields them: a piped
        ``crosspost log`` starts printing before the last row is read."""
        where, params = self._log_filter(**filters)
        sql = _DELIVERY + where + f" ORDER BY {_LOG_AT} DESC, d.id DESC"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = int(limit)
        for row in self._stream(sql, params):
            yield delivery_from_row(row)

    def log_count(self, **filters: Any) -> int:
        """How many rows :meth:`log` would give with these filters and no limit (for "N more")."""
        where, params = self._log_filter(**filters)
        return int(self._run("SELECT count(*) FROM deliveries d" + where, params)[0][0])

    def _log_filter(
        self,
        *,
        status: str | Sequence[str] | None = None,
        account: str | None = None,
        post_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        wanted = listing.statuses(status)
        if wanted:
            for one in wanted:
                if one not in DELIVERY_STATUSES:
                    raise CrosspostError(f"unknown status {one!r}; use one of: {', '.join(DELIVERY_STATUSES)}")
            marks, named = _placeholders("status", wanted)
            where.append(f"d.status IN ({marks})")
            params.update(named)
        if account is not None:
            where.append("d.account = :account")
            params["account"] = account
        if post_id is not None:
            where.append("d.post_id = :post_id")
            params["post_id"] = post_id
        if since is not None:
            where.append(f"{_LOG_AT} >= :since")
            params["since"] = self._bind(since)
        if until is not None:
            where.append(f"{_LOG_AT} <= :until")
            params["until"] = self._bind(until)
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def deliveries_by_id(self, ids: Sequence[int]) -> list[DeliveryRecord]:
        if not ids:
            return []
        marks, params = _placeholders("id", ids)
        rows = self._run(f"{_DELIVERY} WHERE d.id IN ({marks}) ORDER BY d.id", params)
        return [delivery_from_row(r) for r in rows]

    def delivery(self, delivery_id: int) -> DeliveryRecord:
        found = self.deliveries_by_id([delivery_id])
        if not found:
            raise NotFound(f"no delivery {delivery_id}")
        return found[0]

    def retryable(self, post_id: int, account: str | None = None) -> list[DeliveryRecord]:
        self.require_post(post_id)
        marks, params = _placeholders("s", RETRYABLE)
        sql = f"{_DELIVERY} WHERE d.post_id = :post_id AND d.status IN ({marks})"
        params["post_id"] = post_id
        if account is not None:
            sql += " AND d.account = :account"
            params["account"] = account
        return [delivery_from_row(r) for r in self._run(sql + " ORDER BY d.id", params)]

    def draft_of(self, delivery_id: int) -> tuple[Draft, Progress]:
        rows = self._run("SELECT draft, progress FROM deliveries WHERE id = :id", {"id": delivery_id})
        if not rows:
            raise NotFound(f"no delivery {delivery_id}")
        return Draft.from_json(rows[0][0]), Progress.from_json(rows[0][1])

    # ---------------------------------------------------------------- posts
    def require_post(self, post_id: int) -> None:
        if not self._run("SELECT 1 FROM posts WHERE id = :id", {"id": post_id}):
            raise NotFound(f"no post with id {post_id}; see crosspost list")

    def list_posts(self, **filters: Any) -> list[PostRecord]:
        return list(self.iter_posts(**filters))

    def iter_posts(self, **filters: Any) -> Iterator[PostRecord]:
        """``list``'s posts with their deliveries (no history, no drafts), filtered and ordered by the
        database, one by one as the cursor yields them. Keywords: :func:`listing.listed`'s."""
        for head, rows in self._listed(_COLUMNS, filters):
            yield _post_record(head, rows)

    def posts_page(self, **filters: Any) -> tuple[list[PostRecord], int]:
        """:meth:`iter_posts`'s first ``limit`` posts, and how many there are without the limit: one query."""
        listed = list(self._listed(_COLUMNS, filters))
        return [_post_record(head, rows) for head, rows in listed], _total(listed)

    def post_summaries(self, **filters: Any) -> list[PostSummary]:
        return list(self.iter_post_summaries(**filters))

    def iter_post_summaries(self, **filters: Any) -> Iterator[PostSummary]:
        """What :meth:`iter_posts` gives, reduced to what ``list`` prints: two delivery columns, not
        fourteen (a piped ``list`` of 10,000 posts formats them as they come)."""
        for head, rows in self._listed(_STATES, filters):
            yield _post_summary(head, rows)

    def post_summaries_page(self, **filters: Any) -> tuple[list[PostSummary], int]:
        """:meth:`posts_page` for :meth:`iter_post_summaries` (a terminal's ``list``)."""
        listed = list(self._listed(_STATES, filters))
        return [_post_summary(head, rows) for head, rows in listed], _total(listed)

    def _listed(self, columns: str, filters: dict[str, Any]) -> Iterator[tuple[Sequence[Any], list[Sequence[Any]]]]:
        """Each listed post's columns (listing.HEAD) and its deliveries' ``columns``, one post at a time."""
        sql, params = listing.listed(columns, **filters)
        width = listing.HEAD_WIDTH
        for _, rows in groupby(self._stream(sql, params), key=itemgetter(0)):
            group = list(rows)
            yield group[0], [r[width:] for r in group if r[width] is not None]  # no deliveries: one row of NULLs

    def count_posts(self, *, status: str | Sequence[str] | None = None, attention: bool = False) -> int:
        """How many posts :meth:`iter_posts` gives with these filters and no limit (for "N more")."""
        sql, params = listing.counted(status=status, attention=attention)
        return int(self._run(sql, params)[0][0])

    def post_count(self) -> int:
        return self.count_posts()

    def same_content(self, content_hash: str) -> list[tuple[int, str, tuple[str, ...]]]:
        """(id, status, its deliveries' statuses) of each post queued from the same file content, oldest
        first, leaving out posts whose every delivery is cancelled.

        The hash lives in the post's snapshot JSON (no column of its own); a 64-digit hex
        string cannot occur there by chance, so a substring match is exact.
        """
        rows = self._run(
            "SELECT p.id, d.status FROM posts p JOIN deliveries d ON d.post_id = p.id"
            " WHERE p.snapshot LIKE :pattern ORDER BY p.id, d.id",
            {"pattern": f'%"{CONTENT_KEY}": "{content_hash}"%'},
        )
        grouped: dict[int, list[str]] = {}
        for post_id, delivery_status in rows:
            grouped.setdefault(post_id, []).append(delivery_status)
        return [(pid, post_status(ss), tuple(ss)) for pid, ss in grouped.items() if set(ss) != {CANCELLED}]

    def get_post(self, post_id: int) -> PostRecord:
        rows = self._run("SELECT id, title, source, created_at, snapshot FROM posts WHERE id = :id", {"id": post_id})
        if not rows:
            raise NotFound(f"no post with id {post_id}; see crosspost list")
        head = rows[0]
        history: dict[int, list[Attempt]] = {}
        for a in self._run(
            "SELECT a.delivery_id, a.at, a.seconds, a.outcome, a.code, a.message, a.is_try FROM attempts a"
            " JOIN deliveries d ON d.id = a.delivery_id WHERE d.post_id = :id ORDER BY a.delivery_id, a.id",
            {"id": post_id},
        ):
            history.setdefault(a[0], []).append(Attempt(_aware(a[1]), a[2], a[3], a[4], a[5], bool(a[6])))
        deliveries = tuple(
            delivery_from_row(r, tuple(history.get(r[0], ())))
            for r in self._run(f"{_DELIVERY} WHERE d.post_id = :id ORDER BY d.id", {"id": post_id})
        )
        snapshot = json.loads(head[4])
        drafts = tuple(Draft.from_json(json.dumps(d)) for d in snapshot.get("drafts", {}).values())
        return self._post(head, deliveries, drafts)

    @staticmethod
    def _post(
        head: Sequence[Any], deliveries: tuple[DeliveryRecord, ...], drafts: tuple[Draft, ...] = ()
    ) -> PostRecord:
        created = _aware(head[3])
        return PostRecord(
            id=head[0],
            title=head[1],
            source=head[2],
            created_at=created,
            due_at=min((d.due_at for d in deliveries), default=created),
            status=post_status([d.status for d in deliveries]),
            deliveries=deliveries,
            drafts=drafts,
        )

    # ---------------------------------------------------------------- daemon
    def next_wakeup(self) -> datetime | None:
        """The earliest moment the daemon has work: each part is one index-driven MIN."""
        row = self._run(
            # The statuses written in, as the partial indexes' own conditions (see tables.in_status).
            f"SELECT (SELECT min(due_at) FROM deliveries WHERE status = '{PENDING}'),"
            f" (SELECT min(next_try_at) FROM deliveries WHERE status = '{RETRYING}'),"
            f" (SELECT min(lease_until) FROM deliveries WHERE status = '{SENDING}')",
            {},
        )[0]
        times = [t for t in (from_db(v) for v in row) if t is not None]
        return min(times, default=None)

    def daemon_status(self) -> tuple[str, datetime, str] | None:
        rows = self._run("SELECT owner, heartbeat_at, started_at FROM daemon WHERE id = 1", {})
        if not rows or rows[0][0] is None:
            return None
        owner, heartbeat, started = rows[0]
        started_at = from_db(started)
        return owner, _aware(heartbeat), started_at.isoformat() if started_at else ""

    def daemon_last_seen(self) -> datetime | None:
        rows = self._run("SELECT heartbeat_at FROM daemon WHERE id = 1", {})
        return from_db(rows[0][0]) if rows else None


def sqlite_path(url: str) -> Path | None:
    """The file behind a plain ``sqlite:///PATH`` URL, or None (memory, URL options, other databases)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    rest = url[len(prefix) :]
    if rest in ("", ":memory:"):
        return None
    return Path(rest)


@contextmanager
def sqlite_reader(path: Path) -> Iterator[Reader]:
    """A :class:`Reader` on a fresh stdlib connection, inside one read transaction (a consistent snapshot)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("BEGIN")
        try:
            yield Reader(
                lambda sql, params: conn.execute(sql, params).fetchall(),
                to_db_text,
                lambda sql, params: conn.execute(sql, params),
            )
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()


def sqlalchemy_reader(conn: Connection) -> Reader:
    """A :class:`Reader` over an open SQLAlchemy connection (its transaction is the caller's)."""
    from sqlalchemy import text

    bind: Callable[[datetime], Any] = to_db_text if conn.dialect.name == "sqlite" else to_utc

    def stream(sql: str, params: Mapping[str, Any]) -> Iterator[Sequence[Any]]:
        # A server-side cursor on PostgreSQL, read a few hundred rows at a time: a piped list or log
        # starts printing before the last row has left the server.
        yield from conn.execution_options(yield_per=500).execute(text(sql), params)

    return Reader(lambda sql, params: conn.execute(text(sql), params).all(), bind, stream)
