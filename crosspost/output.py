"""How the CLI shows things: JSON shapes, CSV, plain-text blocks and tables for people.

Pure functions from records to text (or JSON-ready dicts); the CLI prints them.
Nothing heavy at import time; tables are drawn here (see :func:`table`).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unicodedata import combining

from crosspost.timeutil import human, iso

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.model import Draft, Image
    from crosspost.store.records import Attempt, DeliveryRecord, PostRecord, PostSummary

# The contract's delivery fields (log --json), then extras; also the CSV columns, in this order.
LOG_FIELDS = (
    "post_id",
    "title",
    "delivery_id",
    "account",
    "platform",
    "status",
    "attempts",
    "remote_id",
    "url",
    "error",
    "due_at",
    "sent_at",
    "next_try_at",
)
SHORTEN_AT = 48  # on a terminal, titles are cut to this many columns
FIT_MIN = 12  # a column cut to fit the terminal keeps at least this many cells
DAEMON_ALIVE_SECONDS = 15.0  # the daemon beats every 2 s and counts as gone after 15 s silent

# ---------------------------------------------------------------- JSON shapes


def delivery_json(d: DeliveryRecord, zone: tzinfo, *, history: bool = False) -> dict[str, Any]:
    """One delivery as the contract's JSON record (times ISO 8601 in ``zone`` with its offset)."""
    data: dict[str, Any] = {
        "post_id": d.post_id,
        "title": d.post_title,
        "delivery_id": d.id,
        "account": d.account,
        "platform": d.platform,
        "status": d.status,
        "attempts": d.attempts,
        "remote_id": d.remote_id,
        "url": d.url,
        "error": d.error,
        "due_at": iso(d.due_at, zone),
        "sent_at": iso(d.sent_at, zone),
        "next_try_at": iso(d.next_try_at, zone),
        "notice": notice_json(d.notice),
    }
    if history:
        data["history"] = [attempt_json(a, zone) for a in d.history]
    return data


def notice_json(notice: str | None) -> dict[str, Any] | None:
    """What became of the delivery's notice: ``{"state": "sent"|"queued"|"failed"|"skipped", "error": ...}``."""
    if notice is None:
        return None
    state, _, why = notice.partition(":")
    return {"state": state, "error": why or None}


def notice_mark(notice: str | None) -> str | None:
    """``show``'s short line: ``notice sent``, ``notice not sent: sent is not in [notify] on``."""
    data = notice_json(notice)
    if data is None:
        return None
    words = {"sent": "notice sent", "queued": "notice queued", "failed": "notice not sent", "skipped": "no notice"}
    mark = words.get(data["state"], f"notice {data['state']}")
    return f"{mark}: {data['error']}" if data["error"] else mark


def attempt_json(a: Attempt, zone: tzinfo) -> dict[str, Any]:
    return {
        "at": iso(a.at, zone),
        "outcome": a.outcome,
        "error": a.error,
        "code": a.code,
        "seconds": round(a.seconds, 3),
        "is_try": a.is_try,
    }


def draft_json(draft: Draft) -> dict[str, Any]:
    return {
        "account": draft.account,
        "platform": draft.platform,
        "parts": list(draft.parts),
        "images": [{"path": str(i.path), "alt": i.alt} for i in draft.images],
        "link": draft.link,
    }


def post_json(p: PostRecord, zone: tzinfo, *, full: bool = False) -> dict[str, Any]:
    """A post for ``list --json``; ``full`` (``show --json``) adds the snapshot and each delivery's history."""
    data: dict[str, Any] = {
        "id": p.id,
        "title": p.title,
        "status": p.status,
        "due_at": iso(p.due_at, zone),
        "source": p.source,
        "created_at": iso(p.created_at, zone),
        "deliveries": [delivery_json(d, zone, history=full) for d in p.deliveries],
        # The deliveries that need a person, counted by status: "partial" alone would hide an "unknown".
        "attention": attention_counts(d.status for d in p.deliveries),
    }
    if full:
        data["snapshot"] = [draft_json(d) for d in p.drafts]
    return data


def log_csv(records: Iterable[DeliveryRecord], zone: tzinfo) -> str:
    """``log --csv``: the JSON fields as columns, with a header row; null is an empty cell."""
    return "".join(log_csv_lines(records, zone))


def log_csv_lines(records: Iterable[DeliveryRecord], zone: tzinfo) -> Iterator[str]:
    """:func:`log_csv`'s text a line at a time (a piped log streams): the header, then one per record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LOG_FIELDS)
    for d in records:
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        row = delivery_json(d, zone)
        writer.writerow(["" if row[f] is None else row[f] for f in LOG_FIELDS])
    yield out.getvalue()


# ---------------------------------------------------------------- words for people


ATTENTION = ("failed", "unknown", "missed")  # the delivery statuses that need a person (list/log --attention)


def attention_counts(statuses: Iterable[str]) -> dict[str, int]:
    """``{"unknown": 1}``: how many deliveries of each status that needs a person, in ATTENTION order."""
    counted = list(statuses)
    return {s: counted.count(s) for s in ATTENTION if s in counted}


def post_status_text(status: str, statuses: Iterable[str]) -> str:
    """``partial (1 unknown)``: the post's status, and what in it needs a person when the word does not say."""
    notes = [f"{n} {s}" for s, n in attention_counts(statuses).items() if s != status]
    return f"{status} ({', '.join(notes)})" if notes else status


def delivery_states(p: PostSummary) -> str:
    """``twitter:sent facebook:retrying vk:pending``."""
    return " ".join(f"{account}:{status}" for account, status in p.states)


def outcome_of(d: DeliveryRecord) -> str:
    """The url of a sent delivery, else its last error, else ``-``."""
    return d.url or d.error or "-"


def ago(at: datetime | None, now: datetime, zone: tzinfo) -> str:
    """A time as people read it in a table: ``in 3 h``, ``2 d ago``, ``in 25 min``, ``now``; one unit,
    cut, not rounded; beyond 60 days the date (``2025-10-01``); ``-`` for no time."""
    if at is None:
        return "-"
    seconds = int((at - now).total_seconds())
    size = abs(seconds)
    if size < 10:
        return "now"
    if size >= 60 * 86400:
        return at.astimezone(zone).date().isoformat()
    if size < 60:
        n, unit = size, "s"
    elif size < 3600:
        n, unit = size // 60, "min"
    elif size < 48 * 3600:
        n, unit = size // 3600, "h"
    else:
        n, unit = size // 86400, "d"
    return f"in {n} {unit}" if seconds > 0 else f"{n} {unit} ago"


def daemon_line(
    status: tuple[str, datetime, str] | None, now: datetime, zone: tzinfo, last_seen: datetime | None = None
) -> str | None:
    """The footer of ``list`` and ``accounts``: is a daemon alive, and when did one last beat."""
    if status is None:
        if last_seen is None:
            return "daemon: not running (none has run on this database yet)"
        ago = max(0, int((now - last_seen).total_seconds()))
        return f"daemon: not running (the last one stopped; last heartbeat {human(last_seen, zone)}, {_ago(ago)} ago)"
    owner, beat, _started = status
    ago = max(0, int((now - beat).total_seconds()))
    when = f"last heartbeat {human(beat, zone)}, {_ago(ago)} ago"
    if ago <= DAEMON_ALIVE_SECONDS:
        return f"daemon: running ({owner}, {when})"
    return f"daemon: not running? ({owner}, {when}; start it with: crosspost daemon)"


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def shown_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it is inside it (as the author wrote it), else as it is."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def preview_lines(
    account: AccountConfig, draft: Draft, measures: Sequence[tuple[int, int]], base: Path, width: int | None = None
) -> list[str]:
    """One target of ``preview``: a heading, then each part with its length against the limit, then images.

    With ``width``, a text line longer than that is wrapped between words (never inside one: a URL
    stays whole), its continuations indented two more spaces than the line."""
    from crosspost.platforms import spec_for

    spec = spec_for(account.platform)
    n = len(draft.parts)
    unit = spec.length_unit
    shape = spec.shape(draft)
    lines = [f"{account.name} ({account.platform}), {shape}"]
    for i, (part, (length, limit)) in enumerate(zip(draft.parts, measures, strict=True), 1):
        over = "  OVER THE LIMIT" if length > limit else ""
        label = f"part {i}/{n} · " if n > 1 else ""
        lines.append(f"{label}{length}/{limit} {unit}{over}")
        for line in part.split("\n"):
            lines.extend(_wrapped(line, width))
        lines.append("")
    if spec.link_field and draft.link:
        lines.append(f"link: {draft.link}")
    for i, image in enumerate(draft.images, 1):
        alt = image.alt or "(no alt text)"
        if not spec.shows_alt_text and image.alt:
            alt += f" ({spec.display} shows no alt text)"
        lines.append(f"image {i}: {shown_path(image.path, base)} · alt: {alt}")
        lines.extend(_prepared_words(image, draft.platform))
    if lines[-1] != "":
        lines.append("")
    return lines


def _wrapped(line: str, width: int | None) -> list[str]:
    """A text line of ``preview``, indented two spaces, wrapped at ``width`` terminal cells between words."""
    if not line:
        return [""]
    if width is None or cell_width(line) + 2 <= width:
        return [f"  {line}"]
    indent = len(line) - len(line.lstrip(" "))
    out: list[str] = []
    current = "  " + line[:indent]
    fresh = True  # nothing but indentation on the current screen line yet
    for word in line[indent:].split(" "):
        if not fresh and cell_width(current) + 1 + cell_width(word) > width:
            out.append(current)
            current, fresh = "  " + " " * (indent + 2), True
        current += word if fresh else " " + word
        fresh = False
    out.append(current)
    return out


def cell_width(text: str) -> int:
    """Terminal cells ``text`` takes: CJK and emoji two, joiners and combining marks none."""
    import unicodedata

    total = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        wide = unicodedata.east_asian_width(ch) in ("W", "F") or 0x1F000 <= ord(ch) <= 0x1FAFF
        total += 2 if wide else 1
    return total


def preview_json(account: AccountConfig, draft: Draft, measures: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {
        "account": account.name,
        "platform": account.platform,
        "parts": [
            {"text": part, "length": length, "limit": limit}
            for part, (length, limit) in zip(draft.parts, measures, strict=True)
        ],
        "images": [
            {"path": str(i.path), "alt": i.alt, "prepared": _prepared_json(i, draft.platform)} for i in draft.images
        ],
        "link": draft.link,
    }


def _prepared_words(image: Image, platform: str) -> list[str]:
    """``  sent as JPEG, 4.6 MB, 3456x2304 px``: the copy the platform gets (made by load_drafts' checks)."""
    from crosspost.images import megabytes, prepared_size

    prepared = prepared_size(image.sha256, platform)
    if prepared is None:
        return []
    return [f"  sent as {prepared.format}, {megabytes(len(prepared.data))}, {prepared.width}x{prepared.height} px"]


def _prepared_json(image: Image, platform: str) -> dict[str, Any] | None:
    from crosspost.images import prepared_size

    prepared = prepared_size(image.sha256, platform)
    if prepared is None:
        return None
    return {"mime": prepared.mime, "bytes": len(prepared.data), "width": prepared.width, "height": prepared.height}


def show_lines(p: PostRecord, zone: tzinfo) -> list[str]:
    """``show ID``: the post, then per account its delivery, the text as stored and every attempt."""
    lines = [
        f"post {p.id}: {p.title}",
        f"status:  {p.status}",
        f"due:     {human(p.due_at, zone)}",
        f"queued:  {human(p.created_at, zone)}",
        f"source:  {p.source}",
    ]
    drafts = {d.account: d for d in p.drafts}
    for d in p.deliveries:
        lines += ["", f"{d.account} ({d.platform}): {d.status}, {_tries(d.attempts)}"]
        lines.append(f"  due {human(d.due_at, zone)}" + (f", sent {human(d.sent_at, zone)}" if d.sent_at else ""))
        if d.next_try_at and d.status == "retrying":
            lines.append(f"  next try {human(d.next_try_at, zone)}")
        if d.url:
            lines.append(f"  url: {d.url}" + (f" (id {d.remote_id})" if d.remote_id else ""))
        if d.error:
            lines.append(f"  error: {d.error}")
        if d.notice:
            lines.append(f"  {notice_mark(d.notice)}")
        draft = drafts.get(d.account)
        if draft is not None:
            n = len(draft.parts)
            for i, part in enumerate(draft.parts, 1):
                lines.append(f"  text, part {i}/{n}:" if n > 1 else "  text:")
                lines.extend(f"    {line}" if line else "" for line in part.split("\n"))
            if draft.link:
                lines.append(f"  link: {draft.link}")
            for i, image in enumerate(draft.images, 1):
                lines.append(f"  image {i}: {image.path} · alt: {image.alt or '(no alt text)'}")
        if d.history:
            lines.append("  history:")
            for a in d.history:
                lines.append("    " + attempt_line(a, zone))
    return lines


def attempt_line(a: Attempt, zone: tzinfo) -> str:
    code = f" [{a.code}]" if a.code else ""
    error = f": {a.error}" if a.error else ""
    kind = "" if a.is_try else " (look-up)"
    return f"{human(a.at, zone)}  {a.outcome}{kind}{code}, {a.seconds:.1f}s{error}"


def _tries(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"


# ---------------------------------------------------------------- tables


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    shorten: Sequence[str] = (),
    width: int | None = None,
    fit: Sequence[str] = (),
    tty: bool | None = None,
) -> str:
    """A table for people: columns aligned by display width (wcwidth: CJK and emoji 2), two spaces apart.

    Drawn here rather than by rich, which takes over a second for a log of a thousand
    rows (the contract wants ``log`` under half a second). Never wrapped, so each row is
    one line for grep and tests; on a terminal (``tty``, default: stdout is one) the header is
    bold and the ``shorten`` columns are cut to :data:`SHORTEN_AT` cells with an ellipsis. With
    ``width`` (the terminal's), the ``fit`` columns, in that order, are cut further with an
    ellipsis until each line fits: an 80-column terminal shows one line per row, not two.
    """
    tty = sys.stdout.isatty() if tty is None else tty
    cells = [[_one_line(c) for c in row] for row in rows]
    if tty:
        for i, header in enumerate(headers):
            if header in shorten:
                for row in cells:
                    row[i] = _shortened(row[i], SHORTEN_AT)
    grid = [list(headers), *cells]
    measured = [[_width(cell) for cell in row] for row in grid]
    widths = [max(row[i] for row in measured) for i in range(len(headers))]
    if width is not None:
        for name in fit:
            excess = sum(widths) + 2 * (len(widths) - 1) - width
            if excess <= 0:
                break
            i = list(headers).index(name)
            target = max(FIT_MIN, len(headers[i]), widths[i] - excess)
            if target < widths[i]:
                for row, row_widths in zip(grid[1:], measured[1:], strict=True):
                    if row_widths[i] > target:
                        row[i] = _shortened(row[i], target)
                        row_widths[i] = _width(row[i])
                widths[i] = max(row[i] for row in measured)
    lines = []
    for row, row_widths in zip(grid, measured, strict=True):
        padded = [cell + " " * (widths[i] - row_widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
    if tty:
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
    return "\n".join(lines)


def streamed_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, chunk: int = 500) -> Iterator[str]:
    """:func:`table`'s lines for a pipe, yielded as the rows come (nothing cut, no bold): each chunk
    of rows is aligned with the widest cells seen so far, so columns only ever widen. A piped log
    of 30,000 rows starts at once instead of after all of them are read and measured."""
    widths = [0] * len(headers)
    iterator = iter(rows)
    header: list[Sequence[str]] = [headers]  # rides with the first chunk
    while True:
        block = list(islice(iterator, chunk))
        cells: list[Sequence[str]] = []
        measured: list[list[int]] = []
        for row in chain(header, block):
            if _plain(row):  # most rows of a log: one line each, as wide as long
                cells.append(row)
                measured.append([len(c) for c in row])
            else:
                one = [_one_line(c) for c in row]
                cells.append(one)
                measured.append([_width(c) for c in one])
        header = []
        if measured:
            widths = [max(w, *column) for w, column in zip(widths, zip(*measured, strict=True), strict=True)]
        for row, row_widths in zip(cells, measured, strict=True):
            yield "  ".join([c + " " * (w - n) for c, w, n in zip(row, widths, row_widths, strict=True)]).rstrip()
        if len(block) < chunk:
            return


_BREAKS = re.compile(r"[\n\r\t\v\f]")


def _plain(row: Sequence[str]) -> bool:
    """Printable ASCII only: each cell is one line whose width is its length (most rows of a log)."""
    text = "".join(row)
    return text.isascii() and text.isprintable()


def _one_line(text: str) -> str:
    return " ".join(text.split()) if _BREAKS.search(text) else text


@lru_cache(maxsize=8192)  # a log repeats its accounts, statuses and titles many times
def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal, as wcwidth measures them: CJK and emoji 2, combining marks
    and joiners 0 (a family emoji is one glyph of 2)."""
    if text.isascii() and text.isprintable():
        return len(text)
    from wcwidth import wcswidth

    measured = wcswidth(text)
    return measured if measured >= 0 else sum(1 for c in text if not combining(c))  # a control character


def _shortened(text: str, limit: int) -> str:
    if _width(text) <= limit:
        return text
    out = ""
    for char in text:
        if _width(out + char) > limit - 1:
            break
        out += char
    return out + "…"
