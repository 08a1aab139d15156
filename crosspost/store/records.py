"""What the store hands out: plain, frozen records (no SQLAlchemy objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from crosspost.model import Draft, Progress

# The statuses live in crosspost.statuses; re-exported here for the store's callers.
from crosspost.statuses import (  # noqa: E402
    CANCELLED,
    DELIVERY_STATUSES,
    FAILED,
    MISSED,
    PENDING,
    POST_STATUSES,
    RETRYING,
    SENDING,
    SENT,
    TERMINAL,
    UNKNOWN,
)

__all__ = [
    "CANCELLED",
    "DELIVERY_STATUSES",
    "FAILED",
    "MISSED",
    "PENDING",
    "POST_STATUSES",
    "RETRYING",
    "SENDING",
    "SENT",
    "TERMINAL",
    "UNKNOWN",
    "Attempt",
    "Claim",
    "DeliveryRecord",
    "Fence",
    "PostRecord",
    "PostSummary",
    "post_status",
]


def post_status(delivery_statuses: list[str]) -> str:
    """The contract's summary of a post's deliveries."""
    s = set(delivery_statuses)
    if SENDING in s:
        return "sending"
    if s & {PENDING, RETRYING}:
        return "queued"
    if s and s == {SENT}:
        return "sent"
    if s and s == {CANCELLED}:
        return "cancelled"
    if SENT in s:
        return "partial"
    return "failed"


@dataclass(frozen=True)
class Attempt:
    """One row of a delivery's history: a publish try, or a look-up (``outcome`` says which)."""

    at: datetime
    seconds: float
    outcome: str  # sent, transient, rate_limited, ambiguous, auth, rejected, found, absent, lookup_failed, missed, ...
    code: str | None
    error: str | None
    is_try: bool  # counts toward ``attempts`` (look-ups do not)


class DeliveryRecord(NamedTuple):
    """One delivery as the log shows it. A named tuple, not a dataclass: ``log`` builds tens of
    thousands of these, and a frozen dataclass's ``__init__`` was a third of its time."""

    id: int
    post_id: int
    post_title: str
    account: str
    platform: str
    status: str
    attempts: int
    remote_id: str | None
    url: str | None
    error: str | None
    due_at: datetime
    sent_at: datetime | None
    next_try_at: datetime | None
    history: tuple[Attempt, ...] = ()  # filled by get_post only
    notice: str | None = None  # its latest notice as "state:why" (issue 13); None if it has none


class PostRecord(NamedTuple):
    """One post with its deliveries (a named tuple for the same reason as :class:`DeliveryRecord`)."""

    id: int
    title: str
    source: str
    created_at: datetime
    due_at: datetime  # the earliest due_at of its deliveries
    status: str
    deliveries: tuple[DeliveryRecord, ...]
    drafts: tuple[Draft, ...] = ()  # the snapshot; filled by get_post only


class PostSummary(NamedTuple):
    """What ``list`` shows of a post: no delivery records, so ten thousand posts list quickly."""

    id: int
    title: str
    due_at: datetime
    status: str
    states: tuple[tuple[str, str], ...]  # (account, delivery status), in delivery order


@dataclass(frozen=True)
class Fence:
    """Proof of holding a claim: the lease owner and the claim's token (a counter that grows with every
    claim of the row, take-overs included). A write carrying a fence lands only while both still match."""

    delivery_id: int
    owner: str
    token: int


@dataclass
class Claim:
    """A delivery the daemon owns until ``lease_until``: everything needed to publish it."""

    delivery_id: int
    post_id: int
    account: str
    platform: str
    draft: Draft
    progress: Progress
    attempts: int
    due_at: datetime
    status_before: str  # pending / retrying, or "sending" for a stale one to reconcile
    last_try_at: datetime | None = None
    last_outcome: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    owner: str = ""
    token: int = 0  # this claim's lease_token: see Fence
    # Look-ups that failed for a passing reason since the last try: the next claim looks up before any publish.
    failed_lookups: int = 0

    @property
    def fence(self) -> Fence:
        return Fence(self.delivery_id, self.owner, self.token)
