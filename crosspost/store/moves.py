"""``reschedule ID --by DELAY``: each waiting delivery moved from its own due time, in one transaction.

Kept apart from :mod:`crosspost.store.writes` because the new times differ per row
and are checked before anything is written: the check and the change see the
same rows (read ``FOR UPDATE`` on PostgreSQL, under SQLite's write lock).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from crosspost.errors import CrosspostError
from crosspost.store.reads import sqlalchemy_reader
from crosspost.store.records import PENDING, RETRYING, DeliveryRecord
from crosspost.store.tables import deliveries
from crosspost.store.timefmt import from_db, to_utc
from crosspost.timeutil import PAST_GRACE


class MovedIntoPast(CrosspostError):
    """A delivery the delay would move into the past (the CLI words it in the config timezone)."""

    def __init__(self, post_id: int, account: str, current: datetime, new: datetime) -> None:
        super().__init__(
            f"post {post_id} {account}: moved from {current.isoformat()} it would be due {new.isoformat()}"
        )
        self.post_id, self.account, self.current, self.new = post_id, account, current, new


def shift(engine: Engine, post_id: int, by: timedelta, *, now: datetime) -> list[DeliveryRecord]:
    """Move the post's pending and retrying deliveries by ``by``; see :meth:`SqlStore.reschedule_by`."""
    now = to_utc(now)
    with engine.begin() as conn:
        reader = sqlalchemy_reader(conn)
        reader.require_post(post_id)
        rows = conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.account,
                deliveries.c.status,
                deliveries.c.due_at,
                deliveries.c.next_try_at,
            )
            .where(deliveries.c.post_id == post_id, deliveries.c.status.in_((PENDING, RETRYING)))
            .order_by(deliveries.c.id)
            .with_for_update()
        ).all()
        moves: list[tuple[int, datetime]] = []
        for delivery_id, account, status, due_at, next_try_at in rows:
            # A retrying delivery goes out at its next try: that is the due time a person sees and shifts.
            current = from_db(next_try_at) if status == RETRYING and next_try_at is not None else from_db(due_at)
            assert current is not None
            new = current + by
            if now - new > PAST_GRACE:
                raise MovedIntoPast(post_id, account, current, new)
            moves.append((delivery_id, new))
        for delivery_id, new in moves:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.status.in_((PENDING, RETRYING)))
                .values(status=PENDING, due_at=new, next_try_at=None, updated_at=now)
            )
        return reader.deliveries_by_id([delivery_id for delivery_id, _ in moves])
