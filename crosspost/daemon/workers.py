"""The per-account workers: at most one request in flight per account, accounts in parallel.

A claim for an account that is busy waits behind the one in flight, in this
daemon, rather than going back to the database. Workers are daemon threads
rather than a ThreadPoolExecutor on purpose: the interpreter joins an executor's
threads at exit, so one stuck request could hold a SIGTERM past its bound. Ours
are waited for up to ``request_timeout`` plus a margin; anything still running
then stays ``sending`` and is reconciled at the next start.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from crosspost.adapters.base import Adapter
from crosspost.config import AccountConfig, Settings
from crosspost.delivery import LogFn, Policy, deliver, log_line
from crosspost.redact import redact
from crosspost.statuses import FAILED, OUT_LOST_CLAIM, SENDING
from crosspost.store.records import Claim, Fence
from crosspost.store.sql import SqlStore

STOP_MARGIN = 5.0  # on SIGTERM, in-flight requests get request_timeout plus this to finish

AdapterFactory = Callable[[AccountConfig, float], Adapter]
Clock = Callable[[], datetime]


class Workers:
    """Runs each claim on its account's worker thread; ``on_idle`` is called when a worker finishes."""

    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        adapter_factory: AdapterFactory,
        log: LogFn,
        *,
        clock: Clock,
        stopping: threading.Event,
        changed: threading.Event,
        after_work: Callable[[], object],
    ) -> None:
        self.settings = settings
        self.store = store
        self.adapter_factory = adapter_factory
        self.log = log
        self.clock = clock
        self.stopping = stopping
        self.changed = changed  # set when a worker finished: the driver looks again
        self.after_work = after_work  # claim the account's next due delivery at once
        self.policy = Policy.from_settings(settings)
        self.secrets = settings.secrets
        self.lock = threading.Lock()
        self.busy: dict[str, Claim] = {}  # account -> the claim whose request is in flight
        self.waiting: dict[str, deque[Claim]] = {}  # claimed but behind another claim of the same account
        self.threads: set[threading.Thread] = set()
        self.adapters: dict[str, Adapter] = {}
        self.outcomes: dict[int, str] = {}  # delivery id -> final status, "retrying" or "lost", for --once

    # ------------------------------------------------------------ what the others ask
    def busy_accounts(self) -> list[str]:
        with self.lock:
            return sorted(self.busy)

    def idle(self) -> bool:
        with self.lock:
            return not self.busy and not any(self.waiting.values())

    def held(self) -> list[Fence]:
        """The fences of every claim this daemon holds (in flight or waiting): the heartbeat renews them."""
        with self.lock:
            claims = [*self.busy.values(), *(c for q in self.waiting.values() for c in q)]
        return [c.fence for c in claims]

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

    # ------------------------------------------------------------ working
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
            # A backlog drains at the platform's pace, not the tick's.
            try:
                self.after_work()
            except Exception as exc:  # noqa: BLE001 - the tick will claim it
                self.log(log_line("warning", self.secrets, event="claim", reason=redact(str(exc), self.secrets)))

    def deliver_one(self, claim: Claim) -> str:
        account = self.settings.accounts.get(claim.account)
        try:
            if account is None or account.platform != claim.platform:
                return self.no_account(claim)
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
            self.report(claim, "error", "internal", SENDING, redact(f"{type(exc).__name__}: {exc}", self.secrets))
            return "error"

    def no_account(self, claim: Claim) -> str:
        message = (
            f"account {claim.account!r} ({claim.platform}) is not in the config any more; "
            "add it back, then use `crosspost retry`"
        )
        if not self.store.mark_failed(claim.delivery_id, error=message, now=self.clock(), fence=claim.fence):
            self.report(claim, "warning", OUT_LOST_CLAIM, SENDING, "another daemon took this delivery over")
            return "lost"
        self.report(claim, "error", "no_account", FAILED, message)
        return FAILED

    def report(self, claim: Claim, level: str, outcome: str, status: str, reason: str) -> None:
        self.log(
            log_line(
                level,
                self.secrets,
                post=claim.post_id,
                account=claim.account,
                outcome=outcome,
                status=status,
                reason=reason,
            )
        )

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
                reason = f"{len(threads)} request(s) still running; reconciled at the next start"
                self.log(log_line("warning", self.secrets, event="stop", reason=reason))
                break
            threads[0].join(min(left, 0.5))
        with self.lock:
            unstarted = [c for q in self.waiting.values() for c in q]
            self.waiting.clear()
        for claim in unstarted:
            # A dead daemon's row stays for the next start to reconcile; a refused release was taken over.
            if claim.status_before != SENDING and not self.store.release(
                claim.delivery_id, status=claim.status_before, fence=claim.fence
            ):
                self.report(claim, "warning", OUT_LOST_CLAIM, SENDING, "taken over before it started")
