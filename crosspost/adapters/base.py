"""The adapter interface: how crosspost talks to one platform account.

An adapter is given its :class:`~crosspost.config.AccountConfig` and a
``requests.Session`` (already fitted with ``api_base`` and timeouts by
:mod:`crosspost.adapters.transport`). It never reads config or the
environment, never prints, never sleeps and never retries: the delivery layer
owns all of that. It raises only the error types below, with secrets removed.

Rendering is not here: :mod:`crosspost.render` turns a post into a
:class:`~crosspost.model.Draft` without importing any platform library, so
``validate`` and ``preview`` stay fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

import requests

from crosspost.config import AccountConfig
from crosspost.errors import CrosspostError
from crosspost.model import Draft, Progress

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Receipt:
    """A published post: its remote id (a thread's first part), public url, every part's id."""

    remote_id: str
    url: str
    part_ids: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------- errors


class PlatformError(CrosspostError):
    """A platform call failed. ``code`` is the platform's own code (HTTP status or API code).

    ``message`` is readable and has every secret removed.
    """

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | int | None = None, platform: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = None if code is None else str(code)
        self.platform = platform


class Transient(PlatformError):
    """Passing failure that provably happened before the platform acted; safe to try again.

    Only these: nothing was sent (connection refused, DNS, connect timeout), a clear refusal
    carrying the platform's error (a 4xx, a VK error in an HTTP 200 body such as 6 or 10), or a
    read (look-up, verify) that failed in any way. Never a 5xx, a read timeout, a dropped
    connection or a garbled body on a publishing request: those are :class:`Ambiguous` (the
    one rule is :func:`crosspost.adapters.transport.unclear`). Try again after ``retry_after``
    seconds if the platform said so.
    """

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(Transient):
    """The platform refused for rate; ``reset_at`` (aware UTC) is when it allows again, if it said."""

    kind = "rate_limited"

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.reset_at = reset_at


class Ambiguous(PlatformError):
    """A publishing request may have acted on the platform and its outcome is unknown.

    Publishing requests are every request that may create something: the post, each thread
    part, each media upload the post depends on, alt-text metadata. Any failure of one that is
    not a clear refusal is Ambiguous: a 5xx of every kind (X 500-504, Graph 500-504, a VK
    gateway 5xx), a read timeout, a connection dropped after sending, a garbled or incomplete
    success body. Never resend without looking the post up first (:meth:`Adapter.find`).
    """

    kind = "ambiguous"


class AuthError(PlatformError):
    """Lasting: the token is invalid or expired, or lacks a permission."""

    kind = "auth"


class Rejected(PlatformError):
    """Lasting: the platform refused the content. ``duplicate`` when it says it has it already."""

    kind = "rejected"

    def __init__(self, message: str, *, duplicate: bool = False, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.duplicate = duplicate


class LookupUnavailable(PlatformError):
    """:meth:`Adapter.find` cannot settle the question, and waiting will not change that.

    Read access not in the tier, no permission, more posts in the window than a look-up reads.
    """

    kind = "lookup_unavailable"


class Unsettled(LookupUnavailable):
    """:meth:`Adapter.find` read the window but cannot tell this post from another.

    Two candidates, or a candidate that matches on less than everything that identifies the
    post (an image-only post whose media ids were never recorded). Settling it needs a person:
    taking the candidate could report another post as ours, ignoring it could post twice.
    """

    kind = "unsettled"


# ---------------------------------------------------------------- the interface


class Adapter(ABC):
    """One platform account. Subclasses: TwitterAdapter, FacebookAdapter, VkAdapter."""

    platform: ClassVar[str]

    def __init__(self, account: AccountConfig, session: requests.Session) -> None:
        self.account = account
        self.session = session

    @abstractmethod
    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        """Publish ``draft`` and return its receipt.

        ``progress`` holds what earlier tries achieved: thread parts already
        published (resume after the last, replying to it) and media already
        uploaded (reuse the ids). Record each new id at once with
        ``progress.add_part`` / ``progress.add_media``. Call
        ``progress.checkpoint()`` right before every publishing request (each
        upload step, alt text, the post, each thread part) and let its
        ``LostClaim`` through: a worker that lost its claim sends nothing more.

        Raises Transient, RateLimited, Ambiguous, AuthError or Rejected (see
        each type for which failure is which).
        """

    @abstractmethod
    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        """Look ``draft`` up on the platform among posts made since ``since`` (aware).

        Called only after an ambiguous outcome. Found means an exact match on
        everything that identifies the post: its whole text with its URLs (after
        the platform's own normalisation), the media ids this delivery uploaded
        (``progress.media``), the window. For a thread it looks for the next
        unpublished part (the reply to the last recorded part, with that part's
        exact text), then the one after, and so on.

        Returns a receipt whose ``part_ids`` are ``progress.parts`` followed by
        every part found (the caller records them); ``None`` only when the
        whole window was read and nothing matches (provably absent). Ask for
        the smallest window.

        Raises Unsettled (a LookupUnavailable) when candidates cannot be told
        apart or match on less than everything; LookupUnavailable when the
        platform will not tell (tier, permission, too many posts); Transient or
        RateLimited when the look-up failed for a passing reason (5xx, 429,
        timeout, connection): worth asking again later. Never Ambiguous.
        """

    @abstractmethod
    def verify(self) -> str:
        """Prove the credentials with read-only calls; return who we post as (for people).

        Raises AuthError (with the fix in words) or Transient.
        """
