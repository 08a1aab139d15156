"""SqlStore: the queue and the delivery log on SQLAlchemy Core (SQLite by default, PostgreSQL too).

This is the store's whole interface; the CLI and the daemon call nothing else.
Times passed in and returned are timezone-aware (UTC inside the database).

Start-up cost is kept off the read path: an existing SQLite database already at
the newest migration is read with the standard library's ``sqlite3`` (see
:mod:`crosspost.store.reads`), and SQLAlchemy is imported on the first write only.
Alembic is imported only when the schema must be created or upgraded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosspost.errors import CrosspostError
from crosspost.model import Draft, Progress
from crosspost.statuses import DAEMON, FAILED, MISSED, PENDING, PERSON, RETRYING, SENT, UNKNOWN
from crosspost.store import migrations
from crosspost.store.reads import Reader, sqlite_path, sqlite_reader
from crosspost.store.records import Claim, DeliveryRecord, Fence, PostRecord, PostSummary

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crosspost.store.direct import Tx
    from crosspost.store.writes import PublicParts, Writer


class SqlStore:
    def __init__(self, url: str, media_dir: Path, *, schema: str = migrations.UPGRADE) -> None:
        """Open the database at ``url``; ``schema`` says whether it may be created or upgraded through the
        Alembic migrations (see :func:`crosspost.store.migrations.prepare`; the default does both).

        SQLite: WAL, busy timeout (30 s), foreign keys on; writers use BEGIN IMMEDIATE so
        concurrent CLI commands and the daemon never fail with "database is locked".
        """
        self.url = url
        self.media_dir = Path(media_dir).absolute()
        self._path = sqlite_path(url)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._writer: Writer | None = None
        try:
            if self._path is not None:
                version = migrations.sqlite_version(self._path)
                if version != migrations.HEAD:
                    migrations.prepare(version, schema, _shown(url), self._create_sqlite)
            else:
                migrations.prepare(migrations.engine_version(self.engine), schema, _shown(url), self._upgrade)
        except CrosspostError:
            raise
        except ImportError as exc:
            raise CrosspostError(
                f"database {_shown(url)}: its driver is not installed ({exc.name or exc}); install it, such as "
                "pip install 'psycopg[binary]' for postgresql+psycopg://"
            ) from None
        except Exception as exc:
            from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

            if isinstance(exc, NoSuchModuleError | ArgumentError):
                raise CrosspostError(
                    f"database {_shown(url)}: not a URL crosspost can use ({exc}); write a file path, "
                    "sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME"
                ) from None
            if isinstance(exc, OperationalError):
                reason = " ".join(str(exc.orig).split())[:200]
                raise CrosspostError(
                    f"database {_shown(url)}: cannot open it ({reason}); check the database setting"
                ) from None
            raise

    def _upgrade(self) -> None:
        migrations.upgrade(self.engine)

    def _create_sqlite(self) -> None:
        assert self._path is not None
        from crosspost.store.permissions import make_folder, share_file

        make_folder(self._path.absolute().parent)
        self._upgrade()
        share_file(self._path)  # SQLite made it 0644 less the umask: the staff group must write it too

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None for another database (PostgreSQL)."""
        return self._path

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, made (and SQLAlchemy imported) on first use."""
        with self._lock:
            if self._engine is None:
                from crosspost.store.engine import make_engine

                self._engine = make_engine(self.url)
            return self._engine

    @property
    def _writes(self) -> Writer:
        if self._writer is None:
            from crosspost.store.writes import Writer

            self._writer = Writer(self.engine, self.media_dir)
        return self._writer

    @contextmanager
    def _read(self) -> Iterator[Reader]:
        if self._path is not None:
            with sqlite_reader(self._path) as reader:
                yield reader
            return
        from crosspost.store.engine import READ_OPTION
        from crosspost.store.reads import sqlalchemy_reader

        with self.engine.connect().execution_options(**{READ_OPTION: True}) as conn:
            yield sqlalchemy_reader(conn)
            conn.rollback()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                from crosspost.store.engine import close_own_connections

                close_own_connections(self._engine)
                self._engine.dispose()
                self._engine = None
                self._writer = None

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ queue (CLI)
    def queue_post(
        self,
        *,
        title: str,
        source: str,
        drafts: Sequence[Draft],
        due_at: datetime,
        now: datetime,
        content_hash: str | None = None,
        again: bool = False,
    ) -> int:
        """One transaction: copy each draft's images into ``media_dir`` by content hash, store the
        post snapshot and one ``pending`` delivery per draft (``draft.key`` set to a stable unique
        key per delivery, ``cp-<post_id>-<random>-<account>``, at most 64 ASCII characters, and image
        paths pointing at the copies). Returns the new post id. On any failure nothing is stored
        and the copies this call made are removed.

        ``content_hash`` (of the post file and its images) is kept in the snapshot; unless ``again``,
        a post already stored with that hash and not wholly cancelled raises AlreadyQueued."""
        post_id = self._writes.queue_post(
            title=title, source=source, drafts=drafts, due_at=due_at, now=now, content_hash=content_hash, again=again
        )
        self.nudge()  # a running daemon times its next wake-up by it, now rather than at its next look
        return post_id

    def list_posts(self, *, status: str | Sequence[str] | None = None) -> list[PostRecord]:
        """Every post with its deliveries (no history, no drafts): waiting ones soonest due first, then
        the rest newest first.

        ``status`` is a post status, or several (any of them); a delivery-only status (pending,
        retrying, unknown, missed) selects the posts having such a delivery. Another value raises
        CrosspostError."""
        with self._read() as r:
            return r.list_posts(status=status)

    def post_summaries(
        self, *, status: str | Sequence[str] | None = None, limit: int | None = None
    ) -> list[PostSummary]:
        """:meth:`list_posts` reduced to what ``crosspost list`` prints (id, title, due, status, each
        delivery's account and status): several times faster on a big database. ``limit``: the first
        posts only (chosen by the database when there is no ``status``)."""
        with self._read() as r:
            return r.post_summaries(status=status, limit=limit)

    def post_count(self) -> int:
        with self._read() as r:
            return r.post_count()

    def get_post(self, post_id: int) -> PostRecord:
        """One post with drafts and every delivery's history. Raises NotFound."""
        with self._read() as r:
            return r.get_post(post_id)

    def cancel(self, post_id: int, *, now: datetime, public: PublicParts | None = None) -> list[DeliveryRecord]:
        """Cancel the post's deliveries that are pending or retrying (not sending, not terminal).
        Returns the ones cancelled. Raises NotFound. ``public`` (see writes.PublicParts) names the
        public parts of a thread stopped half-way: they stay on the cancelled row (id, url, error)."""
        return self._writes.cancel(post_id, now=now, public=public)

    def reschedule(self, post_id: int, due_at: datetime, *, now: datetime) -> list[DeliveryRecord]:
        """Move pending and retrying deliveries to ``due_at`` (they become pending, next_try cleared).
        Raises NotFound."""
        moved = self._writes.reschedule(post_id, due_at, now=now)
        self.nudge()
        return moved

    def reschedule_by(self, post_id: int, by: timedelta, *, now: datetime) -> list[DeliveryRecord]:
        """Shift each pending and retrying delivery by ``by`` from its own due time (a retrying one's next
        try); they become pending. Refuses (CrosspostError, nothing changed) if any would fall more than a
        minute before ``now``. Raises NotFound."""
        from crosspost.store.moves import shift

        moved = shift(self.engine, post_id, by, now=now)
        self.nudge()
        return moved

    def retryable(self, post_id: int, account: str | None = None) -> list[DeliveryRecord]:
        """The post's failed, unknown or missed deliveries (of ``account`` if given). Raises NotFound."""
        with self._read() as r:
            return r.retryable(post_id, account)

    def requeue(self, delivery_id: int, *, now: datetime, note: str) -> DeliveryRecord:
        """Put a failed/unknown/missed delivery back: pending, due now, attempts 0 (a fresh budget),
        error cleared; keeps its progress and history (adds a history row ``outcome="requeued"``).
        Raises NotFound, or CrosspostError if the delivery is in another status."""
        record = self._writes.requeue(delivery_id, now=now, note=note)
        self.nudge()
        return record

    def settle(
        self,
        delivery_id: int,
        to: str,
        *,
        by: str,
        now: datetime,
        fence: Fence | None = None,
        history: dict[str, Any] | None = None,
        notify_on: Collection[str] | None = None,
        then: Callable[[Tx], object] | None = None,
        **values: Any,
    ) -> bool:
        """The one guarded status write. Moves the delivery to ``to`` only from a status the transition
        table (crosspost.statuses.TRANSITIONS) lets ``by`` leave, and, with ``fence``, only while that
        claim (owner and token) still holds; leaving ``sending`` clears the lease; ``values`` are other
        columns (remote_id, url, error, next_try_at, sent_at...). ``history`` (record_attempt's keywords:
        at, seconds, outcome, code, error, is_try) is appended in the same transaction if the change
        landed. ``notify_on`` (the config's ``[notify] on``, when the caller knows it): no outbox row for a
        status not in it. ``then(conn)``: more work in the same transaction, after a change that landed, in
        a savepoint (see Writer.settle). Returns False when the guard refused: the caller must log that and
        act on it. Raises NotFound for an unknown id."""
        return self._writes.settle(
            delivery_id, to, by=by, now=now, fence=fence, history=history, notify_on=notify_on, then=then, **values
        )

    def delivery(self, delivery_id: int) -> DeliveryRecord:
        """One delivery as it is now (no history). Raises NotFound."""
        with self._read() as r:
            return r.delivery(delivery_id)

    def draft_of(self, delivery_id: int) -> tuple[Draft, Progress]:
        """The stored draft (with its key) and progress of one delivery, for a look-up. Raises NotFound."""
        with self._read() as r:
            return r.draft_of(delivery_id)

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
        """Delivery rows ordered by coalesce(sent_at, due_at) newest first; ``since`` and ``until`` filter
        on that same time (both ends included); ``status`` is one status or several (any of them)."""
        with self._read() as r:
            return r.log(status=status, account=account, post_id=post_id, since=since, until=until, limit=limit)

    def iter_log(self, **filters: Any) -> Iterator[DeliveryRecord]:
        """:meth:`log`'s rows (its keywords but ``limit``), streamed from one read snapshot; close the
        generator (or read it to the end) to end that snapshot."""
        with self._read() as r:
            yield from r.iter_log(**filters)

    def log_count(self, **filters: Any) -> int:
        """How many rows :meth:`log` gives with these filters (its keywords but ``limit``) and no limit."""
        with self._read() as r:
            return r.log_count(**filters)

    # ------------------------------------------------------------ daemon
    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease_seconds: float,
        limit: int = 100,
        exclude_accounts: Sequence[str] = (),
        takeover_after: float = 0.0,
        accounts: Sequence[str] | None = None,
        ahead: float = 0.0,
        daemons: int = 1,
    ) -> list[Claim]:
        """Atomically move due deliveries (pending with due_at <= now, retrying with next_try_at <= now)
        to ``sending`` with a lease, at most one per account and none for ``exclude_accounts``
        (accounts with a request already in flight) nor for accounts with a live lease in the database.
        Also returns deliveries still ``sending`` whose lease expired (a dead daemon's), with
        ``status_before="sending"``, to be reconciled; those come first, and count as their account's one.

        ``last_try_at``/``last_outcome`` come from the latest history row; for a reclaimed ``sending``
        delivery ``last_try_at`` is when the lost try was claimed (where a look-up window should start),
        and ``extra`` holds ``claimed_at``, the dead ``lease_owner`` and its ``lease_until``.

        A ``sending`` row is taken over only ``takeover_after`` seconds after its lease lapsed (the daemon
        passes request_timeout plus a margin: the old owner's last request can no longer land); until then
        its account counts as busy. Every claim carries a new token (``Claim.token``, ``Claim.fence``).

        ``accounts`` (the daemon passes its idle accounts) bounds the work: each is asked for its one next
        delivery through an index, with LIMIT 1; without it every account with due work is found first
        (a walk of the backlog). ``ahead`` claims deliveries due up to that many seconds after ``now``;
        such a claim has ``extra["not_before"]``, its due time: nothing may be sent before it.

        ``daemons`` (the live daemons sharing this database) caps the claim at this daemon's share of the
        accounts that have work, less the ``exclude_accounts`` it holds: the work spreads over them."""
        from crosspost.store.claims import claim_due

        with self.engine.begin() as conn:
            return claim_due(
                conn,
                now=now,
                owner=owner,
                lease_seconds=lease_seconds,
                limit=limit,
                exclude_accounts=exclude_accounts,
                takeover_after=takeover_after,
                accounts=accounts,
                ahead=ahead,
                daemons=daemons,
            )

    def next_due_after(self, after: datetime) -> datetime | None:
        """The earliest due time or next try strictly after ``after`` (None: nothing waits): the daemon's timer."""
        from crosspost.store.claims import next_due_after
        from crosspost.store.engine import READ_OPTION

        with self.engine.connect().execution_options(**{READ_OPTION: True}) as conn:
            return next_due_after(conn, after)

    def nudge(self) -> None:
        """Wake the daemons on this database: new or moved work (see crosspost.store.wake). Never raises."""
        from crosspost.store.wake import nudge

        nudge(self._path, lambda: self.engine)

    def extend_lease(self, delivery_id: int, *, owner: str, until: datetime, token: int | None = None) -> bool:
        """Push the lease of a delivery this owner holds (with ``token``: this very claim). False, and nothing
        changed, if it is no longer ``sending`` under that owner and token."""
        return self._writes.extend_lease(delivery_id, owner=owner, until=until, token=token)

    def extend_leases(self, fences: Sequence[Fence], *, until: datetime) -> list[bool]:
        """Push the lease of each claim ``fences`` name (that very owner and token) to ``until``, in one write
        transaction: the heartbeat's, whatever the number of claims held. Per fence, whether it still held."""
        return self._writes.extend_leases(fences, until=until)

    def holds(self, fence: Fence, *, now: datetime) -> bool:
        """Whether the claim ``fence`` names is still held (sending, same owner and token) with its lease
        running past ``now``. One primary-key read: cheap enough before every publishing request."""
        return self._writes.holds(fence, now=now)

    def lease_held(self, fence: Fence) -> datetime | None:
        """The end of the lease of the claim ``fence`` names, while that claim holds; None once it does not.
        :meth:`holds` is this compared with a clock; a worker keeps the time for its next checkpoint."""
        return self._writes.lease_held(fence)

    def save_progress(self, delivery_id: int, progress: Progress, *, fence: Fence | None = None) -> bool:
        """Persist thread part ids / media ids the moment they exist (own short transaction). With
        ``fence``, only while that claim holds: False (nothing written) after a take-over."""
        return self._writes.save_progress(delivery_id, progress, fence=fence)

    def record_attempt(
        self,
        delivery_id: int,
        *,
        at: datetime,
        seconds: float,
        outcome: str,
        code: str | None,
        error: str | None,
        is_try: bool,
        fence: Fence | None = None,
    ) -> bool:
        """Append a history row; ``is_try`` also increments the delivery's ``attempts``. With ``fence``,
        only while that claim holds (False, nothing written, after a take-over)."""
        return self._writes.record_attempt(
            delivery_id, at=at, seconds=seconds, outcome=outcome, code=code, error=error, is_try=is_try, fence=fence
        )

    # Shorthands for settle(by=DAEMON): the daemon's outcomes. They change only a delivery that is ``sending``
    # (mark_missed: also pending/retrying) and, with ``fence``, still held; False when the guard refused.
    def mark_sent(
        self, delivery_id: int, *, remote_id: str, url: str, now: datetime, fence: Fence | None = None
    ) -> bool:
        return self.settle(
            delivery_id, SENT, by=DAEMON, now=now, fence=fence, remote_id=remote_id, url=url, sent_at=now, error=None
        )

    def mark_retrying(
        self,
        delivery_id: int,
        *,
        next_try_at: datetime,
        error: str,
        now: datetime | None = None,
        fence: Fence | None = None,
    ) -> bool:
        return self.settle(
            delivery_id, RETRYING, by=DAEMON, now=_now(now), fence=fence, next_try_at=next_try_at, error=error
        )

    def mark_failed(
        self, delivery_id: int, *, error: str, now: datetime, fence: Fence | None = None, **values: Any
    ) -> bool:
        return self.settle(
            delivery_id, FAILED, by=DAEMON, now=now, fence=fence, error=error, next_try_at=None, **values
        )

    def mark_unknown(
        self, delivery_id: int, *, error: str, now: datetime, fence: Fence | None = None, **values: Any
    ) -> bool:
        return self.settle(
            delivery_id, UNKNOWN, by=DAEMON, now=now, fence=fence, error=error, next_try_at=None, **values
        )

    def mark_missed(self, delivery_id: int, *, error: str, now: datetime, fence: Fence | None = None) -> bool:
        return self.settle(delivery_id, MISSED, by=DAEMON, now=now, fence=fence, error=error, next_try_at=None)

    def release(
        self, delivery_id: int, *, status: str, now: datetime | None = None, fence: Fence | None = None
    ) -> bool:
        """Give a claimed delivery back unsent (daemon stopping before the request): status pending/retrying."""
        if status not in (PENDING, RETRYING):
            raise ValueError(f"release to {status!r}: only pending or retrying")
        return self.settle(delivery_id, status, by=DAEMON, now=_now(now), fence=fence)

    def resolve(self, delivery_id: int, to: str, *, now: datetime, history: dict[str, Any], **values: Any) -> bool:
        """A person settles a delivery (``crosspost resolve``): ``to`` is sent or failed; see settle."""
        if to not in (SENT, FAILED):
            raise ValueError(f"resolve to {to!r}: only sent or failed")
        return self.settle(delivery_id, to, by=PERSON, now=now, history=history, **values)

    def next_wakeup(self) -> datetime | None:
        """The earliest due_at / next_try_at / lease expiry among non-terminal deliveries."""
        with self._read() as r:
            return r.next_wakeup()

    # ------------------------------------------------------------ the daemon's presence
    def acquire_daemon(self, *, owner: str, now: datetime, stale_after: float) -> bool:
        """Take the single daemon slot if free, already ours, or its heartbeat is older than ``stale_after`` seconds."""
        from crosspost.store import slot

        return slot.acquire(self.engine, owner=owner, now=now, stale_after=stale_after)

    def heartbeat(self, *, owner: str, now: datetime) -> None:
        """Refresh the slot's heartbeat (nothing if the slot is no longer ours: see daemon_status)."""
        from crosspost.store import slot

        slot.heartbeat(self.engine, owner=owner, now=now)

    def release_daemon(self, *, owner: str) -> None:
        """Free the slot if ``owner`` holds it."""
        from crosspost.store import slot

        slot.release(self.engine, owner=owner)

    def daemon_status(self) -> tuple[str, datetime, str] | None:
        """(owner, last heartbeat, started_at iso) or None if no daemon ever ran / it released."""
        with self._read() as r:
            return r.daemon_status()

    def daemon_last_seen(self) -> datetime | None:
        """The last heartbeat of any daemon on this database, running or stopped; None if none ever ran."""
        with self._read() as r:
            return r.daemon_last_seen()

    # ------------------------------------------------------------ list (CLI), filtered and ordered in SQL
    def iter_posts(self, **filters: Any) -> Iterator[PostRecord]:
        """:meth:`list_posts`'s posts one by one from one read snapshot; keywords ``status``, ``attention``
        (posts with a failed, unknown or missed delivery) and ``limit`` (the first N in list's order)."""
        with self._read() as r:
            yield from r.iter_posts(**filters)

    def iter_post_summaries(self, **filters: Any) -> Iterator[PostSummary]:
        """:meth:`post_summaries` one by one (the keywords of :meth:`iter_posts`)."""
        with self._read() as r:
            yield from r.iter_post_summaries(**filters)

    def posts_page(self, **filters: Any) -> tuple[list[PostRecord], int]:
        """:meth:`iter_posts`'s first ``limit`` posts and how many match without the limit, in one query."""
        with self._read() as r:
            return r.posts_page(**filters)

    def post_summaries_page(self, **filters: Any) -> tuple[list[PostSummary], int]:
        """:meth:`posts_page` in short (:meth:`post_summaries`): a terminal's ``list``."""
        with self._read() as r:
            return r.post_summaries_page(**filters)

    def count_posts(self, **filters: Any) -> int:
        """How many posts :meth:`iter_posts` gives with ``status`` / ``attention`` and no limit."""
        with self._read() as r:
            return r.count_posts(**filters)


def _now(now: datetime | None) -> datetime:
    # Only for updated_at on the two calls whose spec has no ``now``; it is bookkeeping, never a decision.
    return now if now is not None else datetime.now(UTC)


def _shown(url: str) -> str:
    """The database URL as it may be shown: without its password."""
    if "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials part at all
        return url.split("://", 1)[0] + "://***@" + url.rsplit("@", 1)[-1]
