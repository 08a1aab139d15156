"""The CLI's and the daemon's writes, each one short transaction (SQLAlchemy Core).

Every status change goes through :func:`settle_row`: its WHERE clause is the
transition table of :mod:`crosspost.statuses` (the statuses ``to`` may be reached
from, by that actor) plus, for a worker, its claim's fence (owner and token). A
change that lost a race, met a terminal status or came from a worker whose claim
was taken over changes nothing and says so (False): the caller logs it and acts.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from crosspost.errors import AlreadyQueued, CrosspostError, NotFound
from crosspost.model import Draft, Progress
from crosspost.notify.outbox import enqueue_notices
from crosspost.statuses import (
    CANCELLED,
    OUT_REQUEUED,
    PENDING,
    PERSON,
    RETRYABLE,
    SENDING,
    allowed_from,
)
from crosspost.store.direct import Direct, Tx, savepoint
from crosspost.store.engine import LOCK_MEDIA, direct_write, group_write, read_connection, serialize
from crosspost.store.media import MediaCopier
from crosspost.store.reads import CONTENT_KEY, sqlalchemy_reader
from crosspost.store.records import DeliveryRecord, Fence
from crosspost.store.tables import attempts, deliveries, posts
from crosspost.store.timefmt import to_utc

d = deliveries.c
# (draft, progress, platform) -> (first part's id, its url, "part 1 of 3 is public on X ...") or None.
PublicParts = Callable[[Draft, Progress, str], "tuple[str, str | None, str] | None"]

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
    def cancel(self, post_id: int, *, now: datetime, public: PublicParts | None = None) -> list[DeliveryRecord]:
        return self._change_post(post_id, CANCELLED, {"next_try_at": None}, now, public)

    def reschedule(self, post_id: int, due_at: datetime, *, now: datetime) -> list[DeliveryRecord]:
        return self._change_post(post_id, PENDING, {"due_at": due_at, "next_try_at": None}, now)

    def _change_post(
        self, post_id: int, to: str, values: dict[str, Any], now: datetime, public: PublicParts | None = None
    ) -> list[DeliveryRecord]:
        """A person's change of every delivery of the post the transition table lets them change."""
        with self.engine.begin() as conn:
            reader = sqlalchemy_reader(conn)
            reader.require_post(post_id)
            waiting = allowed_from(to, PERSON)
            candidates = conn.execute(
                select(d.id).where(d.post_id == post_id, d.status.in_([s for s in waiting if s not in RETRYABLE]))
            ).scalars()
            ids = [i for i in candidates if settle_row(conn, i, to, by=PERSON, values={**values, "updated_at": now})]
            if public is not None:
                for delivery_id in ids:
                    _keep_public_parts(conn, delivery_id, public)
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
            values = {
                "due_at": now,
                "next_try_at": None,
                "progress": progress.to_json(),
                "attempts": 0,
                "error": None,
                "updated_at": now,
            }
            if not settle_row(conn, delivery_id, PENDING, by=PERSON, values=values, only_from=RETRYABLE):
                raise CrosspostError(
                    f"delivery {delivery_id} to {current.account} is {current.status}; "
                    "only failed, unknown or missed deliveries can be retried"
                )
            _append_attempt(conn, delivery_id, at=now, seconds=0.0, outcome=OUT_REQUEUED, code=None, error=note)
            return reader.delivery(delivery_id)

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
        """The one guarded status write: see :func:`settle_row`. ``history`` (record_attempt's keywords)
        is appended in the same transaction, only if the change landed. ``notify_on``: the config's
        ``[notify] on``, when the caller knows it (see :func:`crosspost.notify.outbox.enqueue_notices`).
        ``then(conn)`` runs after a change that landed, in the same transaction but in a savepoint of its
        own: the daemon claims the account's next delivery there, so a settled delivery and the next
        claim are one write transaction. Its failure undoes only what it did (the caller sees it did not
        finish), never the result written before it.

        The daemon's write per delivery: a :func:`~crosspost.store.engine.group_write`, so the settles of
        several workers finishing together commit together."""

        def write(conn: Tx) -> bool:
            changed = settle_row(conn, delivery_id, to, by=by, fence=fence, values={**values, "updated_at": now})
            if changed and history is not None:
                _append_attempt(conn, delivery_id, **history)
            if changed and by != PERSON:
                # The notice (issue 13) commits with the status change, or neither does: a crash cannot
                # lose or duplicate one. A person who settled a delivery by hand needs no notice of it.
                enqueue_notices(conn, [delivery_id], status=to, now=now, on=notify_on)
            if changed and then is not None:
                # A failure: the caller sees the claim did not finish and falls back to its own (the docstring).
                savepoint(conn, "next_claim", lambda: then(conn))
            return changed

        return group_write(self.engine, write)

    # ---------------------------------------------------------------- the daemon's changes
    def extend_lease(self, delivery_id: int, *, owner: str, until: datetime, token: int | None = None) -> bool:
        params = {"_id": delivery_id, "_owner": owner, "_token": token, "v_lease_until": until}
        with direct_write(self.engine) as conn:
            return bool(_EXTEND_LEASE[token is not None](conn, params).rowcount)

    def extend_leases(self, fences: Sequence[Fence], *, until: datetime) -> list[bool]:
        """:meth:`extend_lease` for each claim ``fences`` name (owner and token), in one write transaction."""
        if not fences:
            return []
        with direct_write(self.engine) as conn:
            return [
                bool(_EXTEND_LEASE[True](conn, {**_fence_params(f), "v_lease_until": until}).rowcount) for f in fences
            ]

    def holds(self, fence: Fence, *, now: datetime) -> bool:
        """Whether ``fence`` still holds its claim and its lease runs past ``now``: one primary-key read."""
        lease_until = self.lease_held(fence)
        return lease_until is not None and lease_until > now

    def lease_held(self, fence: Fence) -> datetime | None:
        """Where the lease of the claim ``fence`` names ends, while that claim holds (sending, same owner and
        token); None once it does not."""
        # One SELECT outside any write transaction (see engine.read_connection): before every publishing request.
        with read_connection(self.engine) as dbapi_connection:
            lease_until: datetime | None = _HOLDS.on_dbapi(
                dbapi_connection, self.engine.dialect, _fence_params(fence)
            ).scalar()
        return lease_until

    def save_progress(self, delivery_id: int, progress: Progress, *, fence: Fence | None = None) -> bool:
        # No status guard without a fence: these ids are facts about the platform, worth keeping whatever
        # the status (``crosspost retry``'s look-up). A worker's save is fenced: after a take-over the new
        # owner's progress is the truth, and the old worker must stop.
        with direct_write(self.engine) as conn:
            if fence is None:
                done = _SAVE_PROGRESS(conn, {"_id": delivery_id, "v_progress": progress.to_json()})
            else:
                done = _SAVE_PROGRESS_FENCED(conn, {**_fence_params(fence), "v_progress": progress.to_json()})
            return bool(done.rowcount)

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
        with direct_write(self.engine) as conn:
            if fence is not None and _HOLDS(conn, _fence_params(fence)).first() is None:
                return False
            _append_attempt(
                conn, delivery_id, at=at, seconds=seconds, outcome=outcome, code=code, error=error, is_try=is_try
            )
            if is_try:
                _COUNT_TRY(conn, {"_id": delivery_id, "v_updated_at": at})
            return True


# The daemon's statements are built once, with bound parameters, and run as Direct statements (compiled once
# per dialect, executed on the DBAPI cursor: see store.direct): they run a few times per delivery, with the
# write lock held.
_FENCE = (
    d.id == bindparam("_id"),
    d.status == SENDING,
    d.lease_owner == bindparam("_owner"),
    d.lease_token == bindparam("_token"),
)
_HOLDS = Direct(select(d.lease_until).where(*_FENCE))
_PROGRESS = bindparam("v_progress", type_=deliveries.c.progress.type)
_SAVE_PROGRESS = Direct(update(deliveries).where(d.id == bindparam("_id")).values(progress=_PROGRESS))
_SAVE_PROGRESS_FENCED = Direct(update(deliveries).where(*_FENCE).values(progress=_PROGRESS))
_COUNT_TRY = Direct(
    update(deliveries)
    .where(d.id == bindparam("_id"))
    .values(attempts=d.attempts + 1, updated_at=bindparam("v_updated_at", type_=d.updated_at.type))
)
_LEASE = {"lease_until": bindparam("v_lease_until", type_=d.lease_until.type)}
_OWNED = (d.id == bindparam("_id"), d.status == SENDING, d.lease_owner == bindparam("_owner"))
_EXTEND_LEASE = {  # by token: this very claim; without: any claim of this owner
    True: Direct(update(deliveries).where(*_FENCE).values(_LEASE)),
    False: Direct(update(deliveries).where(*_OWNED).values(_LEASE)),
}
_EXISTS = Direct(select(d.id).where(d.id == bindparam("_id")))
_ATTEMPT_COLUMNS = ("delivery_id", "at", "seconds", "outcome", "code", "message", "is_try")
_INSERT_ATTEMPT = Direct(insert(attempts).values({c: bindparam(c, type_=attempts.c[c].type) for c in _ATTEMPT_COLUMNS}))
_settle_statements: dict[tuple[tuple[str, ...], bool, tuple[str, ...]], Direct] = {}


def _fence_params(fence: Fence) -> dict[str, Any]:
    return {"_id": fence.delivery_id, "_owner": fence.owner, "_token": fence.token}


def _settle_statement(allowed: tuple[str, ...], fenced: bool, columns: tuple[str, ...]) -> Direct:
    """The guarded UPDATE of :func:`settle_row` for these statuses and columns, built on first use: a
    handful of shapes (one per outcome) are all the daemon ever runs."""
    assert allowed, "no status to move from: the UPDATE's guard would be empty and match any status"
    key = (allowed, fenced, columns)
    statement = _settle_statements.get(key)
    if statement is None:
        # The statuses written out (a Direct statement takes no IN list); usually one.
        guard = [*(_FENCE if fenced else (d.id == bindparam("_id"),)), or_(*(d.status == s for s in allowed))]
        sets = {c: bindparam(f"v_{c}", type_=deliveries.c[c].type) for c in columns}
        statement = _settle_statements.setdefault(key, Direct(update(deliveries).where(*guard).values(sets)))
    return statement


def settle_row(
    conn: Tx,
    delivery_id: int,
    to: str,
    *,
    by: str,
    values: dict[str, Any],
    fence: Fence | None = None,
    only_from: Sequence[str] | None = None,
) -> bool:
    """Move one delivery to ``to`` if the transition table lets ``by`` do it from its current status
    (narrowed to ``only_from``), and, with ``fence``, only while that claim still holds. Leaving
    ``sending`` clears the lease. Returns False when the guard refused; raises NotFound for no such row."""
    allowed = allowed_from(to, by)
    if only_from is not None:
        allowed = tuple(s for s in allowed if s in only_from)
    values = {**values, "status": to}
    if to != SENDING:
        values.update(lease_owner=None, lease_until=None)
    values.setdefault("updated_at", datetime.now(UTC))
    if fence is not None and fence.delivery_id != delivery_id:
        changed = False  # another row's fence holds nothing here
    elif not allowed:
        changed = False  # the table lets ``by`` reach ``to`` from nowhere (a daemon cancelling, say)
    else:
        statement = _settle_statement(tuple(allowed), fence is not None, tuple(sorted(values)))
        params = {**_fence_params(fence)} if fence is not None else {"_id": delivery_id}
        params.update({f"v_{c}": v for c, v in values.items()})
        changed = statement(conn, params).rowcount == 1
    if changed:
        return True
    if _EXISTS(conn, {"_id": delivery_id}).first() is None:
        raise NotFound(f"no delivery {delivery_id}")
    return False


def _keep_public_parts(conn: Connection, delivery_id: int, public: PublicParts) -> None:
    """A cancelled thread whose first parts are public keeps part 1's id and url on the row and says so."""
    row = conn.execute(select(d.progress, d.draft, d.platform).where(d.id == delivery_id)).first()
    if row is None:
        return
    kept = public(Draft.from_json(row.draft), Progress.from_json(row.progress), row.platform)
    if kept is not None:
        remote_id, url, note = kept
        conn.execute(
            update(deliveries)
            .where(d.id == delivery_id)
            .values(remote_id=remote_id, url=url, error=f"cancelled; {note}")
        )


def _append_attempt(
    conn: Tx,
    delivery_id: int,
    *,
    at: datetime,
    seconds: float,
    outcome: str,
    code: str | None,
    error: str | None,
    is_try: bool = False,
) -> None:
    _INSERT_ATTEMPT(
        conn,
        {
            "delivery_id": delivery_id,
            "at": at,
            "seconds": float(seconds),
            "outcome": outcome,
            "code": code,
            "message": error,
            "is_try": is_try,
        },
    )
