"""A post's Markdown body as the plain text a person would have typed into the platform.

Press offices do not write strict CommonMark; they write social text, in
lines. So the parser is CommonMark with these changes (contract: "The post
file"), each the smallest that makes the output read as it was written:

- ``breaks``: a line break in the body is a line break in the post (event
  blocks, addresses, signatures, lists pasted from a document with ``•``/``–``).
- ``linkify`` (linkify-it-py): a bare URL becomes a link while inline parsing
  runs, so emphasis never reaches inside it (``/_data_/`` stays). markdown-it
  does this itself for ``https://`` URLs; :func:`_protect_www` guards
  ``www.`` ones, which markdown-it only finds after emphasis has run.
- URLs are shown exactly as written: markdown-it's link normalisation
  (percent-decoding ``%20`` to a space, punycode) is switched off, so what the
  author typed is what readers see and follow.
- No indented code blocks: a paragraph indented four spaces is a paragraph.
- Tables (GFM) are parsed, so that their rows become lines of cells rather
  than raw pipes.

Raw HTML is parsed (so that ``validate`` can find it, see
:mod:`crosspost.text_checks`) but never published: comments are dropped, tags
are removed and their text kept.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.tree import SyntaxTreeNode

TABLE_CELL_SEPARATOR = " · "
# Quote marks an author may have typed: then the quotation keeps them and gets none of ours.
_OPENING_QUOTES = "«“„\"'‘‚‹「『"
_TAG = re.compile(r"<!--.*?-->|<!--.*|<[^<>]*>", re.DOTALL)


@cache
def parser() -> MarkdownIt:
    """The one Markdown parser every platform's text comes from (built once: building compiles regexes)."""
    md = MarkdownIt("commonmark", {"breaks": True, "linkify": True}).enable(["linkify", "table"]).disable("code")
    md.normalizeLink = _as_written  # type: ignore[method-assign,assignment]
    md.normalizeLinkText = _as_written  # type: ignore[method-assign,assignment]
    md.core.ruler.before("inline", "protect_www", _protect_www)
    return md


def linkify(md: MarkdownIt) -> Any:
    """linkify-it's matcher that ``md`` carries (markdown-it types it optional: it is set whenever linkify is on)."""
    assert md.linkify is not None
    return md.linkify


def _as_written(url: str) -> str:
    return url


def _protect_www(state: StateCore) -> None:
    """Escape emphasis characters inside bare URLs before inline parsing, so that they stay as typed.

    markdown-it linkifies ``https://`` URLs while it parses inline, ahead of emphasis, but ``www.``
    ones only afterwards, when ``www.example.org/_media_/`` has already lost its underscores. And
    linkify-it ends a URL at ``..`` (so that a sentence's "..." is not taken in), which leaves the
    rest of what the author typed as one word (``https://example.org/x.._y_``) to emphasis. A
    backslash before each ``_``, ``*`` and ``~`` in such a URL, or in that rest, makes them plain.
    """
    for token in state.tokens:
        if token.type != "inline" or not any(k in token.content.lower() for k in ("www.", "://")):
            continue
        text = token.content
        pieces: list[str] = []
        done = 0
        for match in linkify(state.md).match(text) or ():
            if text[: match.index].count("`") % 2:
                continue  # inside a code span
            start, end = match.index, match.last_index
            if match.schema:
                # markdown-it's own rule keeps the URL itself; protect only the rest of the word it ends in.
                start = end
                end += len(re.match(r"\S*", text[end:]).group())  # type: ignore[union-attr]
                if not re.search(r"[^*_~.,;:!?)\]»\"'”’]", text[start:end]):
                    continue  # only closing emphasis and punctuation follow: they are not part of the URL
            elif not match.text.lower().startswith("www."):
                continue
            # "**www.example.org**": the closing emphasis is not part of the URL (as markdown-it's own rule says).
            while end > start and (text[end - 1] == "*" or (text[end - 1] == "_" and text[start - 1 : start] == "_")):
                end -= 1
            pieces.append(text[done:start])
            pieces.append(re.sub(r"(?<!\\)([_*~])", r"\\\1", text[start:end]))
            done = end
        token.content = "".join(pieces) + text[done:]


def markdown_to_text(markdown: str) -> str:
    """The Markdown body alone as plain text, blocks separated by one blank line."""
    tree = SyntaxTreeNode(parser().parse(markdown))
    return "\n\n".join(_blocks(tree, quote_marks(markdown)))


def is_relative(href: str) -> bool:
    """Whether a link's target is a path or an anchor on some page (``/news/75``, ``#top``), not an address."""
    return not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", href) and not href.startswith("//")


def _blocks(node: SyntaxTreeNode, marks: tuple[str, str]) -> list[str]:
    """The blocks (paragraph-like strings) of a container node, empty ones dropped; quotations in ``marks``."""
    out: list[str] = []
    for child in node.children:
        out.extend(b for b in _block(child, marks) if b.strip())
    return out


def _block(node: SyntaxTreeNode, marks: tuple[str, str]) -> list[str]:
    kind = node.type
    if kind in ("paragraph", "heading"):
        # Line ends trimmed: a comment dropped at the end of a line leaves no trailing space.
        return (
            ["\n".join(line.rstrip() for line in _inline(node.children[0]).strip().split("\n"))]
            if node.children
            else []
        )
    if kind in ("bullet_list", "ordered_list"):
        return [_list(node, marks)]
    if kind == "blockquote":
        return _quote(_blocks(node, marks), marks)
    if kind == "fence":
        return [node.content.strip("\n")]
    if kind == "html_block":
        return [_without_tags(node.content)]
    if kind == "table":
        return [_table(node)]
    return []  # hr and anything unknown: the paragraph break is enough


def _quote(inner: list[str], marks: tuple[str, str]) -> list[str]:
    """A block quote in quote marks, its lines kept: the author's own marks, else the post's language's."""
    if not inner or inner[0][:1] in _OPENING_QUOTES:
        return inner
    opening, closing = marks
    return [opening + inner[0], *inner[1:-1], inner[-1] + closing] if len(inner) > 1 else [opening + inner[0] + closing]


def quote_marks(text: str) -> tuple[str, str]:
    """The quote marks of the post's language: «ёлочки» for a text mostly in Cyrillic, else “ ”.

    The post has no language key, so its script decides (a Russian post quoting an English
    sentence still quotes it «so»): more Cyrillic letters than Latin ones."""
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return ("«", "»") if cyrillic > latin else ("“", "”")


def _list(node: SyntaxTreeNode, marks: tuple[str, str]) -> str:
    lines: list[str] = []
    number = int(node.attrs.get("start", 1) or 1)
    for item in node.children:
        marker = f"{number}{node.markup or '.'} " if node.type == "ordered_list" else _bullet(node)
        number += 1
        body = "\n".join(_blocks(item, marks)).split("\n") or [""]
        lines.append((marker + body[0]).rstrip())
        # Continuation lines (nested lists, later paragraphs) line up under the item's text.
        lines.extend((" " * len(marker) + line) if line else "" for line in body[1:])
    return "\n".join(lines)


def _bullet(node: SyntaxTreeNode) -> str:
    # A lone "* ..." line is a footnote ("* Prices in euros"), not a list of one: its star is kept.
    return "* " if node.markup == "*" and len(node.children) == 1 else "• "


def _table(node: SyntaxTreeNode) -> str:
    rows = [row for section in node.children for row in section.children]
    return "\n".join(
        TABLE_CELL_SEPARATOR.join(
            c for c in (_inline(cell.children[0]).strip() if cell.children else "" for cell in row.children) if c
        )
        for row in rows
    )


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline"):
            text = child.content
            if text[:1] == " " and parts[-1:] == [""] and "".join(parts).endswith((" ", "\n")):
                text = text[1:]  # "word <!-- note --> word": one space left, not two
            parts.append(text)
        elif kind == "html_inline":
            parts.append("")  # a tag or a comment: never published (validate reports it)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "link":
            parts.append(_link(child))
        elif kind == "image":
            parts.append(_inline(child) if child.children else child.content)
        else:  # em, strong and the like: keep the words, drop the emphasis
            parts.append(_inline(child))
    return "".join(parts)


def _link(node: SyntaxTreeNode) -> str:
    label = _inline(node)
    href = str(node.attrs.get("href", ""))
    if node.markup in ("linkify", "autolink") or not href or is_relative(href):
        return label  # the URL as typed; a relative target cannot be followed (validate says so)
    if not label.strip():
        return href
    if label in (href, "mailto:" + href) or "mailto:" + label == href or "http://" + label == href:
        return label
    return f"{label} ({href.removeprefix('mailto:')})"


def _without_tags(raw: str) -> str:
    """The text of a raw HTML block: comments dropped, tags removed, entities decoded."""
    lines = (html.unescape(line).strip() for line in _TAG.sub("", raw).split("\n"))
    return "\n".join(line for line in lines if line)
