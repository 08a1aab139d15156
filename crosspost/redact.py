"""Removing secrets from text before it is shown, logged or stored.

Platform libraries put tokens in URLs (facebook-sdk sends ``access_token`` in
GET queries, vk_api in POST bodies) and so in their exception texts. Every
message that leaves an adapter passes through :func:`redact`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MASK = "***"
# Credential-looking parameters in URLs, bodies and headers, whatever their value.
_PARAMS = re.compile(
    r"(?i)\b(access_token|oauth_token|oauth_signature|oauth_consumer_key|client_secret|consumer_secret|"
    r"token_secret|appsecret_proof|input_token|password|sig)(=|\"?\s*:\s*\"?|%3D)([^&\s\"',;)]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._~+/=%-]{8,}")


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every known secret value masked (longest first, so no part of one survives)."""
    pattern = _secrets_pattern(secrets if isinstance(secrets, frozenset) else frozenset(secrets))
    return text if pattern is None else pattern.sub(MASK, text)


@lru_cache(maxsize=8)
def _secrets_pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One alternation of the secrets, longest first, made once per set: the daemon scrubs every log line
    with the same set, and fifty accounts hold a few hundred values (a replace per value per line before)."""
    ordered = sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every credential parameter masked."""
    text = mask_secrets(text, secrets)
    text = _PARAMS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    for pattern in _platform_patterns():
        text = pattern.sub(MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


class Redacted(str):
    """A text :func:`redact` made, and the secrets it masked (``masked_with``). A writer scrubbing what it
    prints may skip a text already redacted with its own set: a second pass finds nothing. The daemon's log
    lines are these; scrubbing each twice was a tenth of its CPU in a drain."""

    masked_with: frozenset[str] | None = None

    @classmethod
    def of(cls, text: str, secrets: Iterable[str] = ()) -> Redacted:
        done = cls(redact(text, secrets))
        done.masked_with = secrets if isinstance(secrets, frozenset) else frozenset(secrets)
        return done

    def masks(self, secrets: frozenset[str]) -> bool:
        """Whether this text was redacted with (at least) ``secrets``."""
        return self.masked_with is not None and (self.masked_with is secrets or secrets <= self.masked_with)


@lru_cache(maxsize=1)
def _platform_patterns() -> tuple[re.Pattern[str], ...]:
    """Credential shapes the registered platforms put in URLs (a Bot API token in the path, say)."""
    from crosspost.platforms import specs

    return tuple(re.compile(p) for spec in specs().values() for p in spec.secret_patterns())
