"""X's text rules: the weighted length (twitter-text v3) and the thread splitter.

A text over 280 weighted characters becomes a thread, split at paragraph, then
line, then sentence, then word boundaries, each part ending with its number
``n/N``; the first part carries the link and the hashtags (``first_extra``).
A word is cut only when it cannot fit in a part on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from crosspost.text_library import text_library

MAX_WEIGHT = 280  # X's weighted limit per tweet

# ---------------------------------------------------------------- X's weighted length


@lru_cache(maxsize=8192)
def twitter_weight(text: str) -> int:
    """The length X counts (twitter-text v3): URLs 23, CJK and emoji 2, most else 1."""
    return int(text_library().parse_tweet(text).weightedLength)


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


def split_thread(text: str, limit: int = MAX_WEIGHT) -> list[str]:
    """Split ``text`` into tweets of at most ``limit`` weighted characters each.

    Text that fits is one part, unnumbered. Otherwise parts break at the last
    paragraph boundary that fits, else the last line, sentence, then word
    boundary; a word too long for a tweet is cut between characters (before a
    URL inside it when possible). Each part ends with `` n/N``. Joining the
    parts without their numbers gives the text back, up to whitespace.
    """
    return split(text.strip(), limit, "")


def split(text: str, limit: int, first_extra: str) -> list[str]:
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
    for url in text_library().extract_urls_with_indices(word):
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
