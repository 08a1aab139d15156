"""The post file format: the broken-file corpus with its exact messages, and what a good file gives."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from crosspost.cli import cli
from crosspost.config import Settings, load_config
from crosspost.errors import PostError
from crosspost.posts import load_drafts, parse_post

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
NOW = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)

CONFIG = """\
[crosspost]
timezone = "Asia/Pyongyang"

[accounts.twitter]
platform = "twitter"
consumer_key = "ck"
consumer_secret = "cs"
access_token = "at"
access_token_secret = "ats"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "fb-token"

[accounts.vk]
platform = "vk"
group_id = 123456
access_token = "vk-token"
max_length = 500
"""

# Every broken post of tests/corpus/posts and the exact lines `validate` prints for it.
EXPECTED: dict[str, list[str]] = {
    "binary.md": ["binary.md:1: not a text file (it holds binary data); name the post's UTF-8 Markdown file"],
    "blank.md": [
        "blank.md:1: the file is empty; write a +++ line, the front matter, a closing +++ line, then the body"
    ],
    "bom_unclosed.md": ["bom_unclosed.md:1: the front matter opened here is never closed; add a +++ line after it"],
    "empty.md": [
        "empty.md:1: the file is empty; write a +++ line, the front matter, a closing +++ line, then the body"
    ],
    "empty_target.md": [
        'empty_target.md:4: account "vk" would receive neither text nor an image; '
        "write a body (or a [variants.vk] body) or add images"
    ],
    "empty_variant_target.md": [
        'empty_variant_target.md:3: account "twitter" would receive neither text nor an image; '
        "write a body (or a [variants.twitter] body) or add images"
    ],
    "image_alt_type.md": [
        'image_alt_type.md:2: the alt of image "media/ok.jpg" must be a string, such as alt = "What the photo shows"'
    ],
    "image_bmp.md": [
        'image_bmp.md:2: image "media/pic.bmp" is a BMP image; convert it to a JPEG, PNG, GIF or WebP file'
    ],
    "image_fake.md": [
        'image_fake.md:2: image "media/fake.jpg" is not a readable image; use a JPEG, PNG, GIF or WebP file'
    ],
    "image_folder.md": ['image_folder.md:2: image "media" is not a file; name an image file such as "media/photo.jpg"'],
    "image_missing.md": [
        'image_missing.md:5: image "media/missing.jpg" not found; '
        "the path is relative to the folder that holds the post file"
    ],
    "image_no_path.md": [
        "image_no_path.md:2: image 1 in images needs a path string, "
        'such as images = [{ path = "media/photo.jpg", alt = "What the photo shows" }]'
    ],
    "image_outside_dotdot.md": [
        'image_outside_dotdot.md:2: image "../outside.jpg" is outside the post\'s folder (after links are followed); '
        "move it into the folder that holds the post file, or below it, and fix the path"
    ],
    "image_outside_symlink.md": [
        'image_outside_symlink.md:2: image "media/link.jpg" is outside the post\'s folder (after links are followed); '
        "move it into the folder that holds the post file, or below it, and fix the path"
    ],
    "image_unknown_key.md": ['image_unknown_key.md:3: unknown key "caption" in image 1; allowed keys: path, alt'],
    "images_type.md": [
        "images_type.md:2: images must be a list of files or {path, alt} tables, "
        'such as images = [{ path = "media/photo.jpg", alt = "What the photo shows" }]'
    ],
    "link_ftp.md": [
        'link_ftp.md:2: link "ftp://example.org/file" is not a web address; '
        "write a full URL starting with https:// or http://"
    ],
    "link_not_url.md": [
        'link_not_url.md:3: link "example.org/news" is not a web address; '
        "write a full URL starting with https:// or http://"
    ],
    "link_type.md": [
        'link_type.md:2: link must be a string holding a web address, such as link = "https://example.org/news"'
    ],
    "no_opening.md": [
        "no_opening.md:1: the file must start with a +++ line; "
        "put the front matter between two +++ lines (an empty block is fine)"
    ],
    "non_utf8.md": ["non_utf8.md:5: not UTF-8 text (byte 0xe9); save the file as UTF-8"],
    "publish_at_bad.md": [
        "publish_at_bad.md:3: publish_at: 'next tuesday' is not a time; write an ISO 8601 date-time "
        "(2027-03-17 10:00 or 2027-03-17T10:00:00+09:00), 'now' or a delay such as +30m, +2h, +1d, +1h30m"
    ],
    "publish_at_date.md": [
        "publish_at_date.md:2: publish_at 2027-03-17 has no time of day; "
        'write 2027-03-17T10:00:00 or "2027-03-17 10:00"'
    ],
    "publish_at_invalid.md": [
        "publish_at_invalid.md:2: 2027-13-01T10:00:00 is not a valid date-time; write a real date and time, "
        "such as 2027-03-17T10:00:00+09:00 or 2027-03-17T10:00:00"
    ],
    "publish_at_type.md": [
        'publish_at_type.md:2: publish_at must be a date-time, such as 2027-03-17T10:00:00+09:00 or "2027-03-17 10:00"'
    ],
    "several.md": [
        'several.md:2: unknown key "tittle"; allowed keys: title, publish_at, to, link, tags, images, variants',
        'several.md:3: link "not a url" is not a web address; write a full URL starting with https:// or http://',
        'several.md:4: unknown account "myspace" in to; accounts in the config: twitter, facebook, vk',
        'several.md:5: image "media/missing.jpg" not found; '
        "the path is relative to the folder that holds the post file",
        'several.md:8: body in [variants.vk] must be a string; write body = """...""" with Markdown',
    ],
    "tag_empty.md": ['tag_empty.md:2: tag "#" is empty; remove it'],
    "tag_punct.md": ['tag_punct.md:2: tag "Russia-DPRK" may hold only letters, digits and _; write it as "RussiaDPRK"'],
    "tag_space.md": [
        'tag_space.md:4: tag "cultural exchange" has a space; write it as one word, such as "CulturalExchange"'
    ],
    "tags_type.md": ['tags_type.md:2: tags must be a list of strings, such as tags = ["Russia", "DPRK"]'],
    "tail_too_long.md": [
        'tail_too_long.md:4: the link and hashtags leave no room in the first tweet for "twitter" (321 of 280); '
        "use fewer tags or a shorter link"
    ],
    "title_empty.md": ["title_empty.md:2: title is empty; write a title or remove the key (the file name is used)"],
    "title_type.md": ['title_type.md:2: title must be a string, such as title = "Reception on National Day"'],
    "to_empty.md": [
        "to_empty.md:2: to is empty; name at least one account, or remove the to line to post to every account"
    ],
    "to_twice.md": ['to_twice.md:2: account "vk" is named twice in to; remove one'],
    "to_type.md": ['to_type.md:2: to must be a list of account names, such as to = ["twitter", "vk"]'],
    "to_unknown.md": [
        'to_unknown.md:4: unknown account "mastodon" in to; accounts in the config: twitter, facebook, vk'
    ],
    "toml_duplicate.md": ['toml_duplicate.md:4: "title" is set twice; keep one'],
    "toml_syntax.md": [
        "toml_syntax.md:4: TOML syntax error: Invalid value (column 8); fix the front matter at that line"
    ],
    "toml_unterminated.md": [
        "toml_unterminated.md:3: TOML syntax error: Unterminated string at the end of the front matter; "
        "fix the front matter at that line"
    ],
    "too_long_vk.md": [
        'too_long_vk.md:5: the text for account "vk" is 679 characters, over its limit of 500; '
        "shorten the body or give it a [variants.vk] body"
    ],
    "too_long_vk_variant.md": [
        'too_long_vk_variant.md:3: the text for account "vk" is 659 characters, over its limit of 500; '
        "shorten the body or give it a [variants.vk] body"
    ],
    "too_many_images_twitter.md": [
        'too_many_images_twitter.md:3: 5 images for account "twitter"; a tweet takes at most 4: '
        "remove some or give it [variants.twitter] images"
    ],
    "too_many_images_vk.md": [
        'too_many_images_vk.md:5: 11 images for account "vk"; a VK post takes at most 10: '
        "remove some or give it [variants.vk] images"
    ],
    "unclosed.md": ["unclosed.md:1: the front matter opened here is never closed; add a +++ line after it"],
    "unknown_key.md": [
        'unknown_key.md:4: unknown key "tittle"; allowed keys: title, publish_at, to, link, tags, images, variants'
    ],
    "variant_body_type.md": [
        'variant_body_type.md:3: body in [variants.facebook] must be a string; write body = """...""" with Markdown'
    ],
    "variant_link_bad.md": [
        'variant_link_bad.md:5: link "www.example.org" in [variants.vk] is not a web address; '
        "write a full URL starting with https:// or http://"
    ],
    "variant_not_table.md": [
        'variant_not_table.md:2: variants.vk must be a table; write [variants.vk] followed by body = "..."'
    ],
    "variant_unknown.md": [
        'variant_unknown.md:4: unknown variant "mastodon"; name an account or a platform: '
        "twitter, facebook, vk, telegram"
    ],
    "variant_unknown_key.md": [
        'variant_unknown_key.md:6: unknown key "titel" in [variants.vk]; allowed keys: body, link, tags, images'
    ],
    "variants_type.md": ['variants_type.md:2: variants must be tables, such as [variants.vk] with body = "..."'],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """A copy of the corpus with its config, plus the symlink (made here: not every checkout keeps links)."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    (root / "posts" / "media" / "link.jpg").symlink_to("../../outside.jpg")
    (root / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
    (root / "crosspost.toml").chmod(0o600)
    return root / "posts", load_config(root / "crosspost.toml", {})


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in (CORPUS / "posts").glob("*.md")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_post_messages(name: str, corpus: tuple[Path, Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, settings = corpus
    monkeypatch.chdir(folder)  # so that FILE is the name as a user would type it
    with pytest.raises(PostError) as caught:
        load_drafts(Path(name), settings, now=NOW)
    assert [str(p) for p in caught.value.problems] == EXPECTED[name]
    assert str(caught.value) == "\n".join(EXPECTED[name])


@pytest.fixture(scope="module")
def queued_once(corpus: tuple[Path, Settings]) -> Path:
    """The corpus database after one good post was queued: what every failed queue must leave as it is."""
    folder, _settings = corpus
    (folder / "good.md").write_text("+++\n+++\nA good post.\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(folder.parent / "crosspost.toml"), "queue", str(folder / "good.md"), "--at", "+1h"]
    )
    assert result.exit_code == 0, result.output
    return folder.parent / "crosspost.db"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_post_is_not_queued_and_the_database_is_unchanged(
    name: str, corpus: tuple[Path, Settings], queued_once: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _settings = corpus
    monkeypatch.chdir(folder)
    media_dir = folder.parent / "media"
    media = sorted(p.name for p in media_dir.glob("*"))
    before = queued_once.read_bytes()
    result = CliRunner().invoke(cli, ["--config", "../crosspost.toml", "queue", name, "--at", "+1h"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:-1] == EXPECTED[name]
    assert lines[-1].startswith(f"crosspost: error: {name}: ")
    assert queued_once.read_bytes() == before
    assert sorted(p.name for p in media_dir.glob("*")) == media


# ---------------------------------------------------------------- good posts


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    config = write(tmp_path, "crosspost.toml", CONFIG)
    return load_config(config, {})


def make_image(path: Path, fmt: str = "JPEG") -> bytes:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 120, 200)).save(path, fmt)
    return path.read_bytes()


def test_defaults(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path, "posts/hello-world.md", "+++\n+++\nHello, *world*.\n")
    post = parse_post(path, settings, now=NOW)
    assert post.source == path.resolve()
    assert post.title == "hello-world"
    assert post.publish_at is None
    assert post.targets == ("twitter", "facebook", "vk")
    assert set(post.contents) == {"twitter", "facebook", "vk"}
    assert post.contents["vk"].body == "Hello, *world*."
    assert post.body_line == 3


def test_front_matter_values(tmp_path: Path, settings: Settings) -> None:
    jpeg = make_image(tmp_path / "posts/media/a.jpg")
    png = make_image(tmp_path / "posts/media/b.png", "PNG")
    path = write(
        tmp_path,
        "posts/full.md",
        '+++\ntitle = "Full"\npublish_at = 2027-03-17T10:00:00\nto = ["vk", "twitter"]\n'
        'link = "https://example.org/news"\ntags = ["#Russia", "DPRK", "russia"]\n'
        'images = ["media/a.jpg", { path = "media/b.png", alt = "  A seal  " }]\n+++\n\n\nBody.\n',
    )
    post = parse_post(path, settings, now=NOW)
    assert post.title == "Full"
    assert post.publish_at == datetime(2027, 3, 17, 10, tzinfo=ZoneInfo("Asia/Pyongyang"))
    assert post.targets == ("vk", "twitter")
    assert list(post.contents) == ["vk", "twitter"]
    content = post.contents["vk"]
    assert content.link == "https://example.org/news"
    assert content.tags == ("Russia", "DPRK")  # the '#' stripped, the repeat dropped
    first, second = content.images
    assert first.path == (tmp_path / "posts/media/a.jpg").resolve()
    assert (first.alt, first.mime, first.sha256) == ("", "image/jpeg", hashlib.sha256(jpeg).hexdigest())
    assert (second.alt, second.mime, second.sha256) == ("A seal", "image/png", hashlib.sha256(png).hexdigest())
    assert post.lines["publish_at"] == 3 and post.lines["images"] == 7
    assert post.body_line == 11


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"2027-03-17 10:00"', datetime(2027, 3, 17, 10, tzinfo=ZoneInfo("Asia/Pyongyang"))),
        ('"+1h30m"', NOW + timedelta(hours=1, minutes=30)),
        ('"now"', NOW),
        ("2027-03-17T10:00:00+03:00", datetime(2027, 3, 17, 7, tzinfo=UTC)),
    ],
)
def test_publish_at_forms(tmp_path: Path, settings: Settings, value: str, expected: datetime) -> None:
    path = write(tmp_path, "p.md", f"+++\npublish_at = {value}\n+++\nBody.\n")
    post = parse_post(path, settings, now=NOW)
    assert post.publish_at == expected
    assert post.publish_at is not None and post.publish_at.tzinfo is not None


def test_account_variant_wins_over_platform_variant(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "crosspost.toml",
        '[accounts.vk-ru]\nplatform = "vk"\ngroup_id = 1\naccess_token = "a"\n'
        '[accounts.vk-en]\nplatform = "vk"\ngroup_id = 2\naccess_token = "b"\n'
        '[accounts.fb]\nplatform = "facebook"\npage_id = "3"\npage_access_token = "c"\n',
    )
    settings = load_config(config, {})
    path = write(
        tmp_path,
        "p.md",
        '+++\ntags = ["Base"]\n\n[variants.vk]\nbody = "Для ВКонтакте"\nlink = "https://example.ru"\n\n'
        '[variants.vk-en]\nbody = "For VK in English"\ntags = ["English"]\n+++\nThe body.\n',
    )
    post, drafts = load_drafts(path, settings, now=NOW)
    assert post.contents["vk-ru"].body == "Для ВКонтакте"
    assert post.contents["vk-ru"].tags == ("Base",)
    assert post.contents["vk-en"].body == "For VK in English"
    assert post.contents["vk-en"].link == "https://example.ru"  # from the platform variant
    assert post.contents["vk-en"].tags == ("English",)
    assert post.contents["fb"].body == "The body."
    texts = {d.account: d.text for d in drafts}
    assert texts == {
        "vk-ru": "Для ВКонтакте\n\nhttps://example.ru #Base",
        "vk-en": "For VK in English\n\nhttps://example.ru #English",
        "fb": "The body. #Base",
    }
    assert post.line_of("vk-en", "body") == 9 and post.line_of("vk-ru", "body") == 5
    assert post.line_of("fb", "body") == 12


def test_load_drafts_renders_each_target(tmp_path: Path, settings: Settings) -> None:
    make_image(tmp_path / "media/a.jpg")
    path = write(
        tmp_path,
        "p.md",
        '+++\nlink = "https://example.org/n"\nimages = [{ path = "media/a.jpg", alt = "Alt" }]\n+++\n'
        "See [the news](https://example.org/n).\n",
    )
    post, drafts = load_drafts(path, settings, now=NOW)
    assert [d.account for d in drafts] == ["twitter", "facebook", "vk"]
    assert [d.platform for d in drafts] == ["twitter", "facebook", "vk"]
    assert all(d.key == "" for d in drafts)
    assert all(d.link == "https://example.org/n" for d in drafts)
    assert all(d.images == post.contents["vk"].images for d in drafts)
    assert drafts[0].parts == ("See the news (https://example.org/n).",)


def test_to_override(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path, "p.md", '+++\nto = ["vk"]\n[variants.twitter]\nbody = "Tweet"\n+++\nBody.\n')
    post, drafts = load_drafts(path, settings, now=NOW, to=["twitter", "facebook"])
    assert post.targets == ("twitter", "facebook")
    assert [d.parts for d in drafts] == [("Tweet",), ("Body.",)]


def test_to_override_unknown_account(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path, "p.md", "+++\n+++\nBody.\n")
    with pytest.raises(PostError) as caught:
        load_drafts(path, settings, now=NOW, to=["vk", "mastodon"])
    assert str(caught.value) == (
        f'{path}:1: unknown account "mastodon" in --to; accounts in the config: twitter, facebook, vk'
    )


def test_file_not_found(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(PostError) as caught:
        parse_post(tmp_path / "nope.md", settings, now=NOW)
    assert str(caught.value) == f"{tmp_path / 'nope.md'}:1: file not found; check the path"


def test_image_in_a_subfolder_through_an_inner_symlink_is_fine(tmp_path: Path, settings: Settings) -> None:
    make_image(tmp_path / "media/real.jpg")
    (tmp_path / "media/alias.jpg").symlink_to("real.jpg")
    path = write(tmp_path, "p.md", '+++\nimages = ["media/alias.jpg"]\n+++\n')
    post = parse_post(path, settings, now=NOW)
    assert post.contents["vk"].images[0].path == (tmp_path / "media/real.jpg").resolve()


def test_lines_inside_a_multiline_body_are_not_keys(tmp_path: Path, settings: Settings) -> None:
    path = write(
        tmp_path,
        "p.md",
        '+++\n[variants.vk]\nbody = """\nlink = "looks like a key"\n"""\nlink = "nope"\n+++\nBody.\n',
    )
    with pytest.raises(PostError) as caught:
        parse_post(path, settings, now=NOW)
    assert [p.line for p in caught.value.problems] == [6]


def test_crlf_and_bom(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "p.md"
    path.write_bytes('\ufeff+++\r\ntitle = "Windows"\r\n+++\r\nBody.\r\n'.encode())
    post = parse_post(path, settings, now=NOW)
    assert post.title == "Windows" and post.contents["vk"].body == "Body."


def test_example_posts_validate() -> None:
    """Every posts/*.md of the repository is good against config.example.toml."""
    env = {
        name: "dummy"
        for name in (
            "TWITTER_CONSUMER_KEY",
            "TWITTER_CONSUMER_SECRET",
            "TWITTER_ACCESS_TOKEN",
            "TWITTER_ACCESS_TOKEN_SECRET",
            "FACEBOOK_PAGE_TOKEN",
            "VK_TOKEN",
            "TELEGRAM_BOT_TOKEN",
        )
    }
    settings = load_config(REPO / "config.example.toml", env)
    posts = sorted((REPO / "posts").glob("*.md"))
    assert len(posts) >= 3
    threads = russian_vk = with_images = 0
    for path in posts:
        post, drafts = load_drafts(path, settings, now=NOW)
        assert post.publish_at is not None and post.publish_at.year == 2027
        by_account = {d.account: d for d in drafts}
        threads += len(by_account["twitter"].parts) > 1
        russian_vk += "variants.vk.body" in post.lines and "й" in by_account["vk"].text
        with_images += len(by_account["vk"].images) == 2 and all(i.alt for i in by_account["facebook"].images)
        for image in by_account["vk"].images:
            assert image.path.stat().st_size < 30_000
    assert threads >= 1 and russian_vk >= 1 and with_images >= 1


def test_parsing_imports_no_heavy_library() -> None:
    """validate and preview must start fast: no database, HTTP or platform library on the way."""
    code = (
        "import sys, crosspost.posts, crosspost.render\n"
        "heavy = {'sqlalchemy', 'tweepy', 'facebook', 'vk_api', 'requests', 'PIL', 'twitter_text'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.strip() == "[]"


def test_a_pipe_is_refused_without_blocking(tmp_path: Path, settings: Settings) -> None:
    import os

    fifo = tmp_path / "news.md"
    os.mkfifo(fifo)
    with pytest.raises(PostError) as caught:
        parse_post(fifo, settings, now=NOW)
    assert [str(p) for p in caught.value.problems] == [
        f"{fifo}:1: is not a regular file (a pipe or a device); name the post's .md file"
    ]
