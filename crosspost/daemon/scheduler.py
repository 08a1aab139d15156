"""The scheduler: when to claim, and what. The database is the queue; this only decides when to ask it.

Each tick reads the store's next wake-up time (one cheap indexed query) and,
when something is due, claims it atomically (``sending`` with a lease and a
fence) and hands each claim to the workers. A stale claim (its daemon died or
froze) is taken over only ``request_timeout`` plus a margin after its lease
lapsed: its last request can no longer land, so the new owner's look-up tells
the truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from crosspost.config import Settings
from crosspost.daemon.presence import LEASE_SECONDS
from crosspost.daemon.workers import Workers
from crosspost.delivery import LogFn, log_line
from crosspost.delivery.policy import TAKEOVER_MARGIN
from crosspost.redact import redact
from crosspost.store.sql import SqlStore

Clock = Callable[[], datetime]


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
        self.takeover_after = settings.request_timeout + TAKEOVER_MARGIN.total_seconds()
        self.claim_lock = threading.Lock()

    def tick(self) -> int:
        """Claim if the store says something is due now; returns how many were claimed."""
        if self.stopping.is_set():
            return 0
        now = self.clock()
        try:
            wake = self.store.next_wakeup()
            if wake is not None and wake <= now:
                return self.claim_round(now)
        except Exception as exc:  # noqa: BLE001 - the next tick tries again; a daemon must not die of a busy database
            self.log(log_line("warning", self.secrets, event="tick", reason=redact(str(exc), self.secrets)))
        return 0

    def claim_round(self, now: datetime) -> int:
        """Claim what is due at ``now`` for accounts without a request in flight; start each. Returns how many."""
        if self.stopping.is_set():
            return 0
        with self.claim_lock:
            claims = self.store.claim_due(
                now=now,
                owner=self.owner,
                lease_seconds=LEASE_SECONDS,
                exclude_accounts=self.workers.busy_accounts(),
                takeover_after=self.takeover_after,
            )
            for claim in claims:
                self.workers.start(claim)
        return len(claims)
