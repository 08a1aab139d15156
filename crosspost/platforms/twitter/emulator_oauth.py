"""OAuth 1.0a (RFC 5849) signature checking for the X emulator.

X signs every user-context request with HMAC-SHA1 over the method, the
platform's own URL and the parameters. The sandbox is reached through
``api_base`` (another scheme, host and port), which passes X's own host on in
``X-Forwarded-Host``, as a proxy does: the signature is checked for that host
(else for the ``Host`` the request arrived with) only,
as X checks it for the host that received the request. A signature made for
another of X's hosts than the one the request names is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from urllib.parse import parse_qsl, quote, unquote

from crosspost.sandbox.core import SandboxRequest

# The hosts X documents for its API and uploads: the only ones a request may be signed for.
X_HOSTS = ("api.twitter.com", "api.x.com", "upload.twitter.com", "upload.x.com")
REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_signature_method",
    "oauth_signature",
)
# X refuses timestamps far from its clock; be as strict as a real server would be, within reason.
MAX_SKEW_SECONDS = 900
_PAIR = re.compile(r'([A-Za-z0-9_.~-]+)\s*=\s*"([^"]*)"')


def _enc(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a defines it (unreserved characters kept)."""
    return quote(value, safe="~-._")


def parse_header(header: str) -> dict[str, str] | None:
    """The ``oauth_*`` fields of an ``Authorization: OAuth ...`` header, decoded; None if not OAuth."""
    if not header[:6].lower() == "oauth ":
        return None
    return {unquote(k): unquote(v) for k, v in _PAIR.findall(header[6:])}


class OAuthVerifier:
    """Checks requests against one app (consumer) and one user token; remembers nonces against replay."""

    def __init__(self, consumer_key: str, consumer_secret: str, token: str, token_secret: str) -> None:
        self.consumer_key = consumer_key
        self.token = token
        self.key = f"{_enc(consumer_secret)}&{_enc(token_secret)}".encode()
        self.nonces: OrderedDict[tuple[str, str], None] = OrderedDict()

    def check(self, request: SandboxRequest, now: float | None = None) -> str | None:
        """None if ``request`` is properly signed by our app and user, else why not (for logs)."""
        fields = parse_header(request.headers.get("authorization", ""))
        if fields is None:
            return "no OAuth 1.0a Authorization header"
        missing = [name for name in REQUIRED if not fields.get(name)]
        if missing:
            return f"missing {', '.join(missing)}"
        if fields["oauth_signature_method"] != "HMAC-SHA1":
            return "unsupported signature method"
        if fields.get("oauth_version", "1.0") != "1.0":
            return "unsupported oauth_version"
        if fields["oauth_consumer_key"] != self.consumer_key or fields["oauth_token"] != self.token:
            return "unknown consumer key or token"
        try:
            stamp = int(fields["oauth_timestamp"])
        except ValueError:
            return "bad timestamp"
        if abs((now if now is not None else time.time()) - stamp) > MAX_SKEW_SECONDS:
            return "timestamp out of bounds"
        host = (request.headers.get("x-forwarded-host") or request.headers.get("host", "")).lower()
        if host not in X_HOSTS:
            return f"the request names host {host or 'none'}, not one of X's"
        if not hmac.compare_digest(self.sign(request, fields, f"https://{host}"), fields["oauth_signature"]):
            return f"signature mismatch (checked for https://{host})"
        nonce = (fields["oauth_nonce"], fields["oauth_timestamp"])
        if nonce in self.nonces:
            return "nonce used before"
        self.nonces[nonce] = None
        while len(self.nonces) > 10000:
            self.nonces.popitem(last=False)
        return None

    def sign(self, request: SandboxRequest, fields: dict[str, str], base: str) -> str:
        """The HMAC-SHA1 signature of ``request`` as if sent to ``base`` + its path."""
        params: list[tuple[str, str]] = [(k, v) for k, values in request.query.items() for v in values]
        params += [(k, v) for k, v in fields.items() if k.startswith("oauth_") and k != "oauth_signature"]
        # Only urlencoded bodies are signed: JSON and multipart bodies are not parameters.
        if request.content_type.startswith("application/x-www-form-urlencoded"):
            params += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        normalized = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in params))
        text = "&".join((request.method.upper(), _enc(base + request.path), _enc(normalized)))
        digest = hmac.new(self.key, text.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()
