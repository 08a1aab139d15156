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

PLATFORM_HOSTS: dict[str, tuple[str, ...]] = {
    "twitter": ("api.twitter.com", "api.x.com", "upload.twitter.com", "upload.x.com"),
    "facebook": ("graph.facebook.com",),
    "vk": ("api.vk.ru", "api.vk.com"),
}


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
        return super().send(request, **kwargs)


def fit_session(session: requests.Session, platform: str, api_base: str | None, timeout: float) -> requests.Session:
    """Mount the routing adapter on ``session`` for both schemes; returns the session."""
    adapter = RoutingAdapter(PLATFORM_HOSTS[platform], api_base, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def new_session(platform: str, api_base: str | None, timeout: float) -> requests.Session:
    """A fresh session fitted for ``platform``; no proxies from the environment are bypassed."""
    session = requests.Session()
    session.headers["User-Agent"] = "crosspost"
    return fit_session(session, platform, api_base, timeout)
