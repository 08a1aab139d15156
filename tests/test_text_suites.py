"""The text engine against suites written by others (vendored in tests/vendor/, licences in its README).

- CommonMark's 652 spec examples: rendered for every platform, no crash, and no
  Markdown or HTML syntax left over that the parser understood.
- twitter-text's conformance cases: the weighted counter (X's length) and the
  hashtag extractor that decides whether a tag is already in the text.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from crosspost.config import AccountConfig
from crosspost.hashtags import extract_hashtags
from crosspost.model import Content
from crosspost.platforms.twitter.thread import twitter_weight
from crosspost.render import render_draft
from crosspost.text_library import text_library

VENDOR = Path(__file__).parent / "vendor"
ACCOUNTS = [
    AccountConfig(name="tw", platform="twitter", credentials={}),
    AccountConfig(name="fb", platform="facebook", credentials={}, page_id="1"),
    AccountConfig(name="vk", platform="vk", credentials={}, group_id=1),
]
SPEC = json.loads((VENDOR / "commonmark" / "spec-examples.json").read_text(encoding="utf-8"))
VALIDATE = yaml.safe_load((VENDOR / "twitter-text" / "validate.yml").read_text(encoding="utf-8"))["tests"]
EXTRACT = yaml.safe_load((VENDOR / "twitter-text" / "extract-hashtags.yml").read_text(encoding="utf-8"))["tests"]
MARKERS = ("**", "__", "](", "&amp;", "<!--")
HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_REFERENCE = MarkdownIt("commonmark")


def _literal_text(markdown: str) -> str:
    """The text a CommonMark reader shows for ``markdown``: what the author wrote as text, not as syntax."""
    rendered = _REFERENCE.render(markdown)
    alts = " ".join(re.findall(r'alt="([^"]*)"', rendered))  # an image's alt text is text too
    return _squeezed(html.unescape(re.sub(r"<[^>]*>", "", rendered) + alts))


def _squeezed(text: str) -> str:
    """Without whitespace: block breaks and code-span edges differ between HTML and plain text."""
    return "".join(text.split())


def test_the_spec_copy_is_whole() -> None:
    assert len(SPEC) == 652


@pytest.mark.parametrize("example", SPEC, ids=[f"spec-{e['example']}" for e in SPEC])
def test_commonmark_example_renders_without_leftover_syntax(example: dict[str, Any]) -> None:
    markdown = example["markdown"]
    literal = _literal_text(markdown)
    for account in ACCOUNTS:
        draft = render_draft(account, Content(body=markdown, link=None, tags=(), images=()))
        text = "\n".join(draft.parts)
        for marker in MARKERS:
            # A marker the reader of the HTML also sees (an escaped \*\*, a code span) is the author's text.
            assert marker not in _squeezed(text) or marker in literal, (account.platform, marker, text)
        for tag in HTML_TAG.findall(text):
            assert _squeezed(tag) in literal, (account.platform, tag, text)


def _cases(section: str) -> list[dict[str, Any]]:
    return list(VALIDATE[section])


@pytest.mark.parametrize(
    "case",
    _cases("WeightedTweetsWithDiscountedEmojiCounterTest") + _cases("UnicodeDirectionalMarkerCounterTest"),
    ids=lambda c: str(c["description"])[:60],
)
def test_weighted_length_as_x_counts_it(case: dict[str, Any]) -> None:
    """The v3 counter crosspost uses (emoji discounted: 2 each, whatever their code points)."""
    assert twitter_weight(case["text"]) == case["expected"]["weightedLength"]
    assert bool(text_library().parse_tweet(case["text"]).valid) == case["expected"]["valid"]


@pytest.mark.parametrize("case", _cases("WeightedTweetsCounterTest"), ids=lambda c: str(c["description"])[:60])
def test_weighted_length_v2_cases_with_the_v2_config(case: dict[str, Any]) -> None:
    """The older cases count emoji by code point (v2): the library still gives their numbers with v2's config."""
    module = text_library()
    configs = module.parse_tweet.__globals__["config"]
    parsed = module.parse_tweet(
        case["text"], {**configs["defaults"], **configs["version2"], "emoji_parsing_enabled": False}
    )
    assert parsed.weightedLength == case["expected"]["weightedLength"]
    assert bool(parsed.valid) == case["expected"]["valid"]


def _hashtag_cases() -> list[tuple[str, list[str]]]:
    cases = [(c["text"], c["expected"]) for c in EXTRACT["hashtags"] + EXTRACT["hashtags_from_astral"]]
    cases += [(c["text"], [e["hashtag"] for e in c["expected"]]) for c in EXTRACT["hashtags_with_indices"]]
    return cases


@pytest.mark.parametrize(("text", "expected"), _hashtag_cases())
def test_hashtags_as_x_extracts_them(text: str, expected: list[str]) -> None:
    assert extract_hashtags(text, text_library()) == expected
