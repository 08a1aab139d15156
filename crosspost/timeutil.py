"""Times and durations as users write them (contract: WHEN and config durations).

Every function takes ``now`` and the zone explicitly: nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

from crosspost.errors import TimeFormatError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
WHEN_FORMS = (
    "an ISO 8601 date-time (2027-03-17 10:00 or 2027-03-17T10:00:00+09:00), 'now' or a delay such as +30m, +2h, +1d, "
    "+1h30m"
)
# A time this far in the past is taken as meant for now (typing takes a moment); further back, it is a mistake.
PAST_GRACE = timedelta(minutes=1)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ClockChangeError(TimeFormatError):
    """A naive time that the zone skips (a DST gap) or has twice (a fold); the message gives both readings."""


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


def parse_shift(text: str) -> timedelta:
    """``reschedule --by``: a signed delay, ``+1h`` or ``-30m`` (no sign means later)."""
    cleaned = text.strip()
    sign = -1 if cleaned.startswith("-") else 1
    try:
        return sign * parse_duration(cleaned.lstrip("+-"))
    except TimeFormatError:
        raise TimeFormatError(
            f"{text!r} is not a delay; write a signed duration such as +1h, -30m, +1d or +1h30m"
        ) from None


def localize(value: datetime, zone: tzinfo) -> datetime:
    """A naive time is read in ``zone``; an aware one is kept as it is.

    A naive time that ``zone`` skips (a DST gap) or has twice (a fold) is refused
    with both readings spelled out: taking either silently would publish an hour
    away from what the author meant.
    """
    if value.tzinfo is not None:
        return value
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    raise ClockChangeError(_dst_message(value, zone, early.utcoffset(), late.utcoffset()))


def _dst_message(value: datetime, zone: tzinfo, early: timedelta | None, late: timedelta | None) -> str:
    assert early is not None and late is not None
    name = getattr(zone, "key", str(zone))
    before, after = _transition(value, zone, early, late)
    shown = _wall(value)
    if late > early:  # a gap: the clock jumps forward over the time written
        step = late - early
        return (
            f"{shown} does not exist in {name}: clocks jump from {_clock(before)} to {_clock(after)}; "
            f"write {_near(value - step, value)} or {_near(value + step, value)}"
        )
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    return (
        f"{shown} exists twice in {name}: clocks go back from {_clock(before)} to {_clock(after)}; "
        f"write {first.isoformat(timespec='minutes')} for the first ({first.tzname()}, before the change) "
        f"or {second.isoformat(timespec='minutes')} for the second ({second.tzname()}, after it)"
    )


def _transition(value: datetime, zone: tzinfo, early: timedelta, late: timedelta) -> tuple[datetime, datetime]:
    """The wall clock just before and just after the change that makes ``value`` a gap or a fold."""
    lo, hi = sorted(((value - early).replace(tzinfo=UTC), (value - late).replace(tzinfo=UTC)))
    # The change is the first instant in [lo, hi] whose offset is ``late``: bisect it to the second.
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == late:
            hi = mid
        else:
            lo = mid
    change = hi.replace(microsecond=0)  # changes fall on whole seconds; hi is within one after it
    return (change + early).replace(tzinfo=None), (change + late).replace(tzinfo=None)


def _wall(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M" + (":%S" if value.second else ""))


def _clock(value: datetime) -> str:
    return value.strftime("%H:%M" + (":%S" if value.second else ""))


def _near(value: datetime, beside: datetime) -> str:
    """A time of day, with its date only when it differs from ``beside``'s."""
    return _clock(value) if value.date() == beside.date() else _wall(value)


def parse_when(text: str, zone: tzinfo, now: datetime, *, natural: bool = False) -> datetime:
    """Parse WHEN: ISO 8601 (naive means ``zone``), ``now`` or ``+1h30m``. Returns an aware time.

    ``natural`` (the command line only) also takes what people type first, such as
    ``tomorrow 10:00`` or ``завтра в 10:00``, when it has one reading only (see
    :mod:`crosspost.naturaltime`). Post files do not: a file's "tomorrow" would move each day.
    """
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
        if natural and cleaned:
            from crosspost.naturaltime import parse_natural

            return localize(parse_natural(cleaned, zone, now), zone)
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
    except ClockChangeError:  # its own message says how to write it
        raise
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


def due_line(due: datetime, zone: tzinfo, now: datetime) -> str:
    """``due Thu 3 Dec 2026 10:00 KST (+09:00), in 1 day 4 h``: what ``queue`` and ``reschedule`` echo.

    The weekday, the zone's own abbreviation and the distance from now are there so
    that a person notices a "tomorrow" that was meant in another zone, or another day.
    """
    local = due.astimezone(zone)
    offset = local.isoformat()[-6:]
    abbreviation = local.tzname() or ""
    zone_part = f"{abbreviation} ({offset})" if abbreviation and abbreviation[0] not in "+-" else f"({offset})"
    clock = local.strftime("%H:%M" + (":%S" if local.second else ""))
    day = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"
    return f"due {day} {clock} {zone_part}, {relative(due - now)}"


def relative(delta: timedelta) -> str:
    """``in 1 day 4 h``, ``in 25 min``, ``3 h 5 min ago``, ``now``: the two largest units, cut, not rounded."""
    seconds = int(delta.total_seconds())
    size = abs(seconds)
    if size == 0:
        return "now"
    units = [(size // 86400, "day"), (size % 86400 // 3600, "h"), (size % 3600 // 60, "min"), (size % 60, "s")]
    first = next(i for i, (n, _) in enumerate(units) if n)
    shown = [f"{n} {unit}s" if unit == "day" and n != 1 else f"{n} {unit}" for n, unit in units[first : first + 2] if n]
    words = " ".join(shown)
    return f"in {words}" if seconds > 0 else f"{words} ago"
