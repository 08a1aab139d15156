"""Reconciliation: looking a post up on the platform after a try that may have landed.

Written once, here, and used by the daemon (:mod:`crosspost.delivery.run`) and by
``crosspost retry`` (:mod:`crosspost.delivery.retry`): the window to ask for, what
the platform's answer means (found / absent / cannot settle / the look-up itself
failed for a passing reason), and the completion of a thread found half-way.

Why a failed look-up is its own verdict: a 503 or a rate refusal on the look-up
says nothing about the post. Concluding ``unknown`` from it would hand a person
work that a look-up a minute later settles; concluding "absent" would publish
twice. So it is retried with backoff, apart from the publishing tries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crosspost.adapters.base import Adapter, LookupUnavailable, PlatformError, Receipt, Transient
from crosspost.model import Draft, LostClaim, Progress
from crosspost.statuses import (
    CHECKED_BY_PERSON,
    MAYBE_LANDED,
    OUT_ABSENT,
    OUT_FOUND,
    OUT_LOOKUP_FAILED,
    OUT_LOOKUP_UNAVAILABLE,
)
from crosspost.store.records import Attempt

# The verdicts of one look-up.
FOUND = "found"  # the post is there (``receipt`` is the whole post's; None while a thread has parts left)
ABSENT = "absent"  # provably not there: safe to publish
UNSETTLED = "unsettled"  # the platform will not or cannot tell (tier, permission, two candidates): a person decides
FAILED = "failed"  # the look-up failed for a passing reason: look again later


@dataclass(frozen=True)
class LookUp:
    """One look-up's verdict, with what to write in the history."""

    verdict: str
    receipt: Receipt | None  # FOUND: the whole post; None for a thread still missing parts
    outcome: str  # the history row's outcome
    code: str | None
    reason: str  # in words, secrets removed; "" when found or absent
    started: datetime
    seconds: float

    def history(self) -> dict[str, Any]:
        """The history row (record_attempt's keywords): a look-up is never a publishing try."""
        return {
            "at": self.started,
            "seconds": self.seconds,
            "outcome": self.outcome,
            "code": self.code,
            "error": self.reason or None,
            "is_try": False,
        }


def look_up(
    adapter: Adapter,
    draft: Draft,
    progress: Progress,
    since: datetime,
    *,
    now: datetime,
    clean: Callable[[str], str],
) -> LookUp:
    """Ask the platform for ``draft`` among posts made since ``since``; never raises for the platform's
    failures (LostClaim, the fence, propagates). A thread found part-way has the found parts added to
    ``progress`` (saved through its ``on_change``) and comes back FOUND with ``receipt`` None."""
    clock = time.monotonic()

    def done(
        verdict: str, outcome: str, receipt: Receipt | None = None, code: object = None, reason: str = ""
    ) -> LookUp:
        shown = None if code is None else str(code)
        return LookUp(verdict, receipt, outcome, shown, reason, now, round(time.monotonic() - clock, 3))

    try:
        found = adapter.find(draft, progress, since)
    except LostClaim:
        raise
    except LookupUnavailable as exc:
        return done(UNSETTLED, OUT_LOOKUP_UNAVAILABLE, code=exc.code, reason=clean(exc.message))
    except Transient as exc:  # RateLimited too: a passing refusal
        return done(FAILED, OUT_LOOKUP_FAILED, code=exc.code, reason=clean(f"look-up failed ({exc.message})"))
    except PlatformError as exc:
        # An auth or content refusal of a read will not pass by itself; anything else may (a garbled page).
        if exc.kind in ("auth", "rejected"):
            return done(UNSETTLED, OUT_LOOKUP_UNAVAILABLE, code=exc.code, reason=clean(exc.message))
        return done(FAILED, OUT_LOOKUP_FAILED, code=exc.code, reason=clean(f"look-up failed ({exc.message})"))
    except Exception as exc:  # noqa: BLE001 - an adapter breaking on an odd answer settles nothing; look again later
        return done(FAILED, OUT_LOOKUP_FAILED, reason=clean(f"look-up failed (unexpected {type(exc).__name__}: {exc})"))
    if found is None:
        return done(ABSENT, OUT_ABSENT)
    return done(FOUND, OUT_FOUND, complete_receipt(draft, progress, found))


def complete_receipt(draft: Draft, progress: Progress, found: Receipt) -> Receipt | None:
    """What a look-up found, as the whole post's receipt; None while a thread still has parts to publish.

    For a thread the found part ids join ``progress`` (saved through its ``on_change``): a resend
    then resumes after the last public part.
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


def open_doubts(history: Iterable[Attempt], since: datetime | None = None) -> list[Attempt]:
    """The tries that may have landed and that nothing settled yet: after the last look-up that settled
    (found, absent) or a person's check, and not before ``since``."""
    doubts: list[Attempt] = []
    for attempt in history:
        if attempt.outcome in CHECKED_BY_PERSON or attempt.outcome in (OUT_FOUND, OUT_ABSENT):
            doubts = []
        elif attempt.outcome in MAYBE_LANDED and (since is None or attempt.at >= since):
            doubts.append(attempt)
    return doubts


def late_doubt(history: Iterable[Attempt], now: datetime, window: timedelta | None) -> Attempt | None:
    """The latest try that may have landed, when a resend ``now`` would come more than ``window`` after it.

    ``window`` is how long the platform's idempotency key protects a resend (the spec's ``resend_window``:
    VK's guid, one hour). Inside it a resend of an unseen success is answered with the first post; past
    it the resend may publish twice, so the post is looked up first, even when a look-up just after the
    try found nothing (a post can surface late). Settled: a person's check, or a look-up made once the
    window had passed. None when no look-up is needed (no window, no doubt, or still inside it).
    """
    if window is None:
        return None
    latest: Attempt | None = None
    for attempt in history:
        if attempt.is_try and attempt.outcome in MAYBE_LANDED:
            latest = attempt
        elif latest is not None and (
            attempt.outcome in CHECKED_BY_PERSON
            or (attempt.outcome in (OUT_FOUND, OUT_ABSENT) and attempt.at > latest.at + window)
        ):
            latest = None
    return latest if latest is not None and now - latest.at > window else None


def window_start(doubt_at: datetime, margin: timedelta) -> datetime:
    """The smallest window that holds a post a try starting at ``doubt_at`` may have made: platform
    clocks drift, so ``margin`` earlier."""
    return doubt_at - margin
