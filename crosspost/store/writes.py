"""The CLI's and the daemon's writes, each one short transaction (SQLAlchemy Core).

Status changes carry their precondition in the WHERE clause, so a change that
lost a race (or met a terminal status) changes nothing and says so: the
``mark_*`` methods return False instead of overwriting what another writer did.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from crosspost.errors import AlreadyQueued, CrosspostError, NotFound
from crosspost.model import Draft, Progress
from crosspost.notify.outbox import enqueue_notices
from crosspost.store.engine import LOCK_MEDIA, serialize
from crosspost.store.media import MediaCopier
from crosspost.store.reads import CONTENT_KEY, RETRYABLE, sqlalchemy_reader
from crosspost.store.records import (
    CANCELLED,
    FAILED,
    MISSED,
    PENDING,
    RETRYING,
    SENDING,
    SENT,
    UNKNOWN,
    DeliveryRecord,
)
from crosspost.store.tables import attempts, deliveries, posts
from crosspost.store.timefmt import to_utc

log = logging.getLogger(__name__)

KEY_LIMIT = 64  # VK's guid is at most 64 characters


def delivery_key(post_id: int, token: str, account: str) -> str:
    """A stable, unique, ASCII key of at most 64 characters for one delivery.

    ``token`` is random per post, so two databases (a test one and the real one) posting
    to the same VK community never share a guid, which VK would take for a resend.
    """
    key = f"cp-{post_id}-{token}-{account}"
    if len(key) > KEY_LIMIT or not key.isascii():
        key = f"cp-{post_id}-{token}-{hashlib.sha256(account.encode()).hexdigest()[:16]}"
    return key


class Writer:
    """All writes; one short transaction per method."""

    def __init__(self, engine: Engine, media_dir: Path) -> None:
        self.engine = engine
        self.media_dir = media_dir

    # ---------------------------------------------------------------- queue
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
        if not drafts:
            raise CrosspostError("a post needs at least one target account")
        due_at, now = to_utc(due_at), to_utc(now)  # a naive time fails here, before anything is copied
        accounts = [d.account for d in drafts]
        if len(set(accounts)) != len(accounts):
            raise CrosspostError(f"an account is named twice among {', '.join(accounts)}")
        copier = MediaCopier(self.media_dir)
        try:
            with self.engine.begin() as conn:
                # Copies are made inside the write transaction: no other queue call can see a new copy
                # (and come to rely on it) before this one has committed or cleaned up.
                serialize(conn, LOCK_MEDIA)
                if content_hash is not None and not again:
                    # Checked under the same lock as the insert: two queue calls of one file cannot both pass.
                    earlier = sqlalchemy_reader(conn).same_content(content_hash)
                    if earlier:
                        raise AlreadyQueued(*earlier[-1])
                stored = [replace(d, images=copier.store(d.images, d.platform)) for d in drafts]
                post_id: int = conn.execute(
                    insert(posts)
                    .values(title=title, source=source, created_at=now, snapshot="{}")
                    .returning(posts.c.id)
                ).scalar_one()
                token = secrets.token_hex(4)
                keyed = [replace(d, key=delivery_key(post_id, token, d.account)) for d in stored]
                snapshot: dict[str, Any] = {"drafts": {d.account: json.loads(d.to_json()) for d in keyed}}
                if content_hash is not None:
                    snapshot[CONTENT_KEY] = content_hash
                conn.execute(
                    update(posts).where(posts.c.id == post_id).values(snapshot=json.dumps(snapshot, ensure_ascii=False))
                )
                conn.execute(
                    insert(deliveries),
                    [
                        {
                            "post_id": post_id,
                            "account": d.account,
                            "platform": d.platform,
                            "status": PENDING,
                            "due_at": due_at,
                            "attempts": 0,
                            "draft": d.to_json(),
                            "updated_at": now,
                        }
                        for d in keyed
                    ],
                )
        except BaseException:
            self._discard_unreferenced(copier.created)
            raise
        return int(post_id)

    def _discard_unreferenced(self, created: list[Path]) -> None:
        """Remove the copies a failed queue call made, unless a committed post uses them meanwhile."""
        if not created:
            return
        with self.engine.begin() as conn:
            serialize(conn, LOCK_MEDIA)
            for path in created:
                used = conn.execute(
                    select(posts.c.id).where(posts.c.snapshot.contains(path.name, autoescape=True)).limit(1)
                ).first()
                if used is None:
                    path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- the CLI's changes
    def cancel(self, post_id: int, *, now: datetime) -> list[DeliveryRecord]:
        return self._change_post(post_id, (PENDING, RETRYING), {"status": CANCELLED, "next_try_at": None}, now)

    def reschedule(self, post_id: int, due_at: datetime, *, now: datetime) -> list[DeliveryRecord]:
        values = {"status": PENDING, "due_at": due_at, "next_try_at": None}
        return self._change_post(post_id, (PENDING, RETRYING), values, now)

    def _change_post(
        self, post_id: int, from_statuses: Sequence[str], values: dict[str, Any], now: datetime
    ) -> list[DeliveryRecord]:
        with self.engine.begin() as conn:
            reader = sqlalchemy_reader(conn)
            reader.require_post(post_id)
            ids = (
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.post_id == post_id, deliveries.c.status.in_(from_statuses))
                    .values(**values, updated_at=now)
                    .returning(deliveries.c.id)
                )
                .scalars()
                .all()
            )
            return reader.deliveries_by_id(sorted(ids))

    def requeue(self, delivery_id: int, *, now: datetime, note: str) -> DeliveryRecord:
        with self.engine.begin() as conn:
            reader = sqlalchemy_reader(conn)
            current = reader.delivery(delivery_id)
            # Published thread parts stay (a retry resumes after them), but uploaded media ids go: they
            # expire on the platforms (X's after about a day, unpublished Graph photos too), and a person's
            # retry often comes a day later. Uploading again makes no post.
            progress = Progress.from_json(
                conn.execute(select(deliveries.c.progress).where(deliveries.c.id == delivery_id)).scalar()
            )
            progress.media.clear()
            changed = conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status.in_(RETRYABLE))
                .values(
                    status=PENDING,
                    due_at=now,
                    next_try_at=None,
                    progress=progress.to_json(),
                    attempts=0,
                    error=None,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            ).rowcount
            if changed != 1:
                raise CrosspostError(
                    f"delivery {delivery_id} to {current.account} is {current.status}; "
                    "only failed, unknown or missed deliveries can be retried"
                )
            _append_attempt(conn, delivery_id, at=now, seconds=0.0, outcome="requeued", code=None, error=note)
            return reader.delivery(delivery_id)

    def settle_sent(self, delivery_id: int, *, remote_id: str, url: str, now: datetime) -> bool:
        """An ``unknown`` delivery found on the platform by ``crosspost retry``: it becomes ``sent``."""
        return self.mark(
            delivery_id, (UNKNOWN,), status=SENT, remote_id=remote_id, url=url, sent_at=now, error=None, updated_at=now
        )

    # ---------------------------------------------------------------- the daemon's changes
    def extend_lease(self, delivery_id: int, *, owner: str, until: datetime) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id == delivery_id,
                        deliveries.c.status == SENDING,
                        deliveries.c.lease_owner == owner,
                    )
                    .values(lease_until=until)
                ).rowcount
            )

    def save_progress(self, delivery_id: int, progress: Progress) -> None:
        # No status guard: these ids are facts about the platform, worth keeping whatever the status.
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(progress=progress.to_json()))

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
    ) -> None:
        with self.engine.begin() as conn:
            _append_attempt(
                conn, delivery_id, at=at, seconds=seconds, outcome=outcome, code=code, error=error, is_try=is_try
            )
            if is_try:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id)
                    .values(attempts=deliveries.c.attempts + 1, updated_at=at)
                )

    def mark(self, delivery_id: int, from_statuses: Sequence[str], **values: Any) -> bool:
        """Move a delivery out of ``from_statuses`` (the guard), clearing its lease. False if the guard refused."""
        values.setdefault("updated_at", datetime.now(UTC))
        with self.engine.begin() as conn:
            changed = _set_status(conn, delivery_id, from_statuses, lease_owner=None, lease_until=None, **values)
            if changed:  # notify hook (issue 13): the notice commits with the status change, or neither does
                enqueue_notices(conn, [delivery_id], status=values.get("status", ""), now=values["updated_at"])
        if not changed:
            # Not an error for the caller to handle: the row is already settled by someone else (a person's
            # cancel, a terminal status). Worth a trace, since the daemon believed it still owned it.
            log.warning(
                "delivery %s: not %s, left as it is (wanted %s)",
                delivery_id,
                "/".join(from_statuses),
                values.get("status"),
            )
        return changed


def _set_status(conn: Connection, delivery_id: int, from_statuses: Sequence[str], **values: Any) -> bool:
    values.setdefault("updated_at", datetime.now(UTC))
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status.in_(from_statuses))
        .values(**values)
    )
    if result.rowcount == 1:
        return True
    if conn.execute(select(deliveries.c.id).where(deliveries.c.id == delivery_id)).first() is None:
        raise NotFound(f"no delivery {delivery_id}")
    return False


def _append_attempt(
    conn: Connection,
    delivery_id: int,
    *,
    at: datetime,
    seconds: float,
    outcome: str,
    code: str | None,
    error: str | None,
    is_try: bool = False,
) -> None:
    conn.execute(
        insert(attempts).values(
            delivery_id=delivery_id,
            at=at,
            seconds=float(seconds),
            outcome=outcome,
            code=code,
            message=error,
            is_try=is_try,
        )
    )


# The statuses each daemon-side mark may leave (a terminal status is only left by requeue / mark_found).
MARK_FROM: dict[str, tuple[str, ...]] = {
    SENT: (SENDING,),
    RETRYING: (SENDING,),
    FAILED: (SENDING,),
    UNKNOWN: (SENDING,),
    MISSED: (SENDING, PENDING, RETRYING),
}
