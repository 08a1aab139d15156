"""The delivery statuses, who may move a delivery from one to another, and the attempt outcomes.

Import-free on purpose: the store, the delivery engine, the CLI and the output all
read these names, and none of them should pull the others in to do so. The store's
one guarded ``settle()`` takes its WHERE clause from :func:`allowed_from`, so a
transition that is not in :data:`TRANSITIONS` cannot be written at all.
"""

# Delivery statuses (contract: "Statuses").
PENDING = "pending"
SENDING = "sending"
RETRYING = "retrying"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
MISSED = "missed"
CANCELLED = "cancelled"
DELIVERY_STATUSES = (PENDING, SENDING, RETRYING, SENT, FAILED, UNKNOWN, MISSED, CANCELLED)
TERMINAL = frozenset({SENT, FAILED, UNKNOWN, MISSED, CANCELLED})
# What `crosspost retry` puts back in the queue (and `crosspost resolve` may settle, with retrying).
RETRYABLE = (FAILED, UNKNOWN, MISSED)

# Post statuses: derived from the deliveries, never stored.
POST_STATUSES = ("sending", "queued", "sent", "cancelled", "partial", "failed")

# Who writes a status. The daemon's writes are fenced by its claim; a person's go through the CLI.
DAEMON = "daemon"  # a worker holding the claim (its writes carry the claim's fence)
CLAIM = "claim"  # the claimer: due work, or a stale claim taken over
PERSON = "person"  # cancel, reschedule, retry, resolve

# (from, to) -> who may make that move. Anything else is refused by the store.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (PENDING, SENDING): frozenset({CLAIM}),
    (RETRYING, SENDING): frozenset({CLAIM}),
    (SENDING, SENDING): frozenset({CLAIM}),  # a take-over: the counter in the fence grows
    (SENDING, SENT): frozenset({DAEMON}),
    (SENDING, RETRYING): frozenset({DAEMON}),
    (SENDING, FAILED): frozenset({DAEMON}),
    (SENDING, UNKNOWN): frozenset({DAEMON}),
    (SENDING, MISSED): frozenset({DAEMON}),
    (SENDING, PENDING): frozenset({DAEMON}),  # released unsent when the daemon stops
    (PENDING, MISSED): frozenset({DAEMON}),
    (RETRYING, MISSED): frozenset({DAEMON}),
    (PENDING, CANCELLED): frozenset({PERSON}),
    (RETRYING, CANCELLED): frozenset({PERSON}),
    (PENDING, PENDING): frozenset({PERSON}),  # reschedule
    (RETRYING, PENDING): frozenset({PERSON}),  # reschedule
    (FAILED, PENDING): frozenset({PERSON}),  # retry
    (UNKNOWN, PENDING): frozenset({PERSON}),
    (MISSED, PENDING): frozenset({PERSON}),
    (UNKNOWN, SENT): frozenset({PERSON}),  # retry's look-up found it; resolve --sent
    (FAILED, SENT): frozenset({PERSON}),  # resolve --sent
    (MISSED, SENT): frozenset({PERSON}),
    (RETRYING, SENT): frozenset({PERSON}),
    (UNKNOWN, UNKNOWN): frozenset({PERSON}),  # retry's look-up could not settle it: the error says so
    (MISSED, MISSED): frozenset({PERSON}),
    (UNKNOWN, FAILED): frozenset({PERSON}),  # resolve --not-sent
    (FAILED, FAILED): frozenset({PERSON}),
    (MISSED, FAILED): frozenset({PERSON}),
    (RETRYING, FAILED): frozenset({PERSON}),
}


def allowed_from(to: str, by: str) -> tuple[str, ...]:
    """The statuses ``by`` may move a delivery out of into ``to``, in DELIVERY_STATUSES order."""
    return tuple(s for s in DELIVERY_STATUSES if by in TRANSITIONS.get((s, to), frozenset()))


# Attempt outcomes: the ``outcome`` of a history row. Publishing tries first (they count in
# ``attempts``), then look-ups and a person's acts (they do not).
OUT_SENT = "sent"
OUT_TRANSIENT = "transient"
OUT_RATE_LIMITED = "rate_limited"
OUT_AMBIGUOUS = "ambiguous"
OUT_AUTH = "auth"
OUT_REJECTED = "rejected"
OUT_INTERRUPTED = "interrupted"  # a daemon stopped (killed, frozen) during a try
OUT_FOUND = "found"
OUT_ABSENT = "absent"
OUT_LOOKUP_UNAVAILABLE = "lookup_unavailable"  # the platform will not say: cannot settle
OUT_LOOKUP_FAILED = "lookup_failed"  # the look-up failed for a passing reason: looked up again later
OUT_MISSED = "missed"
OUT_REQUEUED = "requeued"
OUT_RESOLVED_SENT = "resolved_sent"  # a person said: it is public (crosspost resolve --sent)
OUT_RESOLVED_NOT_SENT = "resolved_not_sent"  # a person said: it is not (crosspost resolve --not-sent)
OUT_LOST_CLAIM = "lost_claim"  # a worker found its claim taken over (a log outcome, never a history row)

# History outcomes that mean "an earlier request may have landed": a resend needs a look-up first.
MAYBE_LANDED = frozenset({OUT_AMBIGUOUS, OUT_INTERRUPTED})
# History outcomes after which the doubts before them are settled: a person checked the platform.
CHECKED_BY_PERSON = frozenset({OUT_RESOLVED_NOT_SENT, OUT_RESOLVED_SENT})
