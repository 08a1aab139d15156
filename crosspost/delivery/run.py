""":func:`deliver`: one claimed delivery, from the request to its recorded outcome.

The claim already saved ``sending`` (the store did it atomically), so nothing is
written before the request. After it, every outcome is recorded as a history
row and the delivery leaves ``sending`` for exactly one status.

Why the care with ambiguity: a timeout or a dropped connection may hide a post
that was made. Resending then would publish twice, the worst outcome there is.
So an ambiguous try is always looked up (:mod:`crosspost.delivery.reconcile`)
first; a look-up that fails for a passing reason is tried again later (the
delivery stays ``retrying``, "reconciling"); when the platform cannot settle it,
the delivery becomes ``unknown`` and waits for a person, never for a blind resend.

Why the fence: a daemon frozen (SIGSTOP, a suspended VM) may wake after another
took its claim over. Every write here carries the claim's fence and is refused
after a take-over, and :meth:`_Delivery.checkpoint` runs before every request
that could publish (``Progress.checkpoint``, called by the adapters): the old
worker stops (:class:`~crosspost.model.LostClaim`) and writes nothing.

Why one write for a sent post: the result of a request is written before
anything else happens, and a published part's id before the next request that
could publish (a retry must resume after it, never post it again). So a thread
part with more to come is saved the moment the adapter reports it, and any id
not yet saved is saved at the next checkpoint, which precedes every such
request; when no request follows (a single post, a thread's last part), the
settle that records the result carries it, in the same statement. Media ids
are saved at the checkpoint before the next request too: they spare an upload,
and they are the look-up's evidence (an interrupted photo post is recognised by
the photo ids this delivery uploaded; without them it can only end ``unknown``).
A sent text post is then one write transaction: ``sent``, its attempt row and
its progress together; a photo post adds one write, before its post request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from crosspost.delivery import reconcile
from crosspost.delivery.events import LogFn, log_line
from crosspost.delivery.policy import Policy
from crosspost.delivery.reconcile import ABSENT, FOUND, UNSETTLED, LookUp
from crosspost.model import Draft, LostClaim, Progress
from crosspost.redact import redact
from crosspost.statuses import (
    DAEMON,
    FAILED,
    MAYBE_LANDED,
    MISSED,
    OUT_INTERRUPTED,
    OUT_LOOKUP_FAILED,
    OUT_LOST_CLAIM,
    OUT_MISSED,
    OUT_REJECTED,
    OUT_SENT,
    RETRYING,
    SENDING,
    SENT,
    UNKNOWN,
)
from crosspost.store.records import Attempt, Claim
from crosspost.store.sql import SqlStore

if TYPE_CHECKING:
    from crosspost.store.direct import Tx

RESUMES = "`crosspost retry` resumes after them"
LOST = "lost"  # deliver()'s result when this worker's claim was taken over: it wrote nothing

__all__ = ["LOST", "MAYBE_LANDED", "RETRYING", "deliver", "platform_name", "public_parts"]


def platform_name(platform: str) -> str:
    from crosspost.platforms import display_name

    return display_name(platform)


def post_url(platform: str, remote_id: str) -> str | None:
    """The public URL of a post (a thread's part) from its id alone, where the platform has a form for it:
    a cancelled or failed thread keeps part 1's url, and `crosspost resolve --sent ID` needs one."""
    from crosspost.platforms import spec_for

    return spec_for(platform).post_url(remote_id)


def public_parts(draft: Draft, progress: Progress, platform: str) -> tuple[str, str | None, str] | None:
    """For a thread stopped half-way: part 1's id and url, and a note saying how many parts are public."""
    done, total = len(progress.parts), len(draft.parts)
    if not 0 < done < total:
        return None
    first = progress.parts[0]
    shown = "part 1" if done == 1 else f"parts 1-{done}"
    verb = "is" if done == 1 else "are"
    note = f"{shown} of {total} {verb} public on {platform_name(platform)} (first id {first})"
    return first, post_url(platform, first), note


def deliver(
    claim: Claim,
    adapter: Adapter,
    store: SqlStore,
    policy: Policy,
    now_fn: Callable[[], datetime],
    *,
    secrets: Iterable[str] = (),
    log: LogFn | None = None,
    notify_on: Collection[str] | None = None,
    then: Callable[[Tx], object] | None = None,
) -> str:
    """Publish ``claim`` through ``adapter`` and record the outcome; returns the final status,
    ``"retrying"``, or :data:`LOST` when another daemon took the claim over (nothing was written).

    ``notify_on`` (the config's ``[notify] on``): a status not in it writes no notice row. ``then(conn)``
    runs in the transaction of the final settle, after it (the daemon claims the account's next there).

    Never raises for a platform's or an adapter's failure (those become
    statuses); a store failure propagates, leaving the delivery ``sending``
    under its lease, to be reconciled when the lease expires.
    """
    return _Delivery(claim, adapter, store, policy, now_fn, frozenset(secrets), log, notify_on, then).run()


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
        notify_on: Collection[str] | None = None,
        then: Callable[[Tx], object] | None = None,
    ) -> None:
        self.claim = claim
        self.fence = claim.fence
        self.adapter = adapter
        self.store = store
        self.policy = policy
        self.now_fn = now_fn
        self.secrets = secrets
        self.log = log
        self.notify_on = notify_on
        self.then = then
        self.saved_parts = len(claim.progress.parts)  # part ids the row has; more must be saved before a request
        self.saved_media = dict(claim.progress.media)  # likewise the media ids: a look-up's evidence
        self.attempts = claim.attempts
        self.first_doubt: datetime | None = None  # start of the first try in this run that may have landed
        self.checked: datetime | None = None  # a checkpoint's lease, not yet spent on a request (checkpoint())
        self.name = platform_name(claim.platform)

    # ------------------------------------------------------------ the fence
    def checkpoint(self) -> datetime | None:
        """Before every request that could publish: save the part ids published since the last write, then
        stop if this worker no longer holds its claim, or its lease ran out (a take-over may be under way:
        the new owner trusts that nothing starts after it).

        A read, not a write: the final settle's conditional UPDATE is what fences the result (a worker that
        lost its claim writes nothing). This check exists so that such a worker does not *publish*, and a
        read tells that as well as a write would: a claim is only taken over ``takeover_after`` seconds after
        its lease lapsed (store.claims), so a row that still names this owner and token with a lease running
        past our clock cannot be taken before this request has started.

        By the same argument, the read made just before ``adapter.publish`` answers for the adapter's first
        checkpoint too, while our clock is short of the lease it saw (``self.checked``, used once): the
        adapter checks before its first publishing request, and nothing was sent between the two. Every
        later checkpoint reads again. Returns the lease's end as read (None when a spent read answered)."""
        self.flush_parts()
        checked, self.checked = self.checked, None
        if checked is not None and self.now_fn() < checked:
            return None  # the read publish_once made a moment ago answers for the adapter's own first checkpoint
        lease_until = self.store.lease_held(self.fence)
        if lease_until is None or lease_until <= self.now_fn():
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")
        return lease_until

    def flush_parts(self) -> None:
        """Write the progress if it holds part or media ids the row lacks (fenced): before a request, or a
        failure's history row, so a retry never publishes a part again and a look-up knows our photos."""
        progress = self.claim.progress
        if len(progress.parts) <= self.saved_parts and progress.media == self.saved_media:
            return
        if not self.store.save_progress(self.claim.delivery_id, progress, fence=self.fence):
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")
        self.saved_parts = len(progress.parts)
        self.saved_media = dict(progress.media)

    def progress_changed(self, progress: Progress) -> None:
        """The adapter recorded an id. A thread part with more parts to come is saved at once, and the
        lease checked, as before a request (for adapters that do not call ``progress.checkpoint()``
        themselves); the last part, and media ids, wait for the next checkpoint (see the module's note)."""
        if self.saved_parts < len(progress.parts) < len(self.claim.draft.parts):
            self.checkpoint()

    # ------------------------------------------------------------ the flow
    def run(self) -> str:
        claim = self.claim
        claim.progress.on_change = self.progress_changed
        claim.progress.guard = self.checkpoint
        try:
            return self.flow()
        except LostClaim:
            self.report(
                "warning",
                OUT_LOST_CLAIM,
                SENDING,
                reason="another daemon took this delivery over while this one was stopped or slow; "
                "this worker stopped and wrote nothing",
            )
            return LOST
        finally:
            claim.progress.on_change = claim.progress.guard = None

    def flow(self) -> str:
        claim = self.claim
        if claim.status_before == SENDING:
            if self.lost_before_any_try():
                return self.missed(self.now_fn())
            status = self.reconcile_interrupted()
            if status is not None:
                return status
        elif claim.last_outcome == OUT_LOOKUP_FAILED:
            status = self.reconcile_again()
            if status is not None:
                return status
        now = self.now_fn()
        if not claim.progress.parts and now > claim.due_at + self.policy.late_limit:
            return self.missed(now)
        status = self.reconcile_late_resend(now)
        if status is not None:
            return status
        return self.publish_until_settled()

    def publish_until_settled(self) -> str:
        # Loops only when a look-up found more thread parts, so progress grows each turn.
        while True:
            try:
                return self.publish_once()
            except _Continue:
                continue

    def publish_once(self) -> str:
        self.checked = None  # never answered by an earlier read: this is the engine's own check
        self.checked = self.checkpoint()
        started = self.now_fn()
        clock = time.monotonic()
        try:
            try:
                receipt = self.adapter.publish(self.claim.draft, self.claim.progress)
            finally:
                self.checked = None  # an adapter that never checked leaves nothing for a later checkpoint
        except LostClaim:
            raise
        except PlatformError as exc:
            error: PlatformError = exc
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not crash the daemon nor cause a blind resend
            error = Ambiguous(self.clean(f"unexpected {type(exc).__name__} in the {self.name} adapter: {exc}"))
        else:
            self.attempts += 1
            # The try's history row and `sent` in one write transaction. attempts is set, not added to: under
            # the fence no one else changes this row, so the count this run keeps is the row's.
            try_row = dict(
                at=started,
                seconds=round(time.monotonic() - clock, 3),
                outcome=OUT_SENT,
                code=None,
                error=None,
                is_try=True,
            )
            return self.sent(receipt.remote_id, receipt.url, OUT_SENT, history=try_row, attempts=self.attempts)
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
    def lost_before_any_try(self) -> bool:
        """The interrupted owner cannot have sent anything: nothing was ever tried, published or uploaded, and
        the delivery became ``sending`` past ``late_limit``, when a worker's first step is ``missed``, never a
        request. So no look-up (a read from X's small quota; none exists on Telegram) and no ``unknown``.

        ``sending_since`` is when waiting work was claimed; a take-over keeps it (store.claims). The latest
        claim's time would not do: an owner killed after taking over from one whose request was in flight
        (claimed in time, no attempt row yet) was itself claimed late, yet that request may have landed."""
        claim = self.claim
        since = claim.extra.get("sending_since")
        return (
            isinstance(since, datetime)
            and since > claim.due_at + self.policy.late_limit
            and claim.attempts == 0
            and not claim.progress.parts
            and not claim.progress.media
        )

    def reconcile_interrupted(self) -> str | None:
        """A dead or frozen daemon left this ``sending``: its request may have landed. Look before any resend.

        The claim was taken over only once that request could no longer land (see store.claims)."""
        claim = self.claim
        began = max(claim.due_at, claim.last_try_at or claim.due_at)
        # The lost try counts: its request probably went out, and a crash loop must still run out of tries.
        self.attempts += 1
        self.record_row(
            began,
            0.0,
            OUT_INTERRUPTED,
            None,
            "the daemon stopped during a try; looking the post up before any resend",
            is_try=True,
        )
        self.first_doubt = began
        return self.settle_doubt(OUT_INTERRUPTED, reconcile.window_start(began, self.policy.lookup_margin), None)

    def reconcile_again(self) -> str | None:
        """The last look-up failed for a passing reason: look again before anything is published."""
        history = self.history()
        doubts = reconcile.open_doubts(history)
        began = doubts[0].at if doubts else (self.claim.last_try_at or self.claim.due_at)
        late = reconcile.late_doubt(history, self.now_fn(), self._resend_window())
        if late is not None:  # the failed look-up was one before a late resend: it reaches back that far
            began = min(began, late.at)
        self.first_doubt = began
        last_try = next((a for a in reversed(history) if a.is_try), None)
        duplicate = last_try is not None and last_try.outcome == OUT_REJECTED
        since = reconcile.window_start(min(began, self.claim.due_at) if duplicate else began, self.policy.lookup_margin)
        return self.settle_doubt(OUT_REJECTED if duplicate else OUT_LOOKUP_FAILED, since, None)

    def reconcile_late_resend(self, now: datetime) -> str | None:
        """A resend past the platform's idempotency window (VK's guid: an hour) after a try that may have
        landed: look first; None when nothing needs looking up or the post is provably absent."""
        window = self._resend_window()
        if window is None or self.claim.last_try_at is None:
            return None  # no key to outlive, or a first try
        doubt = reconcile.late_doubt(self.history(), now, window)
        if doubt is None:
            return None
        self.first_doubt = self.first_doubt or doubt.at
        return self.settle_doubt(doubt.outcome, reconcile.window_start(doubt.at, self.policy.lookup_margin), None)

    def _resend_window(self) -> timedelta | None:
        from crosspost.platforms import spec_for

        return spec_for(self.claim.draft.platform).resend_window

    def settle_ambiguous(self, outcome: str, message: str, started: datetime) -> str:
        status = self.settle_doubt(outcome, reconcile.window_start(started, self.policy.lookup_margin), message)
        assert status is not None  # an ambiguous try's absent verdict is a retry later, never None
        return status

    def settle_duplicate(self, message: str) -> str:
        since = (self.first_doubt or self.claim.last_try_at or self.claim.due_at) - self.policy.lookup_margin
        since = min(since, self.claim.due_at - self.policy.lookup_margin)
        status = self.settle_doubt(OUT_REJECTED, since, message)
        assert status is not None
        return status

    def settle_doubt(self, outcome: str, since: datetime, message: str | None) -> str | None:
        """Look the post up and act on the verdict. None: provably absent, publish now (the caller goes on).

        ``outcome`` says what raised the doubt: an ambiguous try (``message`` its error; absent means
        retry later, as any passing failure), a lost one (absent means publish now), or the platform's
        duplicate refusal (``rejected``: absent is no proof, the refusal is evidence it landed)."""
        found = self.look_up(since)
        if found.verdict == FOUND:
            try:
                return self.apply_found(found, outcome)
            except _Continue:
                return self.publish_until_settled()
        if found.verdict == ABSENT:
            if outcome == OUT_REJECTED:
                return self.unknown(
                    outcome,
                    f"{self.name} says duplicate: an earlier try probably landed; check, then use "
                    "`crosspost resolve` (or `crosspost retry` if it is not there)",
                )
            if message is not None:
                return self.retry_later(outcome, f"{message} (look-up: not there)")
            return None
        if found.verdict == UNSETTLED:
            return self.unknown(
                outcome,
                f"the request may have reached {self.name} and the look-up could not settle it: {found.reason}; "
                "check, then use `crosspost resolve`",
            )
        return self.look_up_later(outcome, found)

    def look_up_later(self, outcome: str, found: LookUp) -> str:
        """A look-up failed for a passing reason: retrying, "reconciling"; the next claim looks up first."""
        failed = self.claim.failed_lookups + 1 if self.claim.last_outcome == OUT_LOOKUP_FAILED else 1
        if failed >= self.policy.max_lookups:
            return self.unknown(
                outcome,
                f"the request may have reached {self.name} and {failed} look-ups failed, the last: {found.reason}; "
                "check, then use `crosspost resolve`",
            )
        at = self.now_fn() + self.policy.backoff(failed)
        reason = f"reconciling: {found.reason}; next look-up at {at.isoformat(timespec='seconds')}"
        return self.mark(RETRYING, outcome, reason, level="warning", next_try_at=at)

    def doubted_before(self) -> bool:
        """Did an earlier try of this delivery possibly land? This run's, else its history's."""
        if self.first_doubt is not None or self.claim.last_outcome in MAYBE_LANDED:
            return True
        try:
            history = self.history()
        except Exception:  # noqa: BLE001 - without history, assume no doubt: the duplicate is then a plain refusal
            return False
        doubts = [a.at for a in history if a.outcome in MAYBE_LANDED]
        if doubts:
            self.first_doubt = min(doubts)
            return True
        return False

    def history(self) -> tuple[Attempt, ...]:
        post = self.store.get_post(self.claim.post_id)
        return next((d.history for d in post.deliveries if d.id == self.claim.delivery_id), ())

    def look_up(self, since: datetime) -> LookUp:
        found = reconcile.look_up(
            self.adapter, self.claim.draft, self.claim.progress, since, now=self.now_fn(), clean=self.clean
        )
        if not self.store.record_attempt(self.claim.delivery_id, **found.history(), fence=self.fence):
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")
        return found

    def apply_found(self, found: LookUp, outcome: str) -> str:
        """The look-up found the post (for a thread: some of its parts). Sent, or go on with the thread."""
        draft, progress = self.claim.draft, self.claim.progress
        if found.receipt is None:
            self.report("info", outcome, "continuing", reason=f"found part {len(progress.parts)} of {len(draft.parts)}")
            raise _Continue
        return self.sent(found.receipt.remote_id, found.receipt.url, outcome)

    # ------------------------------------------------------------ outcomes
    def mark(self, status: str, outcome: str, message: str | None, *, level: str, **values: Any) -> str:
        """The one place a worker settles its delivery: fenced; a refusal means the claim was lost."""
        now = self.now_fn()
        if not self.store.settle(
            self.claim.delivery_id,
            status,
            by=DAEMON,
            now=now,
            fence=self.fence,
            notify_on=self.notify_on,
            then=self.then,
            error=message,
            progress=self.claim.progress.to_json(),  # the ids this run learnt, in the same statement
            **values,
        ):
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")
        fields: dict[str, object] = {"reason": message} if message else {}
        if status == SENT:
            fields = {"url": values["url"]}
        if "next_try_at" in values and isinstance(values["next_try_at"], datetime):
            fields["next_try"] = values["next_try_at"].isoformat(timespec="seconds")
        self.report(level, outcome, status, **fields)
        return status

    def sent(self, remote_id: str, url: str, outcome: str, **also: Any) -> str:
        return self.mark(SENT, outcome, None, level="info", remote_id=remote_id, url=url, sent_at=self.now_fn(), **also)

    def retry_later(self, outcome: str, message: str, *, at: datetime | None = None, after: float | None = None) -> str:
        if self.policy.out_of_tries(self.attempts):
            return self.failed(outcome, f"gave up after {self.attempts} tries: {message}")
        if at is None:
            wait = self.policy.backoff(self.attempts)
            if after is not None and after > 0:
                wait = max(wait, timedelta(seconds=after))  # the platform said when; never sooner than that
            at = self.now_fn() + wait
        return self.mark(RETRYING, outcome, message, level="warning", next_try_at=at)

    def failed(self, outcome: str, message: str) -> str:
        return self.mark(FAILED, outcome, level="error", next_try_at=None, **self.with_public_parts(message))

    def unknown(self, outcome: str, message: str) -> str:
        return self.mark(UNKNOWN, outcome, level="error", next_try_at=None, **self.with_public_parts(message))

    def with_public_parts(self, message: str) -> dict[str, Any]:
        """The error; for a thread stopped half-way, part 1's id and url too: public parts are never hidden."""
        kept = public_parts(self.claim.draft, self.claim.progress, self.claim.platform)
        if kept is None:
            return {"message": self.clean(message)}
        remote_id, url, note = kept
        return {"message": self.clean(f"{message}; {note}: {RESUMES}"), "remote_id": remote_id, "url": url}

    def missed(self, now: datetime) -> str:
        late = now - self.claim.due_at
        message = (
            f"not sent: {_duration(late.total_seconds())} overdue, more than late_limit "
            f"{_duration(self.policy.late_limit.total_seconds())} after its due time"
        )
        history: dict[str, Any] = {
            "at": now,
            "seconds": 0.0,
            "outcome": OUT_MISSED,
            "code": None,
            "error": message,
            "is_try": False,
        }
        if not self.store.settle(
            self.claim.delivery_id,
            MISSED,
            by=DAEMON,
            now=now,
            fence=self.fence,
            error=message,
            history=history,
            notify_on=self.notify_on,
            then=self.then,
        ):
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")
        self.report("warning", "late", MISSED, reason=message)
        return MISSED

    # ------------------------------------------------------------ helpers
    def record(
        self, started: datetime, clock: float, outcome: str, code: str | None, error: str | None, *, is_try: bool
    ) -> None:
        self.record_row(started, round(time.monotonic() - clock, 3), outcome, code, error, is_try=is_try)

    def record_row(
        self, at: datetime, seconds: float, outcome: str, code: str | None, error: str | None, *, is_try: bool
    ) -> None:
        self.flush_parts()  # a failure after some parts went out: their ids first, whatever follows
        if not self.store.record_attempt(
            self.claim.delivery_id,
            at=at,
            seconds=seconds,
            outcome=outcome,
            code=code,
            error=error,
            is_try=is_try,
            fence=self.fence,
        ):
            raise LostClaim(f"delivery {self.claim.delivery_id}: the claim was taken over")

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


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"
