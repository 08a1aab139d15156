"""The daemon's background sender: takes queued notices from the outbox, groups them, sends, retries.

A post's notices are gathered for :data:`GROUP_WINDOW` (three accounts failing in the same minute
make one notice), or less when the post has nothing left in flight. A notice that cannot be sent to
a target is retried with backoff (:data:`BACKOFF`, doubling, at most :data:`BACKOFF_MAX`) for
:data:`MAX_TRIES` tries, and each failure is logged; a target that has it is never sent it again,
across restarts too. The sender only reads and writes the outbox: it never holds a delivery back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crosspost.config import Settings
from crosspost.delivery.events import LogFn, log_line
from crosspost.notify import outbox, targets
from crosspost.notify.compose import body_of, subject_of
from crosspost.notify.digest import queue_digest_if_due
from crosspost.notify.outbox import DELIVERY, DIGEST, GAVE_UP, NOTICE_SENT, QUEUED, SKIPPED, Notice
from crosspost.redact import redact
from crosspost.store.records import SENT
from crosspost.store.sql import SqlStore

GROUP_WINDOW = timedelta(seconds=60)
# How long one target can take to be tried once: Apprise's slowest default timeouts are mail's (15 s to
# connect, 4 s to read); its web plugins take 4 s + 4 s. Rounded up for a request or two more.
TARGET_SECONDS = 20.0
LEASE_MARGIN = timedelta(seconds=10)
BACKOFF = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
MAX_TRIES = 10  # about five hours of trying
POLL_SECONDS = 1.0
CLOSE_SECONDS = 20.0


def lease_for(urls: int) -> timedelta:
    """How long a sender holds a group: trying each of ``urls`` targets once, plus a margin. A sender killed
    mid-send leaves its group to another (or the next start) after this, not after a fixed five minutes."""
    return timedelta(seconds=TARGET_SECONDS * max(1, urls)) + LEASE_MARGIN


def backoff(tries: int) -> timedelta:
    return min(BACKOFF * (2 ** max(0, tries - 1)), BACKOFF_MAX)


def send_due(store: SqlStore, settings: Settings, now: datetime, log: LogFn, *, final: bool = False) -> int:
    """One round: send every notice group that is ready at ``now``; returns how many groups went out.

    ``final`` (the end of ``daemon --once``): send what is queued without waiting for its group.
    """
    engine = store.engine
    groups: dict[object, list[Notice]] = {}
    for notice in outbox.due(engine, now):
        why_not = _why_not(notice, settings)
        if why_not:
            outbox.settle(engine, [notice.id], state=SKIPPED, now=now, error=why_not, tried=False)
            continue
        key = ("post", notice.post_id) if notice.kind == DELIVERY else ("notice", notice.id)
        groups.setdefault(key, []).append(notice)
    sent = 0
    for group in groups.values():
        if not (final or _ready(store, group, now)):
            continue
        if not outbox.claim(engine, [g.id for g in group], now=now, lease=lease_for(len(settings.notify.urls))):
            continue  # another daemon's sender has it
        sent += _send_group(store, settings, group, now, log)
    return sent


def _ready(store: SqlStore, group: list[Notice], now: datetime) -> bool:
    """A post's group waits while another of its accounts may still fail, up to :data:`GROUP_WINDOW`."""
    first = group[0]
    if first.kind != DELIVERY or first.post_id is None or now - first.created_at >= GROUP_WINDOW:
        return True
    return not outbox.still_waiting(store.engine, first.post_id)


def _send_group(store: SqlStore, settings: Settings, group: list[Notice], now: datetime, log: LogFn) -> bool:
    """Send one claimed group to the targets that lack it, and record the outcome; True if all have it now."""
    engine, secrets, first = store.engine, settings.secrets, group[0]
    ids = [g.id for g in group]
    done = set().union(*(g.done_targets for g in group))
    subject = redact(subject_of(group), secrets)
    body = redact(body_of(group, settings.accounts), secrets)
    results = targets.send(
        settings.notify, subject=subject, body=body, kind=_apprise_kind(group), skip=done, secrets=secrets
    )
    done |= {r.target_id for r in results if r.ok}
    failures = [r for r in results if not r.ok]
    where = {"post": first.post_id} if first.kind == DELIVERY else {"notice": first.kind}
    for r in failures:
        log(log_line("warning", secrets, event="notice", **where, target=r.shown, reason=r.reason))
    if not failures:
        outbox.settle(engine, ids, state=NOTICE_SENT, now=now, done_targets=done)
        accounts = ",".join(g.account or "" for g in group) or None
        log(log_line("info", secrets, event="notice", **where, accounts=accounts, targets=len(done)))
        return True
    tries = max(g.tries for g in group) + 1
    reason = "; ".join(f"{r.shown}: {r.reason}" for r in failures)
    if tries >= MAX_TRIES:
        error = f"gave up after {tries} tries: {reason}"
        outbox.settle(engine, ids, state=GAVE_UP, now=now, error=error, done_targets=done)
        log(log_line("error", secrets, event="notice", **where, outcome="gave_up", reason=reason))
    else:
        again = now + backoff(tries)
        outbox.settle(engine, ids, state=QUEUED, now=now, error=reason, done_targets=done, next_try_at=again)
    return False


def _apprise_kind(group: list[Notice]) -> str:
    """Apprise's notification type (a webhook's ``type``; the colour or icon of a chat message)."""
    kind = group[0].kind
    if kind == DELIVERY:
        return "success" if all(g.status == SENT for g in group) else "failure"
    return "info" if kind == DIGEST else "warning"


def _why_not(notice: Notice, settings: Settings) -> str | None:
    """Why this notice is not worth sending under the current ``[notify]``; None if it is."""
    if not settings.notify.urls:
        return "no [notify] urls in the config"
    if notice.kind == DELIVERY and notice.status not in settings.notify.on:
        return f"{notice.status} is not in [notify] on"
    return None


class NoticeSender:
    """The daemon's sender thread: a round every :data:`POLL_SECONDS` until ``stop`` is set."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        log: LogFn,
        stop: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.log = log
        self.stop = stop
        self.clock = clock
        self.thread = threading.Thread(target=self.run, name="notices", daemon=True)

    def start(self) -> NoticeSender:
        self.thread.start()
        return self

    def run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            self.round()

    def round(self, *, final: bool = False) -> None:
        """One round; ``final`` at the end of ``daemon --once`` (see :func:`send_due`)."""
        try:
            now = self.clock()
            queue_digest_if_due(self.store, self.settings, now)
            send_due(self.store, self.settings, now, self.log, final=final)
        except Exception as exc:  # noqa: BLE001 - a busy database now is no reason to stop telling people
            self.report(exc)

    def report(self, exc: Exception) -> None:
        reason = redact(f"{type(exc).__name__}: {exc}", self.settings.secrets)
        self.log(log_line("warning", self.settings.secrets, event="notice", reason=reason))

    def close(self) -> None:
        """Wait (bounded) for a round under way, so a stop rarely cuts a send in half (its lease would
        then lapse and the targets that did not confirm get it again)."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(CLOSE_SECONDS)
