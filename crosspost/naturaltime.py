"""Times as people type them first (``tomorrow 10:00``, ``завтра в 10:00``, ``Fri 18:00``), read by dateparser.

Taken only when the reading is beyond doubt: the text names a time of day, and
dateparser gives the same answer under every reasonable reading of it (day or
month first, year first, the first or last day of a month named without one, a
weekday's next occurrence or this week's when both are still ahead). Anything
else is refused with the ISO form to write instead: a post that goes out on the
wrong day is worse than a command that asks again. The CLI echoes the absolute
time it understood, so the person sees what was read.

dateparser takes a noticeable while to import: it is imported here only, on the
first natural time, so ``--help``, ``validate`` and ``preview`` never load it.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from crosspost.errors import TimeFormatError

LANGUAGES = ["en", "ru"]
ISO_HINT = "write it in ISO form, such as 2027-03-17 10:00 (in the config timezone) or 2027-03-17T10:00:00+09:00"
# A clock time (10:00, 10.00, 10h00, 10am, 10 pm) or a named one: what says the text gave a time of day.
_CLOCK = re.compile(
    r"\d{1,2}\s*[:.hч]\s*\d{2}|\d{1,2}\s*(?:a\.?m\.?|p\.?m\.?)\b|\b(?:noon|midnight)\b|полдень|полночь",
    re.IGNORECASE,
)
# A month named without a day ("March 10:00"): dateparser takes the day from today, silently.
_MONTH = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(?:янв|фев|мар|апр|ма[йяе]|июн|июл|авг|сен|окт|ноя|дек)",
    re.IGNORECASE,
)
# dateparser keeps the base's microseconds where the text gave no time; a marker no person types shows it.
_MARKER = 987_654


def parse_natural(text: str, zone: tzinfo, now: datetime) -> datetime:
    """``text`` as a time in ``zone``: naive (the caller applies the zone's DST rules) unless it named an offset.

    Raises TimeFormatError saying how to write it when the text is not a time, gives
    no time of day, or has more than one reading.
    """
    base = now.astimezone(zone).replace(tzinfo=None, microsecond=_MARKER)
    primary, period = _parse(text, base, {})
    if primary is None:
        raise TimeFormatError(
            f"{text!r} is not a time; write an ISO 8601 date-time (2027-03-17 10:00), 'now', a delay such as "
            "+30m or +2h, or a day and a time such as 'tomorrow 10:00' or 'Fri 18:00'"
        )
    if primary.microsecond == _MARKER or not _CLOCK.search(text):
        raise TimeFormatError(
            f"{text!r} names no time of day; add one, such as 'tomorrow 10:00', or write a delay such as +2h"
        )
    if period in ("week", "month", "year") or (_MONTH.search(text) and not re.search(r"\d", _CLOCK.sub("", text))):
        raise TimeFormatError(
            f"{text!r} names no day; name one, such as '17 March 10:00' or 'Fri 10:00', or {ISO_HINT}"
        )
    readings = {primary}
    for other in ({"DATE_ORDER": "MDY"}, {"PREFER_DAY_OF_MONTH": "first"}, {"PREFER_DAY_OF_MONTH": "last"}):
        reading = _parse(text, base, other)[0]
        if reading is not None:
            readings.add(reading)
    # A weekday on that very day ("Fri 20:00" on a Friday at 19:00): tonight or next week? Both are ahead.
    this_period = _parse(text, base, {"PREFER_DATES_FROM": "current_period"})[0]
    if this_period is not None and _naive(this_period) >= base.replace(microsecond=0):
        readings.add(this_period)
    if len({_instant(r, zone) for r in readings}) > 1:
        shown = " or ".join(r.strftime("%a %d %b %Y %H:%M") for r in sorted({_naive(r) for r in readings}))
        raise TimeFormatError(f"{text!r} is ambiguous (it may be {shown}); {ISO_HINT}")
    return primary


def _parse(text: str, base: datetime, overrides: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """dateparser's reading of ``text`` with crosspost's settings changed by ``overrides``, and its period."""
    from dateparser.date import DateDataParser  # type: ignore[import-untyped]  # see the module's docstring

    settings: dict[str, Any] = {
        "DATE_ORDER": "DMY",
        "PREFER_DATES_FROM": "future",
        "PREFER_DAY_OF_MONTH": "current",
        "RELATIVE_BASE": base,
        **overrides,
    }
    try:
        data = DateDataParser(languages=LANGUAGES, settings=settings).get_date_data(text)
    except Exception:  # noqa: BLE001 - dateparser raises odd types on odd input; all mean "not a time"
        return None, None
    result = data.date_obj
    return (result, data.period) if isinstance(result, datetime) else (None, None)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def _instant(value: datetime, zone: tzinfo) -> datetime:
    """Comparable readings: an aware one as it is, a naive one in ``zone`` (fold 0, enough to tell them apart)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
