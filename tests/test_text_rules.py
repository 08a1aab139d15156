"""The post file's text rules (contract: "The post file"), one test each, through the real parser and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from test_text_corpus import NOW, corpus_settings

from crosspost.cli import cli
from crosspost.config import AccountConfig, Settings
from crosspost.errors import PostError
from crosspost.model import Content
from crosspost.platforms.twitter.thread import split_thread, strip_numbering, twitter_weight
from crosspost.posts import load_drafts
from crosspost.render import render_draft, render_text

TWITTER = AccountConfig(name="tw", platform="twitter", credentials={})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    corpus_settings(tmp_path)
    return tmp_path


def post(folder: Path, body: str, front: str = "") -> Path:
    path = folder / "post.md"
    path.write_text(f"+++\n{front}+++\n{body}\n", encoding="utf-8")
    return path


def problems(folder: Path, body: str, front: str = "") -> list[str]:
    settings: Settings = corpus_settings(folder)
    with pytest.raises(PostError) as caught:
        load_drafts(post(folder, body, front), settings, now=NOW)
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


def notes(folder: Path, body: str, front: str = "") -> list[str]:
    parsed, _ = load_drafts(post(folder, body, front), corpus_settings(folder), now=NOW)
    return [f"{p.line}: {p.message}" for p in parsed.notes]


def crosspost(folder: Path, *args: str, columns: int | None = None) -> Result:
    env = {"COLUMNS": str(columns)} if columns else {}
    return CliRunner().invoke(cli, ["--config", str(folder / "crosspost.toml"), *args], env=env)


# ---------------------------------------------------------------- lines


def test_a_line_break_is_a_line_break() -> None:
    body = "Join us:\n📅 14 March\n📍 Embassy hall\n🕖 19:00"
    assert render_text(body, None, ()) == body


@pytest.mark.parametrize("mark", ["•", "–", "—"])
def test_a_pasted_list_keeps_its_lines(mark: str) -> None:
    body = f"We will visit:\n{mark} the museum,\n{mark} the library."
    assert render_text(body, None, ()) == body


def test_an_indented_paragraph_is_text_not_code() -> None:
    assert render_text("    the Embassy wishes you a **happy** year", None, ()) == "the Embassy wishes you a happy year"


def test_a_lone_star_line_is_a_footnote() -> None:
    assert render_text("Tickets: 10 euros.*\n\n* Free for students.", None, ()) == (
        "Tickets: 10 euros.*\n\n* Free for students."
    )
    assert render_text("* one\n* two", None, ()) == "• one\n• two"


def test_hashtags_after_a_block_of_lines_go_on_their_own_line() -> None:
    assert render_text("Press Office\nThe Embassy", None, ["News"]) == "Press Office\nThe Embassy\n\n#News"
    assert render_text("One line.", None, ["News"]) == "One line. #News"


# ---------------------------------------------------------------- quotes


def test_quotes_in_the_texts_language_with_their_lines() -> None:
    assert render_text("> Наша дружба\n> проверена временем.", None, ()) == "«Наша дружба\nпроверена временем.»"
    assert render_text("> Our friendship\n> has stood.", None, ()) == "“Our friendship\nhas stood.”"
    assert render_text("> «Мир», — сказал посол.", None, ()) == "«Мир», — сказал посол."
    # The post's language decides, not the quotation's: a Russian post quotes English «so».
    assert render_text("Посол процитировал Устав ООН:\n\n> We the peoples", None, ()) == (
        "Посол процитировал Устав ООН:\n\n«We the peoples»"
    )


# ---------------------------------------------------------------- URLs


def test_urls_exactly_as_written() -> None:
    body = (
        "Form: [here](https://example.org/a%20b.pdf), <https://example.org/c%20d>, "
        "https://example.org/_data_/x_1_.pdf, www.example.org/_media_/ and `www.example.org/_code_`"
    )
    assert render_text(body, None, ()) == (
        "Form: here (https://example.org/a%20b.pdf), https://example.org/c%20d, "
        "https://example.org/_data_/x_1_.pdf, www.example.org/_media_/ and www.example.org/_code_"
    )
    assert render_text("**www.example.org/_a_** and _www.example.org_", None, ()) == (
        "www.example.org/_a_ and www.example.org"
    )
    assert render_text("[Write to us](mailto:press@example.org)", None, ()) == "Write to us (press@example.org)"


_PATH = st.text(alphabet="abcxyz019_*-~%.=&", min_size=1, max_size=20).filter(lambda p: not p.endswith(("*", ".")))


@given(
    paths=st.lists(_PATH, min_size=1, max_size=3),
    www=st.booleans(),
    emphasis=st.sampled_from(["", "*", "**", "_"]),
)
def test_a_bare_url_is_never_altered_by_markdown(paths: list[str], www: bool, emphasis: str) -> None:
    """Whatever a URL's path holds (underscores, stars, tildes, %20), it comes out as typed, beside emphasis."""
    url = ("www.example.org/" if www else "https://example.org/") + "/".join(paths)
    body = f"See {emphasis}this{emphasis}: {url} and {emphasis}that{emphasis}"
    assert render_text(body, None, ()) == f"See this: {url} and that"


def test_the_link_is_compared_as_a_url_not_a_substring() -> None:
    longer = "The text: https://example.org/news/75."
    assert render_text(longer, "https://example.org/news", ()) == longer + "\n\nhttps://example.org/news"
    same = "The text: HTTPS://Example.org:443/news"
    assert render_text(same, "https://example.org/news", ()) == same


# ---------------------------------------------------------------- hashtags


def test_a_url_fragment_is_not_a_hashtag_and_a_full_width_one_is() -> None:
    assert render_text("See https://example.org/news#briefing", None, ["briefing"]) == (
        "See https://example.org/news#briefing #briefing"
    )
    assert render_text("＃평화 를 위한 대화", None, ["평화"]) == "＃평화 를 위한 대화"


# ---------------------------------------------------------------- threads


def test_a_word_that_fits_a_part_is_never_cut() -> None:
    """The link and tags nearly fill tweet 1: it carries them alone, and the first word opens tweet 2 whole."""
    tags = [f"Tag{n}Anniversary" for n in range(14)]
    body = "Extraordinarily " + "important words follow here. " * 12
    draft = render_draft(TWITTER, Content(body=body, link="https://example.org/n", tags=tuple(tags), images=()))
    first_words = [strip_numbering(part).split()[0] for part in draft.parts]
    assert first_words[:2] == ["https://example.org/n", "Extraordinarily"]
    assert all(twitter_weight(part) <= 280 for part in draft.parts)
    words = " ".join(strip_numbering(p) for p in draft.parts[1:]).split()
    assert words == body.split()


def test_split_thread_keeps_words_whole() -> None:
    text = " ".join(["cooperation"] * 60)
    assert all(set(strip_numbering(p).split()) == {"cooperation"} for p in split_thread(text))


# ---------------------------------------------------------------- validate: comments, HTML, images, links, characters


def test_an_html_comment_is_left_out_with_a_warning(folder: Path) -> None:
    body = "The Ambassador met the Minister. <!-- check the title -->\n\n<!--\nask protocol\n-->\n\nThey talked."
    _, [draft, *_] = load_drafts(post(folder, body), corpus_settings(folder), now=NOW)
    assert draft.text == "The Ambassador met the Minister.\n\nThey talked."
    assert notes(folder, body) == [
        "3: warning: an HTML comment (a note to colleagues) is left out: it is never published",
        "5: warning: an HTML comment (a note to colleagues) is left out: it is never published",
    ]
    for command in ("validate", "preview"):
        result = crosspost(folder, command, str(folder / "post.md"))
        assert result.exit_code == 0
        assert f"{folder / 'post.md'}:3: warning: an HTML comment" in result.stderr
        assert "check the title" not in result.stdout


def test_raw_html_is_an_error_naming_its_line(folder: Path) -> None:
    assert problems(folder, "Fine.\n\nNow <b>bold</b>.") == [
        "5: raw HTML <b> would be published as is; no platform shows HTML: write Markdown "
        "(**bold**, [text](https://...)) or plain text"
    ]
    assert problems(folder, "One<br>two")[0].startswith("3: raw HTML <br> would be published as is; end the line")
    assert problems(folder, "<div>\nblock\n</div>")[0].startswith("3: raw HTML <div>")


def test_an_inline_image_and_a_relative_link_say_what_to_do(folder: Path) -> None:
    found = problems(folder, "See ![the hall](media/hall.jpg)\nand [the news](/news/75).")
    assert found == [
        "3: the inline image ![the hall](media/hall.jpg) cannot be shown in a post's text; list it in the front "
        'matter instead: images = [{ path = "media/hall.jpg", alt = "the hall" }]',
        '4: the link "/news/75" is not a full address (a path or an anchor on a page): readers cannot '
        "follow it; write the whole URL, starting with https://",
    ]


def test_a_table_becomes_lines_with_a_warning(folder: Path) -> None:
    body = "Hours:\n\n| Day | Hours |\n| --- | --- |\n| Monday | 9–13 |"
    assert render_text(body, None, ()) == "Hours:\n\nDay · Hours\nMonday · 9–13"
    assert notes(folder, body) == [
        '5: warning: a table is sent as lines, its cells separated by "·"; '
        "check the preview, or write the rows as lines"
    ]


@pytest.mark.parametrize("char", ["\ufeff", "\u200b", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"])
def test_an_invisible_character_is_refused_with_its_line(folder: Path, char: str) -> None:
    [found] = problems(folder, f"Fine.\nBad{char}word.")
    assert found.startswith(f"4: an invisible U+{ord(char):04X} (")
    assert "at column 4; delete it" in found


def test_a_joiner_inside_an_emoji_is_kept(folder: Path) -> None:
    assert notes(folder, "Families 👨\u200d👩\u200d👧 welcome") == []


def test_a_variants_body_is_checked_at_its_own_lines(folder: Path) -> None:
    front = '[variants.vk]\nbody = """\nFine.\nNot <i>fine</i>.\n"""\n'
    assert [p.split(":")[0] for p in problems(folder, "Main body.", front)] == ["5"]
    front = '[variants.vk]\nbody = """\n\n\nFine.\nNot <i>fine</i>.\n"""\n'
    assert [p.split(":")[0] for p in problems(folder, "Main body.", front)] == ["7"]
    front = '[variants.vk]\nbody = "Not <i>fine</i>."\n'
    assert [p.split(":")[0] for p in problems(folder, "Main body.", front)] == ["3"]


def test_a_link_with_an_invisible_character_is_refused(folder: Path) -> None:
    found = problems(folder, "Body.", 'link = "https://example.org/\u200bnews"\n')
    assert found == ["2: link holds an invisible character (U+200B); type the address again or delete the character"]


# ---------------------------------------------------------------- preview


def test_preview_account_filter(folder: Path) -> None:
    post(folder, "Hello.")
    result = crosspost(folder, "preview", str(folder / "post.md"), "--account", "vk", "--account", "twitter", "--json")
    assert result.exit_code == 0, result.output
    assert [t["account"] for t in json.loads(result.stdout)] == ["vk", "twitter"]
    result = crosspost(folder, "preview", str(folder / "post.md"), "--account", "myspace")
    assert result.exit_code == 1
    assert "--account myspace: no such account" in result.stderr and "twitter, facebook, vk" in result.stderr


def test_preview_wraps_at_the_terminal_width_between_words(folder: Path) -> None:
    url = "https://example.org/" + "long-path/" * 8
    body = "The Embassy opens an exhibition of archive documents on the Agreement. " + url
    post(folder, body)
    result = crosspost(folder, "preview", str(folder / "post.md"), "--account", "vk", columns=40)
    assert result.exit_code == 0, result.output
    text_lines = result.stdout.splitlines()[2:]
    assert all(len(line) <= 40 for line in text_lines if url not in line)
    assert f"    {url}" in text_lines  # a URL is never cut, even when longer than the terminal
    assert " ".join(line.strip() for line in text_lines if line.strip()) == body
    # --json and a pipe get the text exactly as sent.
    as_json = crosspost(folder, "preview", str(folder / "post.md"), "--account", "vk", "--json", columns=40)
    assert json.loads(as_json.stdout)[0]["parts"][0]["text"] == body
