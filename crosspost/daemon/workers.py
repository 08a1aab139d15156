"""The per-account workers: one long-lived thread per account, at most one request in flight each.

A fixed set: an account's thread is made at its first claim and lives until
the daemon stops, taking its account's claims one after the other from a
queue. Fifty accounts are fifty threads however long the backlog; no thread
is made per delivery, and none claims (the scheduler is the one claimer: a
worker that finishes only tells it, through ``after_work``, which account is
free), or claims that account's next delivery inside the transaction that
settles the one it finished (``claim_next``: one write transaction per
delivery, where there were two). Workers are daemon threads rather than a ThreadPoolExecutor on
purpose: the interpreter joins an executor's threads at exit, so one stuck
request could hold a SIGTERM past its bound. Ours are waited for up to
``request_timeout`` plus a margin; anything still running then stays
``sending`` and is reconciled at the next start.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from crosspost.adapters.base import Adapter
from crosspost.config import AccountConfig, Settings
from crosspost.delivery import LogFn, Policy, deliver, log_line
from crosspost.redact import redact
from crosspost.statuses import FAILED, OUT_LOST_CLAIM, SENDING
from crosspost.store.records import Claim, Fence
from crosspost.store.sql import SqlStore

if TYPE_CHECKING:
    from crosspost.store.direct import Tx

STOP_MARGIN = 5.0  # on SIGTERM, in-flight requests get request_timeout plus this to finish

AdapterFactory = Callable[[AccountConfig, float], Adapter]
# (the settle's connection, an account) -> the claims made for it in that transaction
ClaimNext = Callable[["Tx", str], list[Claim]]
Clock = Callable[[], datetime]


class Workers:
    """Runs each claim on its account's worker thread; ``after_work(account)`` is called when one finishes."""

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
        after_work: Callable[[str], object],
        claim_next: ClaimNext | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.adapter_factory = adapter_factory
        self.log = log
        self.clock = clock
        self.stopping = stopping
        self.changed = changed  # set when a worker finished: the driver looks again
        self.after_work = after_work  # the scheduler claims the account's next due delivery at once
        self.claim_next = claim_next  # the same, inside the settle's own transaction (see work())
        self.policy = Policy.from_settings(settings)
        self.secrets = settings.secrets
        # The contract's rule: a notice for each delivery that reaches a status in [notify] on; a status
        # outside it (`sent`, by default) gets no outbox row at all (see crosspost.notify.outbox).
        self.notify_on = settings.notify.on
        self.lock = threading.Lock()
        # Per account: a claim was queued for it, or the daemon is stopping. One condition for all woke every
        # account's thread at each claim (fifty threads to the interpreter lock, for one to find work).
        self.ready: dict[str, threading.Condition] = {}
        self.busy: dict[str, Claim] = {}  # account -> the claim whose request is in flight
        self.waiting: dict[str, deque[Claim]] = {}  # claimed, for the account's thread to take next
        self.threads: dict[str, threading.Thread] = {}  # one per account, for the daemon's life
        self.adapters: dict[str, Adapter] = {}
        self.outcomes: dict[int, str] = {}  # delivery id -> final status, "retrying" or "lost", for --once

    # ------------------------------------------------------------ what the others ask
    def busy_accounts(self) -> list[str]:
        """Accounts with a claim in flight or queued here: the scheduler claims nothing more for them."""
        with self.lock:
            return sorted({*self.busy, *(a for a, q in self.waiting.items() if q)})

    def idle(self) -> bool:
        with self.lock:
            return not self.busy and not any(self.waiting.values())

    def held(self) -> list[Fence]:
        """The fences of every claim this daemon holds (in flight or waiting): the heartbeat renews them."""
        with self.lock:
            claims = [*self.busy.values(), *(c for q in self.waiting.values() for c in q)]
        return [c.fence for c in claims]

    def thread_count(self) -> int:
        with self.lock:
            return len(self.threads)

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
        """Queue ``claim`` for its account's thread (made on the account's first claim)."""
        with self.lock:
            queued = self.waiting.setdefault(claim.account, deque())
            current = self.busy.get(claim.account)
            if (current is not None and current.delivery_id == claim.delivery_id) or any(
                c.delivery_id == claim.delivery_id for c in queued
            ):
                return  # our own claimed row never runs twice
            queued.append(claim)
            ready = self.ready.get(claim.account)
            if ready is None:
                ready = self.ready[claim.account] = threading.Condition(self.lock)
            if claim.account not in self.threads:
                thread = threading.Thread(
                    target=self.work, args=(claim.account,), name=f"deliver-{claim.account}", daemon=True
                )
                self.threads[claim.account] = thread
                thread.start()
            ready.notify()

    def work(self, account: str) -> None:
        """The account's thread: take its next claim, deliver it, tell the scheduler; until stopping."""
        queue = self.waiting[account]
        with self.lock:
            ready = self.ready[account]
        while True:
            with self.lock:
                while not queue and not self.stopping.is_set():
                    ready.wait()
                if self.stopping.is_set():
                    break  # what is still queued is given back by drain()
                claim = queue.popleft()
                self.busy[account] = claim
            followed: list[list[Claim]] = []  # the next claims, made in the settle's transaction
            if self.hold_until_due(claim):
                self.outcomes[claim.delivery_id] = self.deliver_one(claim, followed)
            for claimed in followed[0] if followed else ():
                self.start(claimed)  # queued before this account stops counting as busy
            with self.lock:
                del self.busy[account]
            self.changed.set()
            if self.stopping.is_set():
                break
            if followed and all(c.account == account for c in followed[0]):
                continue  # the account's next is claimed (or nothing is due for it): no round needed
            try:
                self.after_work(account)  # a backlog drains at the platform's pace, not a tick's
            except Exception as exc:  # noqa: BLE001 - the scheduler's re-check claims it
                self.log(log_line("warning", self.secrets, event="claim", reason=redact(str(exc), self.secrets)))
        with self.lock:
            self.threads.pop(account, None)

    def hold_until_due(self, claim: Claim) -> bool:
        """A claim made a little ahead of its due time waits for it here: nothing goes out early. False (and
        the claim given back, as drain would) when the daemon stops meanwhile."""
        not_before = claim.extra.get("not_before")
        if isinstance(not_before, datetime):
            delay = (not_before - self.clock()).total_seconds()
            if delay > 0 and self.stopping.wait(delay):
                with self.lock:
                    self.waiting[claim.account].appendleft(claim)
                return False
        return True

    def deliver_one(self, claim: Claim, followed: list[list[Claim]] | None = None) -> str:
        """Deliver ``claim``; the claims its settle's transaction made for the account are appended to
        ``followed`` (nothing appended: that transaction did not claim, the scheduler must)."""
        account = self.settings.accounts.get(claim.account)

        def then(conn: Tx) -> None:
            assert self.claim_next is not None and followed is not None
            followed.append(self.claim_next(conn, claim.account))

        use_then = self.claim_next is not None and followed is not None
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
                notify_on=self.notify_on,
                then=then if use_then else None,
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
        with self.lock:
            for ready in self.ready.values():
                ready.notify_all()
        deadline = self.clock() + timedelta(seconds=self.settings.request_timeout + STOP_MARGIN)
        while True:
            with self.lock:
                threads = list(self.threads.values())
            if not threads:
                break
            left = (deadline - self.clock()).total_seconds()
            if left <= 0:
                with self.lock:
                    running = len(self.busy)
                reason = f"{running} request(s) still running; reconciled at the next start"
                self.log(log_line("warning", self.secrets, event="stop", reason=reason))
                break
            threads[0].join(min(left, 0.5))
        with self.lock:
            unstarted = [c for q in self.waiting.values() for c in q]
            for queue in self.waiting.values():
                queue.clear()
        for claim in unstarted:
            # A dead daemon's row stays for the next start to reconcile; a refused release was taken over.
            if claim.status_before != SENDING and not self.store.release(
                claim.delivery_id, status=claim.status_before, fence=claim.fence
            ):
                self.report(claim, "warning", OUT_LOST_CLAIM, SENDING, "taken over before it started")
