"""Times and durations as users write them (contract: WHEN and config durations).

Every function takes ``now`` and the zone explicitly: nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo

from crosspost.errors import TimeFormatError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
WHEN_FORMS = (
    "an ISO 8601 date-time (2027-03-17 10:00 or 2027-03-17T10:00:00+09:00), 'now' or a delay such as +30m, +2h, +1d, "
    "+1h30m"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``30s``, ``5m``, ``6h``, ``1d``, ``1h30m`` (whole numbers; units in d, h, m, s order)."""
    cleaned = text.strip().lower()
    match = _DURATION.match(cleaned)
    if not cleaned or not match or not any(match.groups()):
        raise TimeFormatError(
            f"{text!r} is not a duration; write whole numbers with units, such as 30s, 5m, 6h, 1d or 1h30m"
        )
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def localize(value: datetime, zone: tzinfo) -> datetime:
    """A naive time is read in ``zone``; an aware one is kept as it is."""
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def parse_when(text: str, zone: tzinfo, now: datetime) -> datetime:
    """Parse WHEN: ISO 8601 (naive means ``zone``), ``now`` or ``+1h30m``. Returns an aware time."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    if cleaned.startswith("+"):
        try:
            return now + parse_duration(cleaned[1:])
        except TimeFormatError:
            raise TimeFormatError(f"{text!r} is not a time; write {WHEN_FORMS}") from None
    try:
        value = datetime.fromisoformat(cleaned.replace("Z", "+00:00") if cleaned.endswith("Z") else cleaned)
    except ValueError:
        raise TimeFormatError(f"{text!r} is not a time; write {WHEN_FORMS}") from None
    if isinstance(value, date) and not isinstance(value, datetime):  # pragma: no cover - fromisoformat gives datetime
        value = datetime.combine(value, datetime.min.time())
    return localize(value, zone)


def parse_since(text: str, zone: tzinfo, now: datetime) -> datetime:
    """``log --since``: a time (WHEN forms) or a duration back from now (``7d``)."""
    cleaned = text.strip()
    if _DURATION.match(cleaned.lower()) and any(_DURATION.match(cleaned.lower()).groups()):  # type: ignore[union-attr]
        return now - parse_duration(cleaned)
    try:
        return parse_when(cleaned, zone, now)
    except TimeFormatError:
        raise TimeFormatError(
            f"{text!r} is not a time or a duration; write a time such as 2027-03-17 10:00 or a duration such as 7d, 12h"
        ) from None


def iso(value: datetime | None, zone: tzinfo) -> str | None:
    """ISO 8601 in ``zone`` with its UTC offset, to the second (the contract's JSON form)."""
    if value is None:
        return None
    return value.astimezone(zone).isoformat(timespec="seconds")


def human(value: datetime | None, zone: tzinfo) -> str:
    """``2027-03-17 10:00:00+09:00`` for tables; ``-`` for no time."""
    if value is None:
        return "-"
    return value.astimezone(zone).isoformat(sep=" ", timespec="seconds")
