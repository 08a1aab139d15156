"""The retry policy: how many tries, how long to wait between them, when work is too stale to send."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from crosspost.config import Settings

BACKOFF_CAP = timedelta(hours=1)
# A look-up asks for posts made since the try started minus this much: platform clocks drift.
LOOKUP_MARGIN = timedelta(minutes=2)
# Look-ups that fail for a passing reason (a 503, a rate refusal) are tried this many times, with the
# tries' backoff, before the delivery is concluded `unknown`. Counted apart from the publishing tries.
MAX_LOOKUPS = 5
# A stale claim is taken over only this long after its lease lapsed, beyond request_timeout: the old
# owner's last request, started before the lapse, can no longer land (slow networks, clock drift).
TAKEOVER_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True)
class Policy:
    """Tries, backoff and staleness for every delivery (contract: max_attempts, retry_delay, late_limit)."""

    max_attempts: int
    retry_delay: timedelta
    late_limit: timedelta
    backoff_cap: timedelta = BACKOFF_CAP
    lookup_margin: timedelta = LOOKUP_MARGIN
    max_lookups: int = MAX_LOOKUPS
    jitter: float = 0.2
    # Returns a number in [-1, 1]; injectable so tests can make backoff exact.
    spread: Callable[[], float] = field(default=lambda: random.uniform(-1.0, 1.0), compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(max_attempts=settings.max_attempts, retry_delay=settings.retry_delay, late_limit=settings.late_limit)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try: retry_delay doubling each try, ±jitter, capped.

        Jitter keeps many deliveries that failed together (a platform outage) from
        coming back together.
        """
        exponent = max(0, attempts - 1)
        base = self.retry_delay.total_seconds() * (2 ** min(exponent, 30))
        seconds = min(base, self.backoff_cap.total_seconds())
        seconds *= 1.0 + self.jitter * self.spread()
        return timedelta(seconds=min(max(seconds, 0.0), self.backoff_cap.total_seconds()))

    def out_of_tries(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
