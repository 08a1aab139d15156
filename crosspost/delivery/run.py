""":func:`deliver`: one claimed delivery, from the request to its recorded outcome.

The claim already saved ``sending`` (the store did it atomically), so nothing is
written before the request. After it, every outcome is recorded as a history
row and the delivery leaves ``sending`` for exactly one status.

Why the care with ambiguity: a timeout or a dropped connection may hide a post
that was made. Resending then would publish twice, the worst outcome there is.
So an ambiguous try is always looked up (:meth:`Adapter.find`) first, and when
the platform cannot settle it, the delivery becomes ``unknown`` and waits for a
person (``crosspost retry``), never for a blind resend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    LookupUnavailable,
    PlatformError,
    RateLimited,
    Receipt,
    Rejected,
    Transient,
)
from crosspost.delivery.events import LogFn, log_line
from crosspost.delivery.policy import Policy
from crosspost.model import Draft, Progress
from crosspost.redact import redact
from crosspost.store.records import FAILED, MISSED, SENDING, SENT, UNKNOWN, Claim
from crosspost.store.sql import SqlStore

RETRYING = "retrying"
# History outcomes that mean "an earlier request may have landed".
MAYBE_LANDED = frozenset({"ambiguous", "interrupted"})


def platform_name(platform: str) -> str:
    from crosspost.platforms import display_name

    return display_name(platform)


def deliver(
    claim: Claim,
    adapter: Adapter,
    store: SqlStore,
    policy: Policy,
    now_fn: Callable[[], datetime],
    *,
    secrets: Iterable[str] = (),
    log: LogFn | None = None,
) -> str:
    """Publish ``claim`` through ``adapter`` and record the outcome; returns the final status or ``"retrying"``.

    Never raises for a platform's or an adapter's failure (those become
    statuses); a store failure propagates, leaving the delivery ``sending``
    under its lease, to be reconciled when the lease expires.
    """
    return _Delivery(claim, adapter, store, policy, now_fn, frozenset(secrets), log).run()


class _Continue(Exception):
    """A look-up found some thread parts: publish the rest in this same claim."""


class _Delivery:
    def __init__(
        self,
        claim: Claim,
        adapter: Adapter,
        store: SqlStore,
        policy: Policy,
        now_fn: Callable[[], datetime],
        secrets: frozenset[str],
        log: LogFn | None,
    ) -> None:
        self.claim = claim
        self.adapter = adapter
        self.store = store
        self.policy = policy
        self.now_fn = now_fn
        self.secrets = secrets
        self.log = log
        self.attempts = claim.attempts
        self.first_doubt: datetime | None = None  # start of the first try in this run that may have landed
        self.name = platform_name(claim.platform)

    # ------------------------------------------------------------ the flow
    def run(self) -> str:
        claim = self.claim
        claim.progress.on_change = lambda p: self.store.save_progress(claim.delivery_id, p)
        if claim.status_before == SENDING:
            status = self.reconcile_interrupted()
            if status is not None:
                return status
        now = self.now_fn()
        if not claim.progress.parts and now > claim.due_at + self.policy.late_limit:
            return self.missed(now)
        return self.publish_until_settled()

    def publish_until_settled(self) -> str:
        # Loops only when a look-up found more thread parts, so progress grows each turn.
        while True:
            try:
                return self.publish_once()
            except _Continue:
                continue

    def publish_once(self) -> str:
        started = self.now_fn()
        clock = time.monotonic()
        try:
            receipt = self.adapter.publish(self.claim.draft, self.claim.progress)
        except PlatformError as exc:
            error: PlatformError = exc
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not crash the daemon nor cause a blind resend
            error = Ambiguous(self.clean(f"unexpected {type(exc).__name__} in the {self.name} adapter: {exc}"))
        else:
            self.attempts += 1
            self.record(started, clock, "sent", None, None, is_try=True)
            return self.sent(receipt.remote_id, receipt.url, "sent")
        self.attempts += 1
        message = self.clean(error.message)
        self.record(started, clock, error.kind, error.code, message, is_try=True)
        return self.classify(error, message, started)

    def classify(self, error: PlatformError, message: str, started: datetime) -> str:
        if isinstance(error, RateLimited):
            now = self.now_fn()
            wait_until = error.reset_at if error.reset_at is not None and error.reset_at > now else None
            return self.retry_later(error.kind, message, at=wait_until, after=error.retry_after)
        if isinstance(error, Transient):
            return self.retry_later(error.kind, message, after=error.retry_after)
        if isinstance(error, AuthError):
            return self.failed(error.kind, f"{self.name} refused access: {message}")
        if isinstance(error, Rejected):
            if error.duplicate and self.doubted_before():
                return self.settle_duplicate(message)
            return self.failed(error.kind, f"{self.name} refused the post: {message}")
        # Ambiguous, or any other PlatformError an adapter should not have raised from publish.
        self.first_doubt = self.first_doubt or started
        return self.settle_ambiguous(error.kind, message, started)

    # ------------------------------------------------------------ reconciliation
    def reconcile_interrupted(self) -> str | None:
        """A dead daemon left this ``sending``: its request may have landed. Look before any resend."""
        claim = self.claim
        began = max(claim.due_at, claim.last_try_at or claim.due_at)
        # The lost try counts: its request probably went out, and a crash loop must still run out of tries.
        self.attempts += 1
        self.store.record_attempt(
            claim.delivery_id,
            at=began,
            seconds=0.0,
            outcome="interrupted",
            code=None,
            error="the daemon stopped during a try; looking the post up before any resend",
            is_try=True,
        )
        self.first_doubt = began
        found, receipt, why = self.look_up(began - self.policy.lookup_margin)
        if found and receipt is not None:
            try:
                return self.apply_found(receipt, "interrupted")
            except _Continue:
                return self.publish_until_settled()
        if found is None:
            return self.unknown(
                "interrupted",
                f"the daemon stopped during a request to {self.name} and the look-up could not settle it: {why}",
            )
        return None  # absent: safe to publish as usual

    def settle_ambiguous(self, outcome: str, message: str, started: datetime) -> str:
        found, receipt, why = self.look_up(started - self.policy.lookup_margin)
        if found and receipt is not None:
            return self.apply_found(receipt, outcome)
        if found is None:
            return self.unknown(
                outcome, f"the request may have reached {self.name} and the look-up could not settle it: {why}"
            )
        return self.retry_later(outcome, f"{message} (look-up: not there)")

    def settle_duplicate(self, message: str) -> str:
        since = (self.first_doubt or self.claim.last_try_at or self.claim.due_at) - self.policy.lookup_margin
        since = min(since, self.claim.due_at - self.policy.lookup_margin)
        found, receipt, why = self.look_up(since)
        if found and receipt is not None:
            return self.apply_found(receipt, "rejected")
        detail = "" if found is False else f" (look-up: {why})"
        return self.unknown(
            "rejected",
            f"{self.name} says duplicate: an earlier try probably landed; check and use `crosspost retry` if not"
            f"{detail}",
        )

    def doubted_before(self) -> bool:
        """Did an earlier try of this delivery possibly land? This run's, else its history's."""
        if self.first_doubt is not None or self.claim.last_outcome in MAYBE_LANDED:
            return True
        try:
            post = self.store.get_post(self.claim.post_id)
        except Exception:  # noqa: BLE001 - without history, assume no doubt: the duplicate is then a plain refusal
            return False
        for delivery in post.deliveries:
            if delivery.id == self.claim.delivery_id:
                doubts = [a.at for a in delivery.history if a.outcome in MAYBE_LANDED]
                if doubts:
                    self.first_doubt = min(doubts)
                    return True
        return False

    def look_up(self, since: datetime) -> tuple[bool | None, Receipt | None, str]:
        """(True, receipt, "") found; (False, None, "") provably absent; (None, None, why) cannot settle."""
        started = self.now_fn()
        clock = time.monotonic()
        try:
            receipt = self.adapter.find(self.claim.draft, self.claim.progress, since)
        except LookupUnavailable as exc:
            why = self.clean(exc.message)
            self.record(started, clock, "lookup_unavailable", exc.code, why, is_try=False)
            return None, None, why
        except PlatformError as exc:
            why = self.clean(f"the look-up failed: {exc.message}")
            self.record(started, clock, "lookup_failed", exc.code, why, is_try=False)
            return None, None, why
        except Exception as exc:  # noqa: BLE001 - same as a failed look-up: it settles nothing
            why = self.clean(f"the look-up failed: unexpected {type(exc).__name__}: {exc}")
            self.record(started, clock, "lookup_failed", None, why, is_try=False)
            return None, None, why
        if receipt is None:
            self.record(started, clock, "absent", None, None, is_try=False)
            return False, None, ""
        self.record(started, clock, "found", None, None, is_try=False)
        return True, receipt, ""

    def apply_found(self, receipt: Receipt, outcome: str) -> str:
        """The look-up found the post (for a thread: its next part). Sent, or go on with the thread."""
        draft, progress = self.claim.draft, self.claim.progress
        whole = complete_receipt(draft, progress, receipt)
        if whole is None:
            self.report("info", outcome, "continuing", reason=f"found part {len(progress.parts)} of {len(draft.parts)}")
            raise _Continue
        return self.sent(whole.remote_id, whole.url, outcome)

    # ------------------------------------------------------------ outcomes
    def sent(self, remote_id: str, url: str, outcome: str) -> str:
        self.store.mark_sent(self.claim.delivery_id, remote_id=remote_id, url=url, now=self.now_fn())
        self.report("info", outcome, SENT, url=url)
        return SENT

    def retry_later(self, outcome: str, message: str, *, at: datetime | None = None, after: float | None = None) -> str:
        if self.policy.out_of_tries(self.attempts):
            return self.failed(outcome, f"gave up after {self.attempts} tries: {message}")
        now = self.now_fn()
        if at is None:
            wait = self.policy.backoff(self.attempts)
            if after is not None and after > 0:
                wait = max(wait, type(wait)(seconds=after))  # the platform said when; never sooner than that
            at = now + wait
        self.store.mark_retrying(self.claim.delivery_id, next_try_at=at, error=message, now=now)
        self.report("warning", outcome, RETRYING, next_try=at.isoformat(timespec="seconds"), reason=message)
        return RETRYING

    def failed(self, outcome: str, message: str) -> str:
        message += self.partial_note()
        self.store.mark_failed(self.claim.delivery_id, error=message, now=self.now_fn())
        self.report("error", outcome, FAILED, reason=message)
        return FAILED

    def unknown(self, outcome: str, message: str) -> str:
        message += self.partial_note()
        self.store.mark_unknown(self.claim.delivery_id, error=self.clean(message), now=self.now_fn())
        self.report("error", outcome, UNKNOWN, reason=message)
        return UNKNOWN

    def missed(self, now: datetime) -> str:
        late = now - self.claim.due_at
        message = (
            f"not sent: {_duration(late.total_seconds())} overdue, more than late_limit "
            f"{_duration(self.policy.late_limit.total_seconds())} after its due time"
        )
        self.store.record_attempt(
            self.claim.delivery_id, at=now, seconds=0.0, outcome="missed", code=None, error=message, is_try=False
        )
        self.store.mark_missed(self.claim.delivery_id, error=message, now=now)
        self.report("warning", "late", MISSED, reason=message)
        return MISSED

    # ------------------------------------------------------------ helpers
    def partial_note(self) -> str:
        """For a thread stopped half-way: which parts are already public (an admin must know)."""
        done, total = len(self.claim.progress.parts), len(self.claim.draft.parts)
        if not 0 < done < total:
            return ""
        shown = "part 1" if done == 1 else f"parts 1-{done}"
        return (
            f"; {shown} of {total} already on {self.name} (first id {self.claim.progress.parts[0]}): "
            "`crosspost retry` resumes after them"
        )

    def record(
        self, started: datetime, clock: float, outcome: str, code: str | None, error: str | None, *, is_try: bool
    ) -> None:
        self.store.record_attempt(
            self.claim.delivery_id,
            at=started,
            seconds=round(time.monotonic() - clock, 3),
            outcome=outcome,
            code=code,
            error=error,
            is_try=is_try,
        )

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def report(self, level: str, outcome: str, status: str, **fields: object) -> None:
        if self.log is None:
            return
        self.log(
            log_line(
                level,
                self.secrets,
                post=self.claim.post_id,
                account=self.claim.account,
                attempt=self.attempts,
                outcome=outcome,
                status=status,
                **fields,
            )
        )


def complete_receipt(draft: Draft, progress: Progress, found: Receipt) -> Receipt | None:
    """What a look-up found, as the whole post's receipt; None while a thread still has parts to publish.

    For a thread the found part ids join ``progress`` (saved through its ``on_change``).
    """
    if len(draft.parts) <= 1:
        return found
    for part_id in found.part_ids or (found.remote_id,):
        if part_id not in progress.parts:
            progress.add_part(part_id)
    if len(progress.parts) < len(draft.parts):
        return None
    first = progress.parts[0]
    # A thread is known by its first part; a look-up may have found a later one.
    url = found.url if found.remote_id == first else found.url.replace(found.remote_id, first)
    return Receipt(first, url, tuple(progress.parts))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"
