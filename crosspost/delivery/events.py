"""Log lines for attempts: one line each, ``key=value`` fields, journald-friendly (no timestamp:
journald and any log collector add their own)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from crosspost.redact import Redacted

LogFn = Callable[[str], None]


# A value left bare: letters, digits (any script's: ``\w`` is ``str.isalnum`` or "_") and URL punctuation.
_BARE = re.compile(r"[\w\-.:/@+?=&%#~,]+")


def _value(value: object) -> str:
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, so a reason with spaces stays one field


def log_line(level: str, secrets: Iterable[str] = (), **fields: object) -> Redacted:
    """``level=info post=3 account=vk outcome=sent url=...``, with every secret masked (a :class:`Redacted`:
    the daemon's writer does not scrub it a second time with the same secrets)."""
    parts = [f"level={level}"]
    parts += [f"{key}={_value(value)}" for key, value in fields.items() if value is not None]
    return Redacted.of(" ".join(parts), secrets)
