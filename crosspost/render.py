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

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from crosspost.config import TWITTER_MAX_WEIGHT, AccountConfig
from crosspost.hashtags import extract_hashtags
from crosspost.markdown_text import linkify, markdown_to_text, parser
from crosspost.model import Content, Draft

TWITTER_MAX_IMAGES = 4
VK_MAX_IMAGES = 10
TWITTER_MAX_ALT = 1000

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
        present = {h.lower() for h in extract_hashtags(text, _twitter_text())}
    return " ".join(f"#{tag}" for tag in tags if tag.lower() not in present)


# ---------------------------------------------------------------- X's weighted length


@lru_cache(maxsize=8192)
def twitter_weight(text: str) -> int:
    """The length X counts (twitter-text v3): URLs 23, CJK and emoji 2, most else 1."""
    return int(_twitter_text().parse_tweet(text).weightedLength)


def _twitter_text() -> Any:
    # Imported on first use: twitter_text compiles large regexes at import (about 0.3 s),
    # which commands that never count a tweet should not pay.
    from crosspost.twitter_text_loader import twitter_text

    return twitter_text()


class _Atom(NamedTuple):
    sep: str  # the whitespace before the token, kept when both sit in one part
    token: str
    strength: int  # how good a break before this token is: lower is better


_PARAGRAPH, _LINE, _SENTENCE, _WORD, _NONE = range(5)
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'»”’)\]]*$")
# CJK sentences and clauses are not separated by spaces: break after their punctuation.
_CJK_BREAK = re.compile(r"(?<=[。！？])(?=\S)|(?<=[，、；])(?=\S)")
_NUMBERING = re.compile(r" \d+/\d+$")


def _atoms(text: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    for match in re.finditer(r"(\s*)(\S+)", text):
        sep, word = match.group(1), match.group(2)
        if not atoms:
            strength = _NONE
        elif atoms[-1].token.endswith(":"):
            # "The exchanges covered:" belongs with the list it opens: break elsewhere if anywhere fits.
            strength = _WORD
        elif sep.count("\n") >= 2:
            strength = _PARAGRAPH
        elif "\n" in sep:
            strength = _LINE
        elif _SENTENCE_END.search(atoms[-1].token):
            strength = _SENTENCE
        else:
            strength = _WORD
        pieces = [p for p in _CJK_BREAK.split(word) if p]
        atoms.append(_Atom(sep, pieces[0], strength))
        for prev, piece in zip(pieces, pieces[1:], strict=False):
            atoms.append(_Atom("", piece, _SENTENCE if _SENTENCE_END.search(prev) else _WORD))
    return atoms


def _join(atoms: Sequence[_Atom]) -> str:
    return "".join((a.sep if i else "") + a.token for i, a in enumerate(atoms))


def split_thread(text: str, limit: int = TWITTER_MAX_WEIGHT) -> list[str]:
    """Split ``text`` into tweets of at most ``limit`` weighted characters each.

    Text that fits is one part, unnumbered. Otherwise parts break at the last
    paragraph boundary that fits, else the last line, sentence, then word
    boundary; a word too long for a tweet is cut between characters (before a
    URL inside it when possible). Each part ends with `` n/N``. Joining the
    parts without their numbers gives the text back, up to whitespace.
    """
    return _split(text.strip(), limit, "")


def _split(text: str, limit: int, first_extra: str) -> list[str]:
    """:func:`split_thread`, with ``first_extra`` (link and hashtags) appended to the first part."""
    atoms = _atoms(text)
    # Counting a long text at once is slow (twitter-text scans it for emoji); the sum over its
    # tokens is the same number up to rounding, so count exactly only when it could fit.
    estimate = sum(twitter_weight(a.sep) + twitter_weight(a.token) for a in atoms) + twitter_weight(first_extra)
    if estimate <= limit + 50 and twitter_weight(text + first_extra) <= limit:
        return [(text + first_extra).strip()]
    digits = 1
    while True:
        chunks = _pack(atoms, limit - (2 + 2 * digits), first_extra)
        if len(chunks) < 10**digits:
            break
        digits += 1  # more parts than the numbering room reserved: redo with wider numbers
    total = len(chunks)
    parts = []
    for n, chunk in enumerate(chunks, 1):
        body = (chunk + first_extra).strip() if n == 1 else chunk
        parts.append(f"{body} {n}/{total}" if total > 1 else body)
    return parts


def _fits(chunk: str, extra: str, budget: int) -> bool:
    return twitter_weight((chunk + extra).strip()) <= budget


def _pack(atoms: list[_Atom], budget: int, first_extra: str) -> list[str]:
    """Greedy packing: each part takes what fits, cut at the best boundary in reach."""
    atoms = list(atoms)
    chunks: list[str] = []
    i = 0
    while i < len(atoms) or not chunks:
        extra = first_extra if not chunks else ""
        if i >= len(atoms):  # nothing but the link and tags
            chunks.append("")
            break
        # Weights of whitespace-separated tokens add up (URLs and emoji never span whitespace),
        # so estimate by sums and check the real weight of the chosen part afterwards.
        room = budget - twitter_weight(extra)
        weight = twitter_weight(atoms[i].token)
        end = i
        if weight <= room:
            end = i + 1
            while end < len(atoms):
                weight += twitter_weight(atoms[end].sep) + twitter_weight(atoms[end].token)
                if weight > room:
                    break
                end += 1
            if end < len(atoms):
                end = _best_break(atoms, i, end)
            while end > i + 1 and not _fits(_join(atoms[i:end]), extra, budget):
                end -= 1  # the estimate was off (rare: text joined across a boundary); give up a token
            if not _fits(_join(atoms[i:end]), extra, budget):
                end = i
        if end == i and extra and twitter_weight(atoms[i].token) <= budget:
            # The link and tags leave no room for this word, but a part of its own would hold it:
            # tweet 1 carries just them, and the word is never cut (it starts tweet 2 whole).
            chunks.append("")
            continue
        if end == i:  # not even the first token fits: cut it
            head, rest = _hard_cut(atoms[i].token, extra, budget)
            if not head and not extra:
                raise ValueError(f"a limit of {budget} cannot hold a single character")
            chunks.append(head)  # empty only in the first part: it holds just the link and tags
            if head:
                atoms[i] = _Atom("", rest, _NONE)
            continue
        chunks.append(_join(atoms[i:end]))
        i = end
    return chunks


def _best_break(atoms: Sequence[_Atom], start: int, stop: int) -> int:
    """Where to end a part holding ``atoms[start:stop]``: the strongest boundary, the latest of them."""
    best = stop
    for k in range(stop, start, -1):
        if atoms[k].strength < atoms[best].strength:
            best = k
    return best


def _hard_cut(word: str, extra: str, budget: int) -> tuple[str, str]:
    """The longest head of ``word`` that fits, cut between characters, not inside a URL if avoidable."""
    lo, hi = 0, len(word)
    while lo < hi:  # weight grows with length (URLs aside), so bisect
        mid = (lo + hi + 1) // 2
        if _fits(word[:mid], extra, budget):
            lo = mid
        else:
            hi = mid - 1
    cut = _safe_cut(word, lo)
    for url in _twitter_text().extract_urls_with_indices(word):
        start, end = url["indices"]
        if start < cut < end and start > 0:
            cut = start  # keep the URL whole for the next part: it still counts 23 there
    return word[:cut], word[cut:]


def _safe_cut(word: str, cut: int) -> int:
    """Move ``cut`` left so that it does not split an emoji sequence or a letter from its accent."""

    def joins(k: int) -> bool:
        ch, prev = word[k], word[k - 1]
        return (
            ch in "\u200d\ufe0f\ufe0e"
            or prev == "\u200d"
            or 0x1F3FB <= ord(ch) <= 0x1F3FF
            or 0x0300 <= ord(ch) <= 0x036F
            or 0xE0020 <= ord(ch) <= 0xE007F
            or (_regional(ch) and _regional(prev) and _regional_run(word, k) % 2 == 1)
        )

    k = cut
    while 0 < k < len(word) and joins(k):
        k -= 1
    return k if k > 0 else cut


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _regional_run(word: str, k: int) -> int:
    """How many regional indicators precede position ``k`` in a row (flags are pairs of them)."""
    n = 0
    while k - n - 1 >= 0 and _regional(word[k - n - 1]):
        n += 1
    return n


def strip_numbering(part: str) -> str:
    """A thread part without its `` n/N`` suffix."""
    return _NUMBERING.sub("", part)


# ---------------------------------------------------------------- drafts per platform


def render_draft(account: AccountConfig, content: Content) -> Draft:
    """What ``account`` receives for ``content``: the text (thread parts on Twitter) and images.

    Twitter: the whole text if it fits in one tweet; else a thread whose first
    part carries the link and the hashtags. Facebook: the link goes in Graph's
    ``link`` field, which shows it as a preview card, so the text does not
    repeat it; but a post with photos gets no card, so then the text shows it.
    VK: one text with the link and hashtags at the end.
    """
    platform = account.platform
    if platform == "twitter":
        parts = _twitter_parts(content)
    elif platform == "facebook":
        link = content.link if content.images else None
        parts = [render_text(content.body, link, content.tags)]
    else:
        parts = [render_text(content.body, content.link, content.tags)]
    return Draft(
        account=account.name,
        platform=platform,
        parts=tuple(parts),
        images=content.images,
        link=content.link,
    )


def _twitter_parts(content: Content) -> list[str]:
    whole = render_text(content.body, content.link, content.tags)
    if twitter_weight(whole) <= TWITTER_MAX_WEIGHT:
        return [whole]
    body = markdown_to_text(content.body)
    tail = [content.link] if content.link and not shows_url(body, content.link) else []
    tail += [h for h in _hashtags(body, content.tags).split(" ") if h]
    extra = "\n\n" + " ".join(tail) if tail else ""
    return _split(body, TWITTER_MAX_WEIGHT, extra)


def measure(account: AccountConfig, draft: Draft) -> list[tuple[int, int]]:
    """Each part's length as the platform counts it, with the limit it must keep to."""
    if account.platform == "twitter":
        return [(twitter_weight(part), TWITTER_MAX_WEIGHT) for part in draft.parts]
    return [(len(part), account.limit) for part in draft.parts]


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
    for n, (length, limit) in enumerate(measure(account, draft), 1):
        if length <= limit:
            continue
        if account.platform != "twitter":
            found.append(
                Finding(
                    "body",
                    f'the text for account "{name}" is {length} characters, over its limit of '
                    f"{limit}; shorten the body or give it a [variants.{name}] body",
                )
            )
        elif n == 1 and len(draft.parts) > 1:
            found.append(
                Finding(
                    "tail",
                    f'the link and hashtags leave no room in the first tweet for "{name}" '
                    f"({length} of {limit}); use fewer tags or a shorter link",
                )
            )
        else:
            found.append(
                Finding(
                    "body",
                    f'tweet {n} for "{name}" is {length} characters as X counts them, over {limit}; shorten the body',
                )
            )
    if account.platform == "twitter":
        if len(draft.images) > TWITTER_MAX_IMAGES:
            found.append(
                Finding(
                    "images",
                    f'{len(draft.images)} images for account "{name}"; a tweet takes at most '
                    f"{TWITTER_MAX_IMAGES}: remove some or give it [variants.{name}] images",
                )
            )
        for n, image in enumerate(draft.images, 1):
            if len(image.alt) > TWITTER_MAX_ALT:
                found.append(
                    Finding(
                        "images",
                        f"the alt text of image {n} is {len(image.alt)} characters; X takes at "
                        f"most {TWITTER_MAX_ALT}: shorten it",
                    )
                )
    if account.platform == "vk" and len(draft.images) > VK_MAX_IMAGES:
        found.append(
            Finding(
                "images",
                f'{len(draft.images)} images for account "{name}"; a VK post takes at most '
                f"{VK_MAX_IMAGES}: remove some or give it [variants.{name}] images",
            )
        )
    return found


def check_draft(account: AccountConfig, draft: Draft) -> list[str]:
    """Every reason ``draft`` cannot go to ``account``, in words (empty: it can go)."""
    return [f.message for f in draft_findings(account, draft)]
