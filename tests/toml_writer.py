"""What the fuzz tests share: TOML values to generate, a small writer for them (inline forms only), and
random edits of a good file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from hypothesis import strategies as st

# Every kind of value TOML can hold, at its edges (NaN, infinities, 64-bit limits, years 1 and 9999).
TOML_SCALARS = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.times(),
)


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


@st.composite
def mutations(draw: st.DrawFn, good: bytes, tokens: list[bytes]) -> bytes:
    """``good`` after 1 to 6 random inserts, deletions, replacements or a truncation; inserted bytes are
    random or one of ``tokens`` (the format's own punctuation, which breaks parsers best)."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if action == "truncate":
            del data[at:]
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            chunk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(tokens)))
            data[at : at + (len(chunk) if action == "replace" else 0)] = chunk
    return bytes(data)
