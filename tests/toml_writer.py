"""A small TOML writer for the fuzz tests' generated values (inline forms only)."""

from __future__ import annotations

import json
from datetime import date, datetime, time


def toml_value(value: object) -> str:
    """A small TOML writer for generated values (inline forms only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    assert isinstance(value, datetime | date | time)
    return value.isoformat()
