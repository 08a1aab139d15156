"""The ``daemon`` notice: a daemon that starts after being down says for how long, and what it found overdue.

The last heartbeat of any earlier daemon is read before this one takes the slot (taking it
overwrites the heartbeat). A gap shorter than :data:`DOWN_AFTER` (a restart, a deploy) is no news.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from crosspost.config import Settings
from crosspost.delivery.events import LogFn
from crosspost.notify import outbox
from crosspost.notify.sender import NoticeSender
from crosspost.store.records import PENDING, RETRYING
from crosspost.store.sql import SqlStore
from crosspost.timeutil import human

DOWN_AFTER = timedelta(minutes=5)
LISTED = 20  # overdue deliveries named one by one; the rest are counted


def start_notices(
    store: SqlStore,
    settings: Settings,
    log: LogFn,
    stop: threading.Event,
    last_seen: datetime | None,
    clock: Callable[[], datetime],
) -> NoticeSender:
    """The daemon's one call, after it took its slot: queue the ``daemon`` notice if it is due, then start
    the sender thread. ``last_seen`` is the last heartbeat read *before* taking the slot (taking it
    overwrites the heartbeat); ``clock`` is the daemon's. The sender stops when ``stop`` is set."""
    sender = NoticeSender(store, settings, log, stop, clock)
    if "daemon" in settings.notify.on and settings.notify.urls:
        try:
            queue_down_notice(store, settings, last_seen=last_seen, now=sender.clock())
        except Exception as exc:  # noqa: BLE001 - a notice is never a reason not to start
            sender.report(exc)
    return sender.start()


def queue_down_notice(store: SqlStore, settings: Settings, *, last_seen: datetime | None, now: datetime) -> bool:
    """Queue the notice if the last daemon beat more than :data:`DOWN_AFTER` before ``now``."""
    if last_seen is None or now - last_seen < DOWN_AFTER:
        return False
    zone = settings.timezone
    overdue = [d for d in store.log(status=PENDING) if d.due_at <= now]
    overdue += [d for d in store.log(status=RETRYING) if d.next_try_at is not None and d.next_try_at <= now]
    overdue.sort(key=lambda d: d.due_at)
    down = _span(now - last_seen)
    host = socket.gethostname()
    lines = [
        f"The crosspost daemon on {host} started at {human(now, zone)} after being down for {down} "
        f"(the last heartbeat of a daemon on this database: {human(last_seen, zone)}).",
        "",
    ]
    if overdue:
        late_limit = _span(settings.late_limit)
        lines.append(
            f"It found {len(overdue)} deliveries overdue. Those late by up to {late_limit} (late_limit) go out "
            "now; the others become missed, each with its own notice."
        )
        for d in overdue[:LISTED]:
            lines.append(
                f'  post {d.post_id} "{d.post_title}" to {d.account}: due {human(d.due_at, zone)}, '
                f"{_span(now - d.due_at)} late"
            )
        if len(overdue) > LISTED:
            lines.append(f"  and {len(overdue) - LISTED} more: crosspost list --status queued")
    else:
        lines.append("Nothing was overdue.")
    lines += ["", "Why it was down: see the system's log (journalctl -u crosspost, or where it runs)."]
    subject = f"crosspost: daemon was DOWN {down} · {len(overdue)} overdue"
    outbox.enqueue_daemon_notice(store.engine, subject=subject, body="\n".join(lines), now=now)
    return True


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"
