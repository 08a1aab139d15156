"""The daemon slot: one row saying which daemon runs on this database, and that it is alive.

Taking the slot is one conditional UPDATE (free, ours, or its heartbeat too old),
so two daemons starting together cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update

from crosspost.store.tables import daemon

c = daemon.c


def acquire(engine: Engine, *, owner: str, now: datetime, stale_after: float) -> bool:
    stale_before = now - timedelta(seconds=stale_after)
    with engine.begin() as conn:
        taken = conn.execute(
            update(daemon)
            .where(c.id == 1, or_(c.owner.is_(None), c.owner == owner, c.heartbeat_at < stale_before))
            .values(owner=owner, started_at=now, heartbeat_at=now)
        ).rowcount
        return taken == 1


def heartbeat(engine: Engine, *, owner: str, now: datetime) -> bool:
    """False when the slot is no longer ours (taken over as stale): the daemon should stop."""
    with engine.begin() as conn:
        return conn.execute(update(daemon).where(c.id == 1, c.owner == owner).values(heartbeat_at=now)).rowcount == 1


def release(engine: Engine, *, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(daemon).where(c.id == 1, c.owner == owner).values(owner=None))
