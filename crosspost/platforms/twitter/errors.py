"""X's failures turned into crosspost's error types.

X answers errors in two shapes: RFC 7807 problems (``title``, ``detail``,
``type``, sometimes ``reason``) and the older ``{"errors": [{"code", "message"}]}``.
Both are read from the HTTP response itself, so tweepy's exceptions and our own
media calls are classified by one function.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import requests

from crosspost.adapters.base import AuthError, LookupUnavailable, PlatformError, RateLimited, Rejected
from crosspost.adapters.transport import readable_body, unclear
from crosspost.redact import redact

PLATFORM = "twitter"

# Words of a 403 that say the app or token may not do this (a lasting credentials/tier problem), not the content.
_ACCESS_MARKS = (
    "client-not-enrolled",
    "client-forbidden",
    "oauth1-permissions",
    "unsupported-authentication",
    "not permitted to perform this action",
    "appropriate level of api access",
    "access to a subset",
    "oauth1 app permissions",
    "suspended",
    "locked",
)
_ACCESS_CODES = {453, 261, 326, 64, 220}  # tier, app write-restricted, locked, suspended, credentials lack access
# X's refusal of an API reply to a post whose author did not "summon" the replier (changelog 2026-02-23).
REPLY_REFUSED = "reply to this conversation is not allowed"
NO_CREDITS = (
    "X: no API credits left on this account (HTTP 402): add credits in the developer console, then `crosspost retry ID`"
)
BILLING = "no API credits left, or the usage cap is used up, on this account"
# The rate-limit windows X reports: the 15-minute one and the two 24-hour posting caps (user, app).
_WINDOWS = ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")


def _payload(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe(response: requests.Response) -> tuple[str, str | int]:
    """A one-line account of an error answer, and X's own code (API code if given, else HTTP status)."""
    data = _payload(response)
    bits: list[str] = []
    code: str | int = response.status_code
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or error.get("detail") or ""
            if isinstance(error.get("code"), int):
                code = error["code"]
                text = f"{error['code']} {text}".strip()
            if text:
                bits.append(str(text))
    if data.get("detail") and data.get("detail") not in bits:
        bits.insert(0, str(data["detail"]))
    if data.get("reason"):
        bits.append(f"reason: {data['reason']}")
    head = f"{response.status_code} {data.get('title') or response.reason or ''}".strip()
    if not bits and not data and response.text:
        bits.append(readable_body(response.text))
    return (f"{head}: {'; '.join(bits)}" if bits else head), code


def classify(
    response: requests.Response, secrets: Iterable[str], *, lookup: bool = False, publishing: bool = False
) -> PlatformError:
    """The error for an HTTP error answer from X.

    ``lookup``: the call was a read made to settle an outcome. ``publishing``: the call may have
    created something (a post, a thread part, an upload, alt text), so a 5xx is Ambiguous.
    """
    secrets = tuple(secrets)
    text, code = describe(response)
    status = response.status_code
    message = redact(f"X answered {text}", secrets)
    kw: dict[str, Any] = {"code": code, "platform": PLATFORM}
    if status == 401:
        return AuthError(
            redact(
                f"X refused the credentials ({text}): check consumer_key, consumer_secret, access_token and "
                "access_token_secret of this account; regenerate them in the X developer portal if they were revoked",
                secrets,
            ),
            **kw,
        )
    if lookup and (status == 402 or (status == 429 and usage_capped(response))):
        # A look-up X will not answer until credits are added or the period ends: it settles nothing.
        return LookupUnavailable(redact(f"X will not list this account's posts ({text}): {BILLING}", secrets), **kw)
    if status == 402:
        # Pay-per-use without prepaid credits: "API requests will be blocked until you add credits" (pricing).
        # Lasting for the account: another try costs a try and changes nothing.
        return AuthError(f"{NO_CREDITS} ({message})", **kw)
    if status == 429 and usage_capped(response):
        return AuthError(
            redact(
                f"X: this account's usage cap is used up ({text}): X refuses every post until the period "
                f"({_payload(response).get('period') or 'monthly'}) ends or the cap is raised in the developer "
                "console; then `crosspost retry ID`",
                secrets,
            ),
            **kw,
        )
    if status == 429:
        reset = reset_at(response)
        # A look-up refused for rate settles nothing yet: the delivery asks again after the reset.
        when = f"; allowed again at {reset.isoformat()}" if reset else ""
        return RateLimited(message + when, reset_at=reset, **kw)
    if status == 403:
        lowered = text.lower()
        if "duplicate" in lowered and not lookup:
            return Rejected(message, duplicate=True, **kw)
        access = code in _ACCESS_CODES or any(mark in lowered for mark in _ACCESS_MARKS)
        if lookup:
            return LookupUnavailable(
                redact(
                    f"X will not list this account's posts ({text}): the access tier or permission lacks it", secrets
                ),
                **kw,
            )
        if access:
            return AuthError(
                redact(
                    f"X refused for the app's access ({text}): in the X developer portal give the app Read and Write "
                    "permission (then regenerate the access token and secret) and a plan that includes this endpoint",
                    secrets,
                ),
                **kw,
            )
        return Rejected(message, **kw)
    if status >= 500:
        return unclear(message, publishing=publishing, **kw)  # type: ignore[no-any-return]
    if lookup and status == 404:
        return LookupUnavailable(message, **kw)
    return Rejected(message, **kw)


def usage_capped(response: requests.Response) -> bool:
    """Whether a 429 is the usage cap (a monthly period), not a rate window: its problem type or title says so."""
    data = _payload(response)
    return data.get("title") == "UsageCapExceeded" or str(data.get("type", "")).endswith("/usage-capped")


def reset_at(response: requests.Response) -> datetime | None:
    """When X allows again: the latest reset (unix seconds) of the windows that are spent.

    X reports a 15-minute window (``x-rate-limit-*``) and the 24-hour posting caps
    (``x-user-limit-24hour-*``, ``x-app-limit-24hour-*``). Waiting for the 15-minute reset
    while a 24-hour cap is spent only burns tries, so a window counts when its ``remaining``
    is 0; when none says so, the first window given (the 15-minute one, as before) counts.
    """
    spent: list[datetime] = []
    given: list[datetime] = []
    for window in _WINDOWS:
        when = _stamp(response.headers.get(f"{window}-reset", ""))
        if when is None:
            continue
        given.append(when)
        if response.headers.get(f"{window}-remaining", "").strip() == "0":
            spent.append(when)
    chosen = spent or given[:1]
    return max(chosen) if chosen else None


def _stamp(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None
