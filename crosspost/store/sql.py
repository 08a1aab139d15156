"""SqlStore: the queue and the delivery log on SQLAlchemy Core (SQLite by default).

STUB WRITTEN AS THE API SPEC: every method below is to be implemented with
these exact signatures (the CLI and the daemon call them). Times passed in and
returned are timezone-aware (UTC inside the database).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from crosspost.model import Draft, Progress
from crosspost.store.records import Claim, DeliveryRecord, PostRecord


class SqlStore:
    def __init__(self, url: str, media_dir: Path) -> None:
        """Open (creating or upgrading through Alembic migrations, automatically) the database at ``url``.

        SQLite: WAL, busy timeout (30 s), foreign keys on; writers use BEGIN IMMEDIATE so
        concurrent CLI commands and the daemon never fail with "database is locked".
        """
        raise NotImplementedError

    def close(self) -> None: ...

    # ------------------------------------------------------------ queue (CLI)
    def queue_post(self, *, title: str, source: str, drafts: Sequence[Draft], due_at: datetime, now: datetime) -> int:
        """One transaction: copy each draft's images into ``media_dir`` by content hash, store the
        post snapshot and one ``pending`` delivery per draft (``draft.key`` set to a stable unique
        key per delivery, e.g. ``"cp-<post_id>-<account>"``, and image paths pointing at the copies).
        Returns the new post id. On any failure nothing is stored."""
        raise NotImplementedError

    def list_posts(self, *, status: str | None = None) -> list[PostRecord]:
        """Every post (newest due first) with its deliveries (no history, no drafts). ``status`` is a post status."""
        raise NotImplementedError

    def get_post(self, post_id: int) -> PostRecord:
        """One post with drafts and every delivery's history. Raises NotFound."""
        raise NotImplementedError

    def cancel(self, post_id: int, *, now: datetime) -> list[DeliveryRecord]:
        """Cancel the post's deliveries that are pending or retrying (not sending, not terminal).
        Returns the ones cancelled. Raises NotFound."""
        raise NotImplementedError

    def reschedule(self, post_id: int, due_at: datetime, *, now: datetime) -> list[DeliveryRecord]:
        """Move pending and retrying deliveries to ``due_at`` (they become pending, next_try cleared). Raises NotFound."""
        raise NotImplementedError

    def retryable(self, post_id: int, account: str | None = None) -> list[DeliveryRecord]:
        """The post's failed, unknown or missed deliveries (of ``account`` if given). Raises NotFound."""
        raise NotImplementedError

    def requeue(self, delivery_id: int, *, now: datetime, note: str) -> DeliveryRecord:
        """Put a failed/unknown/missed delivery back: pending, due now, attempts 0 (a fresh budget),
        error cleared; keeps its progress and history (adds a history row ``outcome="requeued"``)."""
        raise NotImplementedError

    def log(
        self,
        *,
        status: str | None = None,
        account: str | None = None,
        post_id: int | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRecord]:
        """Delivery rows ordered by coalesce(sent_at, due_at) newest first; ``since`` filters on that same time."""
        raise NotImplementedError

    # ------------------------------------------------------------ daemon
    def claim_due(self, *, now: datetime, owner: str, lease_seconds: float, limit: int = 100, exclude_accounts: Sequence[str] = ()) -> list[Claim]:
        """Atomically move due deliveries (pending with due_at <= now, retrying with next_try_at <= now)
        to ``sending`` with a lease, at most one per account and none for ``exclude_accounts``
        (accounts with a request already in flight). Also returns deliveries still ``sending`` whose
        lease expired (a dead daemon's), with ``status_before="sending"``, to be reconciled."""
        raise NotImplementedError

    def extend_lease(self, delivery_id: int, *, owner: str, until: datetime) -> None: ...

    def save_progress(self, delivery_id: int, progress: Progress) -> None:
        """Persist thread part ids / media ids the moment they exist (own short transaction)."""
        raise NotImplementedError

    def record_attempt(
        self, delivery_id: int, *, at: datetime, seconds: float, outcome: str, code: str | None, error: str | None, is_try: bool
    ) -> None:
        """Append a history row; ``is_try`` also increments the delivery's ``attempts``."""
        raise NotImplementedError

    def mark_sent(self, delivery_id: int, *, remote_id: str, url: str, now: datetime) -> None: ...
    def mark_retrying(self, delivery_id: int, *, next_try_at: datetime, error: str) -> None: ...
    def mark_failed(self, delivery_id: int, *, error: str, now: datetime) -> None: ...
    def mark_unknown(self, delivery_id: int, *, error: str, now: datetime) -> None: ...
    def mark_missed(self, delivery_id: int, *, error: str, now: datetime) -> None: ...
    def release(self, delivery_id: int, *, status: str) -> None:
        """Give a claimed delivery back unsent (daemon stopping before the request): status pending/retrying."""

    def next_wakeup(self) -> datetime | None:
        """The earliest due_at / next_try_at / lease expiry among non-terminal deliveries."""
        raise NotImplementedError

    # ------------------------------------------------------------ the daemon's presence
    def acquire_daemon(self, *, owner: str, now: datetime, stale_after: float) -> bool:
        """Take the single daemon slot if free or its heartbeat is older than ``stale_after`` seconds."""
        raise NotImplementedError

    def heartbeat(self, *, owner: str, now: datetime) -> None: ...
    def release_daemon(self, *, owner: str) -> None: ...
    def daemon_status(self) -> tuple[str, datetime, str] | None:
        """(owner, last heartbeat, started_at iso) or None if no daemon ever ran / it released."""
        raise NotImplementedError
