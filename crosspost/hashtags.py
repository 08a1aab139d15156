"""Which hashtags a text already has, decided as X decides it.

The post's tags are appended as hashtags unless the text already carries
them; "carries" must mean what X (and readers) see as a hashtag, or a tag is
left out or doubled: a URL's fragment (``/news#briefing``) is no hashtag, a
full-width ``＃tag`` (Korean and Japanese keyboards type it) is one.
twitter-text-parser, the library crosspost counts with, has no hashtag
extractor and the one that has (``twitter-text``) installs a module of the
same name, so this is a port of twitter-text's ``extractHashtagsWithIndices``
(Apache 2.0; held against its conformance cases in tests/test_text_suites.py).
Letters are Unicode categories L and M, as twitter-text's generated classes.
"""

from __future__ import annotations

import unicodedata
from typing import Any

HASH_SIGNS = "#＃"
# twitter-text's hashtagSpecialChars: joiners and marks that may sit inside a hashtag.
_SPECIAL = "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003\u0f0b\u0f0c\xb7"


def _is_alpha(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"


def _is_alnum(ch: str) -> bool:
    return _is_alpha(ch) or unicodedata.category(ch) == "Nd" or ch in _SPECIAL


def extract_hashtags(text: str, twitter_text: Any) -> list[str]:
    """The hashtags of ``text`` without their sign, in order; ``twitter_text`` finds the URLs they may sit in."""
    found: list[tuple[int, int, str]] = []
    for i, ch in enumerate(text):
        if ch not in HASH_SIGNS:
            continue
        before = text[i - 1] if i else ""
        if before and before not in "\ufe0e\ufe0f" and (_is_alnum(before) or before == "&"):
            continue  # "a#b", "&#39;": not the start of a hashtag
        end = i + 1
        if text[end : end + 1] in ("\ufe0f", "\u20e3"):
            continue  # a keycap emoji: #️⃣
        while end < len(text) and _is_alnum(text[end]):
            end += 1
        word = text[i + 1 : end]
        if not any(_is_alpha(c) for c in word):
            continue  # "#1" is no hashtag
        if text[end : end + 1] in tuple(HASH_SIGNS) or text.startswith("://", end):
            continue
        found.append((i, end, word))
    if not found:
        return []
    urls = [(u["indices"][0], u["indices"][1], "") for u in twitter_text.extract_urls_with_indices(text)]
    kept: list[str] = []
    last_end = -1
    # twitter-text's removeOverlappingEntities: in order of start, an entity overlapping the one before goes.
    for start, end, word in sorted([*found, *urls], key=lambda e: e[0]):
        if start < last_end:
            continue
        last_end = end
        if word:
            kept.append(word)
    return kept
