"""The daemon: the database is the queue; a timer wakes at the next due time and claims it for the workers.

Named parts, one concern each:

- :mod:`~crosspost.daemon.presence`: the slot on the database (SQLite: one daemon; PostgreSQL: any
  number) and the heartbeat (which also renews the leases of the claims held);
- :mod:`~crosspost.daemon.scheduler`: when to claim and what, on APScheduler's date trigger, woken
  by nudges (take-overs of stale claims included);
- :mod:`~crosspost.daemon.workers`: one thread per account, at most one request in flight each.

:class:`Daemon` wires them, and :meth:`Daemon.drive` runs both ``crosspost daemon``
(until stopped) and ``crosspost daemon --once`` (until what was due at its start is handled).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

from crosspost.adapters import adapter_for
from crosspost.config import Settings
from crosspost.daemon.presence import HEARTBEAT_SECONDS, LEASE_SECONDS, STALE_AFTER, Presence, owner_name
from crosspost.daemon.scheduler import Scheduler
from crosspost.daemon.workers import STOP_MARGIN, AdapterFactory, Workers
from crosspost.delivery import LogFn
from crosspost.notify.downtime import start_notices
from crosspost.statuses import SENT
from crosspost.store.sql import SqlStore

ONCE_POLL_SECONDS = 0.2  # --once: how often it looks whether its workers are done

Clock = Callable[[], datetime]

__all__ = [
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "STALE_AFTER",
    "STOP_MARGIN",
    "Daemon",
    "run_daemon",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Daemon:
    """Publishes due deliveries from ``store`` until stopped (:meth:`run_forever`) or once (:meth:`run_once`)."""

    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        adapter_factory: AdapterFactory = adapter_for,
        log: LogFn = stderr_line,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.log = log
        self.clock = clock
        self.owner = owner_name()
        self.stopping = threading.Event()
        self.changed = threading.Event()  # a worker finished: the driver looks again
        self.workers = Workers(
            settings,
            store,
            adapter_factory,
            log,
            clock=clock,
            stopping=self.stopping,
            changed=self.changed,
            after_work=lambda account: self.scheduler.account_free(account),
            claim_next=lambda conn, account: self.scheduler.claim_next(conn, account),
        )
        self.scheduler = Scheduler(settings, store, self.workers, self.owner, log, clock=clock, stopping=self.stopping)
        self.presence = Presence(
            store,
            self.owner,
            clock=clock,
            exclusive=store.sqlite_file is not None,
            log=log,
            secrets=settings.secrets,
            held_claims=self.workers.held,
            on_lost=self.stop,
        )

    def run_forever(self) -> int:
        """Run until :meth:`stop` (SIGTERM/SIGINT through :func:`run_daemon`); returns 0."""
        return self.drive(once=False)

    def run_once(self) -> int:
        """Handle what is due now, then return 0 if every delivery handled ended ``sent``, else 1."""
        return self.drive(once=True)

    def drive(self, *, once: bool) -> int:
        """Forever: the scheduler's timer and nudges claim, until stopped. Once: claim what was due at the
        start (again whenever a worker finishes, so one account's backlog drains), until nothing is left."""
        with self.presence.held(",".join(self.settings.accounts)):
            start = self.clock()
            notices = start_notices(
                self.store, self.settings, self.log, self.stopping, self.presence.last_seen, self.clock
            )
            try:
                if once:
                    while not self.stopping.is_set():
                        self.changed.clear()
                        if not self.scheduler.claim_round(start) and self.workers.idle():
                            break
                        self.changed.wait(ONCE_POLL_SECONDS)
                else:
                    self.workers.prepare()
                    self.scheduler.start()
                    self.stopping.wait()
            finally:
                self.scheduler.stop()
                self.workers.drain()
                if once:
                    notices.round(final=True)  # --once sends the notices it caused before it exits
                notices.close()
        if not once:
            return 0
        return 1 if any(status != SENT for status in self.workers.outcomes.values()) else 0

    def stop(self) -> None:
        """Stop claiming; in-flight requests finish (bounded), then the run methods return."""
        self.stopping.set()
        self.changed.set()


def run_daemon(settings: Settings, *, once: bool, log: LogFn, adapter_factory: AdapterFactory = adapter_for) -> int:
    """``crosspost daemon [--once]``: the exit status. Raises DaemonRunning when another holds the database.

    SIGTERM and SIGINT stop it cleanly (exit 0 from the forever loop).
    """
    store = SqlStore(settings.database_url, settings.media_dir)
    try:
        daemon = Daemon(settings, store, adapter_factory, log)
        with _signals(daemon.stop):
            return daemon.run_once() if once else daemon.run_forever()
    finally:
        store.close()


@contextmanager
def _signals(stop: Callable[[], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
