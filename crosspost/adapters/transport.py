"""The seam between the platform libraries and the network.

``api_base`` (contract): every request to the platform's own API hosts goes to
another scheme, host and port with path and query unchanged. We mount a
``requests`` transport adapter on the library's own session that rewrites the
prepared request's URL just before it is sent, after the library (and OAuth
1.0a) built and signed it. The same adapter gives every request a default
timeout, since tweepy's Client and vk_api set none.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class RoutingAdapter(HTTPAdapter):
    """Sends requests for ``hosts`` to ``api_base`` (if set) and applies a default timeout."""

    def __init__(self, hosts: Iterable[str], api_base: str | None, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.hosts = frozenset(h.lower() for h in hosts)
        self.base = urlsplit(api_base) if api_base else None
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.base is not None and request.url:
            parts = urlsplit(request.url)
            if (parts.hostname or "").lower() in self.hosts:
                request.url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
                # The platform's own host travels on in the proxies' standard header: it is what an
                # OAuth 1.0a signature was made for (the X emulator checks the signature for it).
                request.headers["X-Forwarded-Host"] = parts.netloc
        return super().send(request, **kwargs)


def fit_session(session: requests.Session, platform: str, api_base: str | None, timeout: float) -> requests.Session:
    """Mount the routing adapter on ``session`` for both schemes; returns the session."""
    from crosspost.platforms import spec_for

    adapter = RoutingAdapter(spec_for(platform).hosts, api_base, timeout)  # the platform's own API hosts
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def new_session(platform: str, api_base: str | None, timeout: float) -> requests.Session:
    """A fresh session fitted for ``platform``; no proxies from the environment are bypassed."""
    session = requests.Session()
    session.headers["User-Agent"] = "crosspost"
    return fit_session(session, platform, api_base, timeout)


def readable_body(text: str, limit: int = 160) -> str:
    """A non-JSON error body as words for an admin: an HTML error page loses its tags and styles."""
    import html
    import re

    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = html.unescape(re.sub(r"(?s)<[^>]*>", " ", text))
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def unclear(message: str, *, publishing: bool, platform: str, code: str | int | None = None):  # type: ignore[no-untyped-def]
    """THE rule of ambiguity, for every adapter: a failure that does not prove the platform did nothing.

    Ambiguity is a property of the request, not of the status code. A 5xx of any kind, a timeout or a
    dropped connection after sending, a garbled or incomplete success body: none of them says whether
    the platform acted. On a ``publishing`` request (one that may create something the post is or
    depends on: the post, a thread part, a media upload, alt text) that is :class:`Ambiguous`, and the
    delivery looks the post up before any resend. On a read (look-ups, verify) nothing can have been
    made, so the same failure is only :class:`Transient`. None of X, Graph or VK documents a 5xx as
    "not processed", so no 5xx on a publishing request is ever Transient.
    """
    from crosspost.adapters.base import Ambiguous, Transient

    if publishing:
        return Ambiguous(f"{message}; it may have gone through all the same", code=code, platform=platform)
    return Transient(message, code=code, platform=platform)


def network_error(exc: requests.RequestException, platform: str, secrets: Iterable[str], *, publishing: bool = True):  # type: ignore[no-untyped-def]
    """Classify a ``requests`` failure: did the request possibly reach the platform?

    Connection refused, DNS failure and connect timeouts happen before anything
    was sent: safe to retry (Transient). A read timeout or a connection dropped
    once the request was sent may have acted: :func:`unclear` decides by ``publishing``.
    """
    from crosspost.adapters.base import Transient
    from crosspost.redact import redact

    name = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError) and _before_send(exc)):
        return Transient(redact(f"cannot connect to {platform}: {name}", secrets), platform=platform)
    if isinstance(exc, requests.ReadTimeout):
        return unclear(f"no answer from {platform} in time (read timeout)", publishing=publishing, platform=platform)
    return unclear(
        redact(f"connection to {platform} broke after the request was sent ({name})", secrets),
        publishing=publishing,
        platform=platform,
    )


def _before_send(exc: BaseException) -> bool:
    """True when the chain shows a failure to establish the connection (nothing was sent)."""
    import urllib3.exceptions as u3

    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (u3.NewConnectionError, u3.NameResolutionError, ConnectionRefusedError)):
            return True
        if isinstance(item, u3.MaxRetryError):
            stack.append(item.reason)
        stack.extend([item.__cause__, item.__context__, *[a for a in item.args if isinstance(a, BaseException)]])
    return False
