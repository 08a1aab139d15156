"""The scheduler: when to claim, and what. The database is the queue; this only decides when to ask it.

A wake-up, not a poll. APScheduler 3's ``BackgroundScheduler`` holds one
date-trigger job, ``claim``, timed for the next due time less ``AHEAD``
(its thread sleeps on a timed condition wait until then). The job runs one
claim round, then times itself again from the store's next due time. It is
brought forward (``add_job`` with ``replace_existing``, which wakes the
scheduler's thread) when:

- a worker finishes: its account is free, and its next delivery is claimed at once (on that worker's
  thread, see :meth:`Scheduler.account_free`);
- a nudge arrives (:mod:`crosspost.store.wake`: ``queue``, ``reschedule`` and
  ``retry`` send one after their write);
- the slow re-check, every ``RECHECK_SECONDS``, finds work due that no nudge
  announced (a lost nudge, another daemon's account freed, a dead daemon's
  lease run out). It is one read of three indexed minimums: cheaper than the
  old four-a-second tick.

Claims are made ``AHEAD`` of the due time so the request leaves on it: the
worker holds such a claim until its due time (nothing goes out early).

One claimer: every round runs under ``claim_lock``; a round asks only the
idle accounts it has a reason to ask (all of them when timed or nudged, the
freed one when a worker finished), each for its one next delivery.

A stale claim (its daemon died or froze) is taken over only ``request_timeout``
plus a margin after its lease lapsed: its last request can no longer land, so
the new owner's look-up tells the truth.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crosspost.config import Settings
from crosspost.daemon.presence import LEASE_SECONDS
from crosspost.daemon.workers import Workers
from crosspost.delivery import LogFn, log_line
from crosspost.delivery.policy import TAKEOVER_MARGIN
from crosspost.redact import redact
from crosspost.store.records import Claim
from crosspost.store.sql import SqlStore
from crosspost.store.wake import Listener

if TYPE_CHECKING:
    from crosspost.store.direct import Tx

Clock = Callable[[], datetime]

# Claim this long before the due time, so the claim's transaction is done when the request must leave. It
# is the one step between a due time and its request that waits for SQLite's write lock, and another
# process (a `crosspost queue`) may hold that lock: its waiters then sleep in SQLite's busy handler, in
# steps of up to 100 ms. At 50 ms ahead, one post queued 0.3 s before its time went out 241 ms late (most
# likely such a wait behind a queue's commit, fsynced then: see store.engine); 200 ms covers two of those
# steps. The cost: a daemon killed in those 200 ms leaves the row `sending`, looked up at the next start
# like any interrupted try.
AHEAD = 0.2
RECHECK_SECONDS = 1.0  # the safety net under the nudges: work due is found within this, nudge or not
SWEEP_SECONDS = 5.0  # how often a round also looks for accounts missing from the config (a backlog walk)
JOB_ID = "claim"
CLAIM_LIMIT = 100  # claims in one round at most (one per account): a round's transaction stays short


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        workers: Workers,
        owner: str,
        log: LogFn,
        *,
        clock: Clock,
        stopping: threading.Event,
    ) -> None:
        self.store = store
        self.workers = workers
        self.owner = owner
        self.log = log
        self.clock = clock
        self.stopping = stopping
        self.secrets = settings.secrets
        self.accounts = list(settings.accounts)
        self.takeover_after = settings.request_timeout + TAKEOVER_MARGIN.total_seconds()
        self.claim_lock = threading.Lock()  # one claimer
        self.flags = threading.Lock()  # guards the three below, and the job's timing
        self.free: set[str] = set()  # accounts whose worker finished: ask them in the next round
        self.full_at: datetime | None = None  # a round at or after this asks every idle account
        self.last_sweep: datetime | None = None
        self.aps: Any = None  # apscheduler BackgroundScheduler, while running
        self.listener: Listener | None = None
        self.recheck_thread: threading.Thread | None = None

    # ------------------------------------------------------------ running (crosspost daemon)
    def start(self) -> None:
        """Start the timer and the nudge listener; the first round (a full one) runs at once."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        # Its per-run INFO lines would be noise in the daemon's log (the daemon logs its own claims).
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(2)},
            # A run is never skipped for a running one (APScheduler drops a run when max_instances are busy,
            # and a dropped timed run would wait for the re-check): extra instances wait on claim_lock, and
            # one whose time has not come finds nothing to do.
            job_defaults={"coalesce": True, "max_instances": 16, "misfire_grace_time": None},
        )
        aps.start()
        self.aps = aps
        self.listener = Listener(self.store.url, self.store.sqlite_file)
        self.recheck_thread = threading.Thread(target=self._listen, name="wake", daemon=True)
        self.recheck_thread.start()
        self.kick(self.clock(), full=True)

    def stop(self) -> None:
        """Stop the timer and the listener (a round in progress finishes; claims stay with the workers)."""
        if self.listener is not None:
            self.listener.close()
        if self.aps is not None:
            self.aps.shutdown(wait=True)
            self.aps = None
        if self.recheck_thread is not None:
            self.recheck_thread.join(RECHECK_SECONDS + 5)

    def kick(self, when: datetime, *, full: bool) -> None:
        """Have a round run at ``when`` (now, if past), unless one is already timed sooner. ``full``: it asks
        every idle account (else only the freed ones)."""
        from apscheduler.triggers.date import DateTrigger

        with self.flags:
            if full:
                self.full_at = when if self.full_at is None else min(self.full_at, when)
            aps = self.aps
            if aps is None or self.stopping.is_set():
                return
            # APScheduler's clock is the wall clock; ours may be a test's. Only the delay crosses over.
            delay = max(0.0, (when - self.clock()).total_seconds())
            run_at = datetime.now(UTC) + timedelta(seconds=delay)
            job = aps.get_job(JOB_ID)
            if job is not None and job.next_run_time is not None and job.next_run_time <= run_at:
                return
            aps.add_job(self._timed, DateTrigger(run_date=run_at, timezone=UTC), id=JOB_ID, replace_existing=True)

    def account_free(self, account: str) -> None:
        """A worker finished: claim its account's next due delivery now (the workers' ``after_work``).

        Run on the finishing worker's own thread, not through the timer: a backlog then drains at the
        platform's pace with no hand-off between threads. It is still one claimer (``claim_lock``), and
        the round asks only this account, so it costs one index probe."""
        with self.flags:
            self.free.add(account)
        self.round(self.clock())

    def claim_next(self, conn: Tx, account: str) -> list[Claim]:
        """A worker settles its delivery: claim its account's next due one in that same transaction (the
        workers' ``claim_next``), so a drain costs one write transaction per delivery.

        No ``claim_lock`` here, on purpose: the settle holds the write lock (SQLite) and a round holds
        ``claim_lock`` while it waits for that lock, so taking both would deadlock. Nothing is lost: the
        database serializes claimers (BEGIN IMMEDIATE, PostgreSQL's claim lock), and a round never asks
        for this account meanwhile, since its worker counts as busy until the claim is queued."""
        if self.stopping.is_set():
            return []
        from crosspost.store.claims import claim_due

        busy = [a for a in self.workers.busy_accounts() if a != account]
        return claim_due(
            conn,
            now=self.clock(),
            owner=self.owner,
            lease_seconds=LEASE_SECONDS,
            limit=1,
            exclude_accounts=busy,
            takeover_after=self.takeover_after,
            accounts=[account],
            ahead=AHEAD,
            daemons=self.daemons(),  # several daemons: keep to this one's share, as a round does
        )

    def _timed(self) -> None:
        try:
            self.round(self.clock())
        except Exception as exc:  # noqa: BLE001 - the re-check tries again; a daemon must not die of a busy database
            self.log(log_line("warning", self.secrets, event="claim", reason=redact(str(exc), self.secrets)))

    def _listen(self) -> None:
        """Wait for a nudge (or RECHECK_SECONDS); then look whether work is due, and time the round for it."""
        assert self.listener is not None
        while not self.stopping.is_set():
            self.listener.wait(RECHECK_SECONDS)
            if self.stopping.is_set():
                break
            try:
                self.recheck()
            except Exception as exc:  # noqa: BLE001 - the next look tries again (a database restarting, say)
                self.log(log_line("warning", self.secrets, event="wake", reason=redact(str(exc), self.secrets)))

    def recheck(self) -> None:
        """One indexed read: when is work next due (a lapsed lease included)? Time a full round for it."""
        wake = self.store.next_wakeup()
        if wake is not None:
            self.kick(wake - timedelta(seconds=AHEAD), full=True)

    # ------------------------------------------------------------ claiming
    def round(self, now: datetime, *, ahead: float = AHEAD) -> int:
        """Claim, for the idle accounts this round has a reason to ask, each one's next due delivery (up to
        ``ahead`` seconds early); start each. Then time the next round. Returns how many were claimed."""
        if self.stopping.is_set():
            return 0
        with self.claim_lock:
            with self.flags:
                full = self.full_at is not None and self.full_at <= now + timedelta(seconds=ahead)
                if full:
                    self.full_at = None
                free, self.free = self.free, set()
            claimed = 0
            busy = set(self.workers.busy_accounts())
            names = [a for a in (self.accounts if full else sorted(free)) if a not in busy]
            sweep = full and (self.last_sweep is None or (now - self.last_sweep).total_seconds() >= SWEEP_SECONDS)
            if names or sweep:
                claimed = self._claim(now, None if sweep else names, busy, ahead, daemons=self.daemons())
                if sweep:
                    self.last_sweep = now
            # Timing the next round is for full rounds; a freed account's round leaves it to the re-check,
            # which times a retry its worker just set (within RECHECK_SECONDS; a retry waits longer).
            later = self.store.next_due_after(now + timedelta(seconds=ahead)) if full else None
        if later is not None:
            self.kick(later - timedelta(seconds=ahead), full=True)
        return claimed

    def claim_round(self, now: datetime) -> int:
        """``--once``: claim what is due at ``now`` (every account with work, none ahead); start each."""
        if self.stopping.is_set():
            return 0
        with self.claim_lock:
            return self._claim(now, None, set(self.workers.busy_accounts()), 0.0)

    def daemons(self) -> int:
        """How many daemons share the database. SQLite: one. PostgreSQL: the live ones, counted by their
        presence locks; the claim then takes this daemon's share of the accounts with work, so three daemons
        on three busy accounts take one each and keep it, and when one dies the others take its share."""
        if self.store.sqlite_file is not None:
            return 1
        from crosspost.store.wake import live_daemons

        return live_daemons(self.store.engine)

    def _claim(
        self, now: datetime, accounts: list[str] | None, busy: set[str], ahead: float, *, daemons: int = 1
    ) -> int:
        claims = self.store.claim_due(
            now=now,
            owner=self.owner,
            limit=CLAIM_LIMIT,
            daemons=daemons,
            lease_seconds=LEASE_SECONDS,
            exclude_accounts=sorted(busy),
            takeover_after=self.takeover_after,
            accounts=accounts,
            ahead=ahead,
        )
        for claim in claims:
            self.workers.start(claim)
        return len(claims)
