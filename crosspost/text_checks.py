"""What in a post's Markdown body would not reach readers as written: found before anything is queued.

Each finding names the body line (counted from the body's first line) and
says what to do. Errors stop ``validate`` and ``queue``; warnings are shown
and the post goes out (contract: "The post file"):

- an HTML comment is a note to colleagues: never published, a warning says so;
- other raw HTML is an error: no platform shows it, and passing the tags through
  verbatim would publish markup;
- an inline image is an error: a post's images come from the front matter;
- a relative link (``/news/75``) is an error: readers cannot follow it;
- a table is a warning: it is sent as lines of cells;
- an invisible or bidi control character is an error: readers cannot see it,
  X calls such text invalid, and a bidi override can reorder what readers see.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

from markdown_it.token import Token

from crosspost.markdown_text import TABLE_CELL_SEPARATOR, is_relative, parser

# U+FEFF (BOM), U+200B..U+200F (zero-width space, joiners, direction marks),
# U+202A..U+202E (bidi embeddings and overrides), U+2066..U+2069 (bidi isolates).
INVISIBLE = re.compile("[\ufeff\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_FIRST_TAG = re.compile(r"<[^<>\s]+[^<>]*>?")


class TextFinding(NamedTuple):
    """``line`` is 0 for the body's first line."""

    line: int
    message: str
    warning: bool = False


def check_body(markdown: str) -> list[TextFinding]:
    """Every finding in ``markdown``, in line order."""
    found = list(_invisible(markdown))
    for token in parser().parse(markdown):
        line = token.map[0] if token.map else 0
        if token.type == "html_block":
            found.extend(_html(token.content, line))
        elif token.type == "table_open":
            found.append(
                TextFinding(
                    line,
                    f'a table is sent as lines, its cells separated by "{TABLE_CELL_SEPARATOR.strip()}"; '
                    "check the preview, or write the rows as lines",
                    warning=True,
                )
            )
        elif token.type == "inline":
            found.extend(_inline(token.children or [], line))
    # One raw-HTML error per line: "<b>bold</b>" is one thing to fix, not two.
    seen: set[int] = set()
    kept: list[TextFinding] = []
    for finding in sorted(found, key=lambda f: f.line):
        if finding.message.startswith("raw HTML"):
            if finding.line in seen:
                continue
            seen.add(finding.line)
        kept.append(finding)
    return kept


def _inline(children: list[Token], line: int) -> Iterator[TextFinding]:
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "html_inline":
            yield from _html(child.content, line)
            line += child.content.count("\n")
        elif child.type == "image":
            src = str(child.attrs.get("src", ""))
            alt = child.content
            yield TextFinding(
                line,
                f"the inline image ![{alt}]({src}) cannot be shown in a post's text; list it in the front "
                f'matter instead: images = [{{ path = "{src}", alt = "{alt}" }}]',
            )
        elif child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            if href and is_relative(href):
                yield TextFinding(
                    line,
                    f'the link "{href}" is not a full address (a path or an anchor on a page): readers cannot '
                    "follow it; write the whole URL, starting with https://",
                )
        elif child.type in ("text", "code_inline"):
            line += child.content.count("\n")


def _html(raw: str, line: int) -> Iterator[TextFinding]:
    for match in _COMMENT.finditer(raw):
        yield TextFinding(
            line + raw[: match.start()].count("\n"),
            "an HTML comment (a note to colleagues) is left out: it is never published",
            warning=True,
        )
    rest = _COMMENT.sub(lambda m: "\n" * m.group().count("\n"), raw)
    tag = _FIRST_TAG.search(rest)
    if tag:
        shown = tag.group()
        fix = (
            "end the line there instead (a line break is kept)"
            if re.match(r"<br\b", shown, re.IGNORECASE)
            else "no platform shows HTML: write Markdown (**bold**, [text](https://...)) or plain text"
        )
        yield TextFinding(line + rest[: tag.start()].count("\n"), f"raw HTML {shown} would be published as is; {fix}")


def _invisible(markdown: str) -> Iterator[TextFinding]:
    for number, text in enumerate(markdown.split("\n")):
        for match in INVISIBLE.finditer(text):
            col = match.start()
            ch = match.group()
            if ch == "\u200d" and _joins_emoji(text, col):
                continue  # the joiner inside 👨‍👩‍👧 is part of the emoji
            name = unicodedata.name(ch, "a control character")
            yield TextFinding(
                number,
                f"an invisible U+{ord(ch):04X} ({name}) at column {col + 1}; delete it (text pasted from a web page "
                "or a document often brings it): readers cannot see it and X refuses such text",
            )
            break  # one per line is enough to find it


def _joins_emoji(text: str, col: int) -> bool:
    before = text[col - 1] if col else ""
    after = text[col + 1] if col + 1 < len(text) else ""
    return (
        bool(before and after)
        and unicodedata.category(after) == "So"
        and unicodedata.category(before) in ("So", "Sk", "Mn")
    )
