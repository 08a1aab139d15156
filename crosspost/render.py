"""Markdown to each platform's plain text; X's weighted length; thread splitting.

No platform renders Markdown, so every target gets plain text (contract: "The
post file"), made by :mod:`crosspost.markdown_text`. Here the post's link is
appended unless the text already shows it, and the tags as hashtags unless
the text already has them.

This module imports no platform library (and nothing heavy) so that
``validate`` and ``preview`` start fast.

Twitter threads: the body is split on its own, with room kept in the first
part for the link and the hashtags, because the contract sends them (and the
images) with the first tweet. See :func:`render_draft`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from crosspost.config import AccountConfig
from crosspost.hashtags import extract_hashtags
from crosspost.markdown_text import linkify, markdown_to_text, parser
from crosspost.model import Content, Draft
from crosspost.platforms import spec_for
from crosspost.text_library import text_library

# ---------------------------------------------------------------- Markdown to plain text


def render_text(markdown: str, link: str | None, tags: Sequence[str]) -> str:
    """Plain text for ``markdown``, then ``link`` (unless the text shows it) and ``tags`` as hashtags.

    The link goes in a paragraph of its own; the hashtags (less any the text
    already carries) go on the last line, or below a block of lines: see
    :func:`with_hashtags`.
    """
    text = markdown_to_text(markdown)
    if link and not shows_url(text, link):
        text = f"{text}\n\n{link}" if text else link
    return with_hashtags(text, _hashtags(text, tags))


def with_hashtags(text: str, hashtags: str) -> str:
    """``hashtags`` after ``text``: on its last line, unless that line belongs to a block of lines
    (a list, an event block, a signature), where a tag would read as part of its last line."""
    if not hashtags:
        return text
    if not text:
        return hashtags
    return f"{text}\n\n{hashtags}" if "\n" in text.rpartition("\n\n")[2] else f"{text} {hashtags}"


def shows_url(text: str, url: str) -> bool:
    """Whether ``text`` shows ``url`` as one of its own URLs (compared as URLs: a longer URL that
    starts with it does not count, ``HTTPS://Example.org`` is ``https://example.org/``)."""
    wanted = _url_key(url)
    for match in linkify(parser()).match(text) or ():
        found = _url_key(match.url)
        if found == wanted or (not match.schema and found[1:] == wanted[1:]):
            return True
    return False


def _url_key(url: str) -> tuple[str, ...]:
    """What two spellings of one address share: scheme and host in any case, the default port, an empty path."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return (url,)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return (parts.scheme.lower(), netloc, unquote(parts.path) or "/", parts.query, parts.fragment)


def _hashtags(text: str, tags: Sequence[str]) -> str:
    """The tags as hashtags, less those the text already has, as X's own extractor finds hashtags
    (a URL's ``#fragment`` is no hashtag; a full-width ``＃tag`` is one)."""
    if not tags:
        return ""
    present: set[str] = set()
    if "#" in text or "＃" in text:  # skip loading twitter-text for text without any
        present = {h.lower() for h in extract_hashtags(text, text_library())}
    return " ".join(f"#{tag}" for tag in tags if tag.lower() not in present)


def render_draft(account: AccountConfig, content: Content) -> Draft:
    """What ``account`` receives for ``content``: the text parts its platform's spec renders, and images."""
    return Draft(
        account=account.name,
        platform=account.platform,
        parts=tuple(spec_for(account.platform).render_parts(account, content)),
        images=content.images,
        link=content.link,
    )


def measure(account: AccountConfig, draft: Draft) -> list[tuple[int, int]]:
    """Each part's length as the platform counts it, with the limit it must keep to."""
    return spec_for(account.platform).measure(account, draft)


class Finding(NamedTuple):
    """A problem with a draft; ``field`` is the post key to blame: body, images, or "tail" (link and tags)."""

    field: str
    message: str


def draft_findings(account: AccountConfig, draft: Draft) -> list[Finding]:
    """Every reason ``draft`` cannot go to ``account``, with the post key to blame."""
    found: list[Finding] = []
    name = account.name
    if not draft.text.strip() and not draft.images:
        found.append(
            Finding(
                "body",
                f'account "{name}" would receive neither text nor an image; '
                f"write a body (or a [variants.{name}] body) or add images",
            )
        )
    spec = spec_for(account.platform)
    for n, (length, limit) in enumerate(measure(account, draft), 1):
        if length > limit:
            found.append(spec.over_limit(account, draft, n, length, limit))
    if spec.max_images is not None and len(draft.images) > spec.max_images:
        found.append(
            Finding(
                "images",
                f'{len(draft.images)} images for account "{name}"; {spec.post_noun} takes at most '
                f"{spec.max_images}: remove some or give it [variants.{name}] images",
            )
        )
    found.extend(spec.findings(account, draft))
    return found


def check_draft(account: AccountConfig, draft: Draft) -> list[str]:
    """Every reason ``draft`` cannot go to ``account``, in words (empty: it can go)."""
    return [f.message for f in draft_findings(account, draft)]
