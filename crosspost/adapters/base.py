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
    """Passing failure; the post was certainly not made (5xx with an error, refused connection).

    Safe to try again, after ``retry_after`` seconds if the platform said so.
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
    """The request may have reached the platform and its outcome is unknown.

    A read timeout, a connection dropped after sending, a garbled success body.
    Never resend without looking the post up first (:meth:`Adapter.find`).
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
    """:meth:`Adapter.find` cannot settle the question (read access not in the tier, no permission)."""

    kind = "lookup_unavailable"


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
        ``progress.add_part`` / ``progress.add_media``.

        Raises Transient, RateLimited, Ambiguous, AuthError or Rejected.
        """

    @abstractmethod
    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        """Look ``draft`` up on the platform among posts made since ``since`` (aware).

        Called only after an ambiguous outcome. Returns the receipt if the post
        (for a thread: its next unpublished part, given ``progress``) is there,
        ``None`` if it is provably absent. Ask for the smallest window.

        Raises LookupUnavailable when the platform will not tell (tier,
        permission), Transient/Ambiguous when the look-up itself failed.
        """

    @abstractmethod
    def verify(self) -> str:
        """Prove the credentials with read-only calls; return who we post as (for people).

        Raises AuthError (with the fix in words) or Transient.
        """
