"""Markdown to plain text, X's weighting, and thread splitting (examples and properties)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosspost.config import AccountConfig
from crosspost.model import Content, Draft, Image
from crosspost.platforms.twitter.thread import split_thread, strip_numbering, twitter_weight
from crosspost.render import check_draft, measure, render_draft, render_text

TWITTER = AccountConfig(name="tw", platform="twitter", credentials={})
FACEBOOK = AccountConfig(name="fb", platform="facebook", credentials={}, page_id="1")
VK = AccountConfig(name="vk-ru", platform="vk", credentials={}, group_id=1, max_length=100)
NUMBER = re.compile(r" (\d+)/(\d+)$")

# ---------------------------------------------------------------- Markdown to text


def test_paragraphs_and_emphasis() -> None:
    md = "First *para*\nwrapped **line**.\n\nSecond `code` para.  \nAfter a hard break."
    # A line break in the body is a line break in the post (contract: "The post file").
    assert render_text(md, None, ()) == "First para\nwrapped line.\n\nSecond code para.\nAfter a hard break."


def test_links_stay_visible() -> None:
    md = "Read [the statement](https://example.org/s), <https://example.org/a> and [https://x.org](https://x.org)."
    assert render_text(md, None, ()) == (
        "Read the statement (https://example.org/s), https://example.org/a and https://x.org."
    )


def test_non_ascii_link_is_shown_readable() -> None:
    assert render_text("[Сайт](https://пример.рф/новости)", None, ()) == "Сайт (https://пример.рф/новости)"


def test_lists_are_readable_lines() -> None:
    md = "Intro:\n\n- one\n- two *em*\n  - nested\n\n3. three\n4. four\n"
    assert render_text(md, None, ()) == "Intro:\n\n• one\n• two em\n  • nested\n\n3. three\n4. four"


def test_headings_code_quotes_rules() -> None:
    md = "# Title *x*\n\nText.\n\n```\nkeep  this\n  as is\n```\n\n> Quoted\n> words.\n\n---\n\nEnd."
    assert render_text(md, None, ()) == "Title x\n\nText.\n\nkeep  this\n  as is\n\n“Quoted\nwords.”\n\nEnd."


def test_link_and_tags_appended() -> None:
    assert render_text("Body.", "https://example.org/n", ["Russia", "DPRK"]) == (
        "Body.\n\nhttps://example.org/n #Russia #DPRK"
    )


def test_link_not_repeated_and_tags_not_repeated() -> None:
    md = "See [news](https://example.org/n) about #russia."
    assert render_text(md, "https://example.org/n", ["Russia", "Culture"]) == (
        "See news (https://example.org/n) about #russia. #Culture"
    )


def test_tags_alone() -> None:
    assert render_text("", None, ["A", "B"]) == "#A #B"
    assert render_text("", "https://e.org", []) == "https://e.org"
    assert render_text("", None, []) == ""


# ---------------------------------------------------------------- weighting


def test_twitter_weight() -> None:
    assert twitter_weight("hello") == 5
    assert twitter_weight("https://example.org/" + "a" * 200) == 23
    assert twitter_weight("你好") == 4
    assert twitter_weight("😀") == 2
    assert twitter_weight("👨\u200d👩\u200d👧") == 2
    assert twitter_weight("Привет") == 6


# ---------------------------------------------------------------- thread splitting, examples


def test_fits_is_one_part_without_number() -> None:
    text = "x" * 280
    assert split_thread(text) == [text]
    assert split_thread("  short  ") == ["short"]


def test_split_at_paragraphs_first() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 35 + "end." for n in range(3)]
    parts = split_thread("\n\n".join(paragraphs))
    assert parts == [f"{p} {n}/3" for n, p in enumerate(paragraphs, 1)]


def test_split_at_sentences_then_words() -> None:
    sentence = "This sentence has exactly ten words in it, more or less."
    text = " ".join([sentence] * 8)  # one long paragraph
    parts = split_thread(text)
    assert parts == [" ".join([sentence] * 4) + " 1/2", " ".join([sentence] * 4) + " 2/2"]
    words = " ".join(["lorem"] * 100)
    parts = split_thread(words)
    assert [twitter_weight(p) <= 280 for p in parts] == [True, True, True]
    assert " ".join(strip_numbering(p) for p in parts) == words


def test_long_word_is_cut_but_not_inside_url() -> None:
    text = "x" * 270 + ".https://example.com/some/path and more"
    parts = split_thread(text)
    assert parts[0] == "x" * 270 + ". 1/2"
    assert parts[1] == "https://example.com/some/path and more 2/2"


def test_emoji_sequences_are_not_cut() -> None:
    family = "👨\u200d👩\u200d👧"
    text = family * 200
    parts = split_thread(text)
    assert all(twitter_weight(p) <= 280 for p in parts)
    assert all(strip_numbering(p).replace(family, "") == "" for p in parts)


def test_many_parts_get_wide_numbers() -> None:
    text = "\n\n".join(f"Part {n}. " + "x" * 250 for n in range(12))
    parts = split_thread(text)
    assert len(parts) == 12
    assert parts[0].endswith(" 1/12") and parts[11].endswith(" 12/12")
    assert all(twitter_weight(p) <= 280 for p in parts)


def test_small_limit() -> None:
    parts = split_thread("one two three four five six seven", limit=15)
    assert [strip_numbering(p) for p in parts] == ["one two", "three four", "five six", "seven"]
    assert all(twitter_weight(p) <= 15 for p in parts)


# ---------------------------------------------------------------- thread splitting, properties

LATIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF", min_size=1, max_size=12)
CYRILLIC = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВ", min_size=1, max_size=12)
CJK = st.text(alphabet="的一是不了人我在有他这为之大来以个中上们。，！", min_size=1, max_size=30)
EMOJI = st.lists(st.sampled_from(["😀", "👍🏽", "🇷🇺", "👨\u200d👩\u200d👧", "❤️", "🎉"]), min_size=1, max_size=4).map(
    "".join
)
URL = st.builds(
    lambda host, path: f"https://{host}.org/{path}",
    st.text(alphabet="abcdefgh", min_size=1, max_size=10),
    st.text(alphabet="abcdefgh0123/", max_size=40),
)
PUNCT = st.sampled_from(["", "", "", ".", ",", "!", "?", "…", ":"])
WORD = st.tuples(st.one_of(LATIN, CYRILLIC, CJK, EMOJI, URL), PUNCT).map("".join)
LONG_WORD = st.text(alphabet="ab", min_size=281, max_size=400)  # longer than a tweet: cut between characters
SEP = st.sampled_from([" ", " ", " ", " ", " ", "\n", "\n\n", "  "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORD, min_size=10, max_size=120))
    for long_word in draw(st.lists(LONG_WORD, max_size=2)):
        words.insert(draw(st.integers(0, len(words))), long_word)
    seps = draw(st.lists(SEP, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


def squeeze(text: str) -> str:
    return "".join(text.split())


def check_thread(text: str, parts: list[str], limit: int) -> None:
    assert all(twitter_weight(p) <= limit for p in parts), [twitter_weight(p) for p in parts]
    if len(parts) == 1:
        assert parts[0] == text.strip()
        return
    total = len(parts)
    for n, part in enumerate(parts, 1):
        match = NUMBER.search(part)
        assert match and (int(match.group(1)), int(match.group(2))) == (n, total)
    bodies = [strip_numbering(p) for p in parts]
    assert all(b.strip() for b in bodies)
    assert squeeze("".join(bodies)) == squeeze(text)  # nothing lost, nothing reordered


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts())
def test_thread_properties(text: str) -> None:
    check_thread(text, split_thread(text), 280)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts(), st.integers(min_value=30, max_value=120))
def test_thread_properties_small_limits(text: str, limit: int) -> None:
    check_thread(text, split_thread(text, limit), limit)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(LATIN, CYRILLIC), min_size=1, max_size=150))
def test_words_are_kept_whole_when_they_fit(words: list[str]) -> None:
    text = " ".join(words)
    parts = split_thread(text)
    assert " ".join(strip_numbering(p) for p in parts).split() == words


# ---------------------------------------------------------------- drafts per platform


def test_twitter_thread_puts_link_and_tags_first() -> None:
    body = "\n\n".join(f"Paragraph {n}. " + "word " * 40 for n in range(3))
    content = Content(body=body, link="https://example.org/n", tags=("Russia", "DPRK"))
    draft = render_draft(TWITTER, content)
    assert len(draft.parts) > 1
    first = draft.parts[0]
    assert first.endswith(f"\n\nhttps://example.org/n #Russia #DPRK 1/{len(draft.parts)}")
    assert all("https://example.org/n" not in p and "#Russia" not in p for p in draft.parts[1:])
    assert all(length <= limit for length, limit in measure(TWITTER, draft))
    assert check_draft(TWITTER, draft) == []


def test_twitter_short_post_is_one_tweet() -> None:
    draft = render_draft(TWITTER, Content(body="Hello **all**.", link="https://e.org", tags=("A",)))
    assert draft.parts == ("Hello all.\n\nhttps://e.org #A",)
    assert draft.platform == "twitter" and draft.account == "tw" and draft.key == ""


def test_facebook_link_goes_in_the_link_field() -> None:
    draft = render_draft(FACEBOOK, Content(body="Statement.", link="https://e.org/s", tags=("A",)))
    assert draft.parts == ("Statement. #A",)
    assert draft.link == "https://e.org/s"


def test_facebook_with_photos_shows_the_link_in_text() -> None:
    image = Image(Path("/x.jpg"), "alt", "0" * 64, "image/jpeg")
    draft = render_draft(FACEBOOK, Content(body="Statement.", link="https://e.org/s", images=(image,)))
    assert draft.parts == ("Statement.\n\nhttps://e.org/s",)
    assert draft.images == (image,) and draft.link == "https://e.org/s"


def test_vk_text_and_limit() -> None:
    draft = render_draft(VK, Content(body="Текст " * 30, link="https://e.ru", tags=("Тег",)))
    assert draft.parts[0].endswith("Текст\n\nhttps://e.ru #Тег")
    assert measure(VK, draft) == [(len(draft.parts[0]), 100)]
    assert check_draft(VK, draft) == [
        f'the text for account "vk-ru" is {len(draft.parts[0])} characters, over its limit of 100; '
        "shorten the body or give it a [variants.vk-ru] body"
    ]


def test_check_draft_images_and_empty() -> None:
    image = Image(Path("/x.jpg"), "a" * 1001)
    tweet = Draft("tw", "twitter", ("",), images=(image,) * 5)
    assert check_draft(TWITTER, tweet) == [
        '5 images for account "tw"; a tweet takes at most 4: remove some or give it [variants.tw] images',
        *[f"the alt text of image {n} is 1001 characters; X takes at most 1000: shorten it" for n in range(1, 6)],
        'X refuses a post of images only: account "tw" needs a text; write a body (or a [variants.tw] body)',
    ]
    assert check_draft(VK, Draft("vk-ru", "vk", ("x",), images=(image,) * 11)) == [
        '11 images for account "vk-ru"; a VK post takes at most 10: remove some or give it [variants.vk-ru] images'
    ]
    assert check_draft(FACEBOOK, Draft("fb", "facebook", ("  ",))) == [
        'account "fb" would receive neither text nor an image; write a body (or a [variants.fb] body) or add images'
    ]
    assert check_draft(FACEBOOK, Draft("fb", "facebook", ("",), images=(image,) * 12)) == []


@pytest.mark.parametrize("account", [FACEBOOK, VK])  # X refuses a post without text: tests/test_twitter_2026.py
def test_image_only_posts_are_fine(account: AccountConfig) -> None:
    image = Image(Path("/x.jpg"), "alt")
    draft = render_draft(account, Content(body="", images=(image,)))
    assert draft.parts == ("",)
    assert check_draft(account, draft) == []


def test_a_lead_in_ending_with_a_colon_stays_with_its_list() -> None:
    opening = "An opening paragraph that is long enough to matter in the count of the first part. " * 2
    lead = "The exchanges covered:"
    items = "\n".join(f"• item number {n} of the list" for n in range(1, 6))
    parts = split_thread(f"{opening.strip()}\n\n{lead}\n\n{items}", limit=280)
    assert len(parts) == 2
    assert parts[1].startswith(lead)
