"""The daemon: the database is the queue; APScheduler drives a short tick that claims due work.

Each tick reads the store's next wake-up time (one cheap indexed query) and,
when something is due, claims it atomically (``sending`` with a lease) and
hands each claim to a worker thread: accounts run in parallel, at most one
request in flight per account. A heartbeat job keeps the daemon's slot and the
leases of in-flight deliveries alive, so a dead daemon's work is found (lease
expired) and reconciled by the next one, never resent blindly.

Workers are daemon threads rather than a ThreadPoolExecutor on purpose: the
interpreter joins an executor's threads at exit, so one stuck request could hold
a SIGTERM past its bound. Ours are waited for up to ``request_timeout`` plus a
margin; anything still running then stays ``sending`` and is reconciled at the
next start.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter
from crosspost.config import AccountConfig, Settings
from crosspost.delivery import LogFn, Policy, deliver, log_line
from crosspost.errors import DaemonRunning
from crosspost.notify.downtime import start_notices
from crosspost.redact import redact
from crosspost.store.records import SENDING, SENT, Claim
from crosspost.store.sql import SqlStore

TICK_SECONDS = 0.25  # a post queued by another process goes out within this (plus a claim) of its due time
HEARTBEAT_SECONDS = 2.0
STALE_AFTER = 15.0  # a daemon silent this long (another host, or a hung process) has lost its slot
LEASE_SECONDS = 6.0  # renewed every heartbeat while a request runs; expires soon after a crash
STOP_MARGIN = 5.0  # on SIGTERM, in-flight requests get request_timeout plus this to finish

AdapterFactory = Callable[[AccountConfig, float], Adapter]
Clock = Callable[[], datetime]


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
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.adapter_factory = adapter_factory
        self.log = log
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.policy = Policy.from_settings(settings)
        self.secrets = settings.secrets
        self.owner = f"pid {os.getpid()} on host {socket.gethostname()}"
        self.stopping = threading.Event()
        self.changed = threading.Event()  # a worker finished: the --once loop and tests look again
        self.lock = threading.Lock()
        self.claim_lock = threading.Lock()
        self.busy: dict[str, Claim] = {}  # account -> the claim whose request is in flight
        self.waiting: dict[str, deque[Claim]] = {}  # claimed but behind another claim of the same account
        self.threads: set[threading.Thread] = set()
        self.adapters: dict[str, Adapter] = {}
        self.outcomes: dict[int, str] = {}  # delivery id -> final status or "retrying", for --once

    # ------------------------------------------------------------ entry points
    def run_forever(self) -> int:
        """Run until :meth:`stop` (SIGTERM/SIGINT through :func:`run_daemon`); returns 0."""
        from apscheduler.schedulers.background import BackgroundScheduler

        with self.presence():
            self.prepare()
            # Without this, APScheduler's "skipped: maximum number of running instances" warnings
            # would reach stderr through logging's last-resort handler whenever a claim runs long.
            logging.getLogger("apscheduler").setLevel(logging.ERROR)
            scheduler = BackgroundScheduler(
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 5}
            )
            scheduler.add_job(self.tick, "interval", seconds=self.tick_seconds, id="tick", next_run_time=self.clock())
            scheduler.add_job(self.beat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat")
            scheduler.start()
            try:
                self.stopping.wait()
            finally:
                scheduler.shutdown(wait=True)  # the running tick (if any) ends; no new claims
                self.drain()
        return 0

    def run_once(self) -> int:
        """Handle what is due now, then return 0 if every delivery handled ended ``sent``, else 1."""
        with self.presence():
            start = self.clock()
            beat_stop = threading.Event()
            beater = threading.Thread(target=self._beat_until, args=(beat_stop,), name="heartbeat", daemon=True)
            beater.start()
            try:
                while not self.stopping.is_set():
                    self.changed.clear()
                    claimed = self.claim_round(start)
                    with self.lock:
                        idle = not self.busy and not any(self.waiting.values())
                    if idle and not claimed:
                        break
                    self.changed.wait(0.2)
            finally:
                beat_stop.set()
                self.drain()
                self.notices.round(final=True)  # notify hook: --once sends the notices it caused
        failed = [i for i, status in self.outcomes.items() if status != SENT]
        return 1 if failed else 0

    def prepare(self) -> None:
        """Make every account's adapter now: importing a platform library takes a while, and the first
        post of the day must not pay for it after its due time."""
        for name in self.settings.accounts:
            try:
                self.adapter(name)
            except Exception as exc:  # noqa: BLE001 - reported again, per delivery, when it is due
                self.log(
                    log_line(
                        "warning", self.secrets, event="start", account=name, reason=redact(str(exc), self.secrets)
                    )
                )

    def adapter(self, name: str) -> Adapter:
        with self.lock:
            adapter = self.adapters.get(name)
        if adapter is None:
            adapter = self.adapter_factory(self.settings.accounts[name], self.settings.request_timeout)
            with self.lock:
                adapter = self.adapters.setdefault(name, adapter)
        return adapter

    def stop(self) -> None:
        """Stop claiming; in-flight requests finish (bounded), then the run methods return."""
        self.stopping.set()
        self.changed.set()

    # ------------------------------------------------------------ the daemon slot
    @contextmanager
    def presence(self) -> Iterator[None]:
        last_seen = self.store.daemon_last_seen()  # notify hook: read before acquire() overwrites it
        self.acquire()
        self.notices = start_notices(self.store, self.settings, self.log, self.stopping, last_seen, self.clock)
        self.log(
            log_line("info", self.secrets, event="start", owner=self.owner, accounts=",".join(self.settings.accounts))
        )
        try:
            yield
        finally:
            self.notices.close()  # notify hook
            self.store.release_daemon(owner=self.owner)
            self.log(log_line("info", self.secrets, event="stop", owner=self.owner))

    def acquire(self) -> None:
        now = self.clock()
        stale_after = STALE_AFTER
        status = self.store.daemon_status()
        if status is not None and _dead_here(status[0]):
            # The holder was on this host and its process is gone (killed): take over now, without
            # waiting for its heartbeat to go stale. Half its heartbeat's age still makes the take-over
            # a compare-and-swap: of two daemons starting together, the second sees a fresh heartbeat.
            stale_after = max(0.0, (now - status[1]).total_seconds() / 2)
        if self.store.acquire_daemon(owner=self.owner, now=now, stale_after=stale_after):
            return
        status = self.store.daemon_status()
        holder, since = (status[0], status[2]) if status else ("unknown", "unknown")
        raise DaemonRunning(
            f"another crosspost daemon ({holder}) is running on this database since {since}; stop it first"
        )

    def beat(self) -> None:
        """Heartbeat: keep the slot, and the leases of everything this daemon holds."""
        now = self.clock()
        try:
            self.store.heartbeat(owner=self.owner, now=now)
            holder = self.store.daemon_status()
            if holder is None or holder[0] != self.owner:
                # Another daemon took the slot over (we looked dead to it): two must never claim together.
                reason = "another daemon took the database over; stopping"
                self.log(log_line("error", self.secrets, event="heartbeat", reason=reason))
                self.stop()
                return
            with self.lock:
                held = [c.delivery_id for c in self.busy.values()]
                held += [c.delivery_id for q in self.waiting.values() for c in q]
            for delivery_id in held:
                self.store.extend_lease(delivery_id, owner=self.owner, until=now + timedelta(seconds=LEASE_SECONDS))
        except Exception as exc:  # noqa: BLE001 - a locked database now is no reason to die; the next beat retries
            self.log(log_line("warning", self.secrets, event="heartbeat", reason=redact(str(exc), self.secrets)))

    def _beat_until(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            self.beat()

    # ------------------------------------------------------------ claiming
    def tick(self) -> None:
        """One scheduler tick: claim if the store says something is due."""
        if self.stopping.is_set():
            return
        now = self.clock()
        try:
            wake = self.store.next_wakeup()
            if wake is not None and wake <= now:
                self.claim_round(now)
        except Exception as exc:  # noqa: BLE001 - the next tick tries again; a daemon must not die of a busy database
            self.log(log_line("warning", self.secrets, event="tick", reason=redact(str(exc), self.secrets)))

    def claim_round(self, now: datetime) -> int:
        """Claim what is due at ``now`` for accounts without a request in flight; start each. Returns how many."""
        if self.stopping.is_set():
            return 0
        with self.claim_lock:
            with self.lock:
                exclude = sorted(self.busy)
            claims = self.store.claim_due(
                now=now, owner=self.owner, lease_seconds=LEASE_SECONDS, exclude_accounts=exclude
            )
            for claim in claims:
                self.start(claim)
        return len(claims)

    def start(self, claim: Claim) -> None:
        with self.lock:
            current = self.busy.get(claim.account)
            if current is not None:
                if current.delivery_id != claim.delivery_id:  # our own in-flight row never runs twice
                    self.waiting.setdefault(claim.account, deque()).append(claim)
                return
            self.busy[claim.account] = claim
            thread = threading.Thread(target=self.work, args=(claim,), name=f"deliver-{claim.account}", daemon=True)
            self.threads.add(thread)
        thread.start()

    # ------------------------------------------------------------ working
    def work(self, claim: Claim) -> None:
        while True:
            self.outcomes[claim.delivery_id] = self.deliver_one(claim)
            with self.lock:
                queue = self.waiting.get(claim.account)
                following = queue.popleft() if queue and not self.stopping.is_set() else None
                if following is None:
                    del self.busy[claim.account]
                    self.threads.discard(threading.current_thread())
                else:
                    self.busy[claim.account] = following
            self.changed.set()
            if following is None:
                break
            claim = following
        if not self.stopping.is_set():
            # Claim this account's next due delivery now rather than at the next tick: a backlog drains
            # at the platform's pace, not the tick's.
            try:
                self.claim_round(self.clock())
            except Exception as exc:  # noqa: BLE001 - the tick will claim it
                self.log(log_line("warning", self.secrets, event="claim", reason=redact(str(exc), self.secrets)))

    def deliver_one(self, claim: Claim) -> str:
        account = self.settings.accounts.get(claim.account)
        try:
            if account is None or account.platform != claim.platform:
                message = (
                    f"account {claim.account!r} ({claim.platform}) is not in the config any more; "
                    "add it back, then use `crosspost retry`"
                )
                self.store.mark_failed(claim.delivery_id, error=message, now=self.clock())
                self.log(
                    log_line(
                        "error",
                        self.secrets,
                        post=claim.post_id,
                        account=claim.account,
                        outcome="no_account",
                        status="failed",
                        reason=message,
                    )
                )
                return "failed"
            return deliver(
                claim,
                self.adapter(claim.account),
                self.store,
                self.policy,
                self.clock,
                secrets=self.secrets,
                log=self.log,
            )
        except Exception as exc:  # noqa: BLE001 - the row stays sending; its lease expires and it is reconciled
            self.log(
                log_line(
                    "error",
                    self.secrets,
                    post=claim.post_id,
                    account=claim.account,
                    outcome="internal",
                    status=SENDING,
                    reason=redact(f"{type(exc).__name__}: {exc}", self.secrets),
                )
            )
            return "error"

    def drain(self) -> None:
        """Wait (bounded) for in-flight requests; give back claims that never started."""
        self.stopping.set()
        deadline = self.clock() + timedelta(seconds=self.settings.request_timeout + STOP_MARGIN)
        while True:
            with self.lock:
                threads = list(self.threads)
            if not threads:
                break
            left = (deadline - self.clock()).total_seconds()
            if left <= 0:
                self.log(
                    log_line(
                        "warning",
                        self.secrets,
                        event="stop",
                        reason=f"{len(threads)} request(s) still running; reconciled at the next start",
                    )
                )
                break
            threads[0].join(min(left, 0.5))
        with self.lock:
            unstarted = [c for q in self.waiting.values() for c in q]
            self.waiting.clear()
        for claim in unstarted:
            if claim.status_before != SENDING:  # a dead daemon's row stays for the next start to reconcile
                self.store.release(claim.delivery_id, status=claim.status_before)


def _dead_here(owner: str) -> bool:
    """Whether ``owner`` ("pid N on host H") was a process on this host that no longer exists."""
    match = re.fullmatch(r"pid (\d+) on host (.+)", owner)
    if not match or match.group(2) != socket.gethostname():
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True  # our own stale row, from a process that had our pid before
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


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
