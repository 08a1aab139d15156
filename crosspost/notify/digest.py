"""The daily digest (``[notify] digest = "08:00"``): what went out yesterday, what is queued for the rest
of today, what needs a person. Queued by the sender at the first round after that time of day (in the
config timezone); the outbox's unique (kind, day) makes it one a day, however many daemons run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from crosspost.config import Settings
from crosspost.notify import outbox
from crosspost.store.records import FAILED, MISSED, PENDING, RETRYING, SENT, UNKNOWN, DeliveryRecord
from crosspost.store.sql import SqlStore
from crosspost.timeutil import human

LISTED = 20  # rows named per part; the rest are counted


def queue_digest_if_due(store: SqlStore, settings: Settings, now: datetime) -> bool:
    """Queue today's digest if its time has come and it is not queued yet; True if this call queued it."""
    at = settings.notify.digest
    if at is None or not settings.notify.urls:
        return False
    local = now.astimezone(settings.timezone)
    if local.time() < at or outbox.has_digest(store.engine, local.date().isoformat()):
        return False
    subject, body = compose_digest(store, settings, now)
    return outbox.enqueue_digest(store.engine, day=local.date().isoformat(), subject=subject, body=body, now=now)


def compose_digest(store: SqlStore, settings: Settings, now: datetime) -> tuple[str, str]:
    zone = settings.timezone
    today = now.astimezone(zone).date()
    start, end = _midnight(today - timedelta(days=1), settings), _midnight(today, settings)
    tomorrow = _midnight(today + timedelta(days=1), settings)
    went = [d for d in store.log(status=SENT, since=start) if d.sent_at is not None and d.sent_at < end]
    queued = [d for s in (PENDING, RETRYING) for d in store.log(status=s) if d.due_at < tomorrow]
    attention = [d for s in (UNKNOWN, FAILED, MISSED) for d in store.log(status=s)]
    queued.sort(key=lambda d: d.due_at)
    lines = [f"crosspost digest for {_day(today)} ({zone})", ""]
    lines += _part(f"Went out yesterday ({_day(today - timedelta(days=1))})", went, lambda d: d.url or "-")
    lines += _part("Queued for the rest of today", queued, lambda d: f"due {human(d.due_at, zone)}")
    lines += _part("Needs attention", attention, lambda d: f"{d.status}: {d.error or '-'} (crosspost show {d.post_id})")
    subject = (
        f"crosspost: digest {_day(today)} · {len(went)} sent yesterday, {len(queued)} queued today, "
        f"{len(attention)} need attention"
    )
    return subject, "\n".join(lines).rstrip()


def _part(heading: str, records: list[DeliveryRecord], detail: Callable[[DeliveryRecord], str]) -> list[str]:
    lines = [f"{heading}: {len(records)}"]
    lines += [f'  post {d.post_id} "{d.post_title}" to {d.account}: {detail(d)}' for d in records[:LISTED]]
    if len(records) > LISTED:
        lines.append(f"  and {len(records) - LISTED} more: crosspost log")
    return [*lines, ""]


def _midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time(0), settings.timezone)


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"
