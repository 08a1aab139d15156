"""Fuzzing the post parser: any file gives a parsed post or a PostError of one-line ``FILE:LINE: message`` problems.

Never another exception. Inputs: arbitrary bytes, arbitrary text between
fences, front matter built from the real keys with arbitrary TOML values, and
random edits of a good post. What fuzzing found lives in tests/corpus/fuzz/
(``post-*.md``) and is replayed here on every run.

``CROSSPOST_FUZZ_EXAMPLES`` raises the number of examples (the reliability
benchmark runs these with thousands).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toml_writer import TOML_SCALARS, mutations, toml_value

from crosspost.config import Settings, load_config
from crosspost.errors import CrosspostError, PostError
from crosspost.posts import load_drafts

CORPUS = Path(__file__).resolve().parent / "corpus" / "fuzz"
EXAMPLES = int(os.environ.get("CROSSPOST_FUZZ_EXAMPLES", "150"))
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIG = """[crosspost]
timezone = "Europe/Moscow"
[accounts.twitter]
platform = "twitter"
consumer_key = "k"
consumer_secret = "s"
access_token = "1-t"
access_token_secret = "ts"
[accounts.facebook]
platform = "facebook"
page_id = "1"
page_access_token = "fb"
[accounts.vk]
platform = "vk"
group_id = 1
access_token = "vk"
max_length = 300
"""
GOOD = """+++
title = "A good post"
publish_at = 2027-03-17T10:00:00+09:00
to = ["twitter", "facebook", "vk"]
link = "https://example.org/news/75"
tags = ["Russia", "DPRK"]
images = [{ path = "media/ok.png", alt = "A picture" }]

[variants.vk]
body = \"\"\"Текст для ВКонтакте\"\"\"
+++
The **body**, in Markdown: paragraphs, [links](https://example.org), lists.

- one
- two
"""
KEYS = ("title", "publish_at", "to", "link", "tags", "images", "variants", "body", "path", "alt", "vk", "twitter")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    root = tmp_path_factory.mktemp("fuzz-posts")
    (root / "media").mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(root / "media" / "ok.png")
    (root / "media" / "fake.jpg").write_bytes(b"<html>not a picture</html>")
    (root / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def config(folder: Path) -> Settings:
    return load_config(folder / "crosspost.toml", {})


def check(folder: Path, config: Settings, data: bytes) -> None:
    """The property: parsed, or a PostError whose every problem is one ``FILE:LINE: message`` line."""
    path = folder / "fuzz.md"
    path.write_bytes(data)
    try:
        load_drafts(path, config, now=NOW)
    except PostError as exc:
        assert exc.problems, "a PostError without problems"
        for problem in exc.problems:
            line = str(problem)
            assert "\n" not in line and "\r" not in line, line
            assert re.match(re.escape(str(path)) + r":\d+: \S", line), line
            assert "Traceback" not in line and "object at 0x" not in line, line
    except CrosspostError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message, message


# ---------------------------------------------------------------- strategies


def toml_key() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(KEYS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True))


scalars = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["twitter", "vk", "facebook", "now", "+1h", "2027-03-17 10:00", "media/ok.png", "media/fake.jpg",
                     "../x.png", "https://example.org/a", "ftp://x", "", " ", "#tag", "media"]),
    TOML_SCALARS,
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(toml_key(), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def structured_posts(draw: st.DrawFn) -> bytes:
    front = draw(st.dictionaries(toml_key(), values, max_size=6))
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in front.items()]
    for name in draw(st.lists(st.sampled_from(["twitter", "vk", "facebook", "nobody", "x"]), max_size=2, unique=True)):
        lines.append(f"[variants.{name}]")
        table = draw(st.dictionaries(st.sampled_from(["body", "link", "tags", "images", "other"]), values, max_size=3))
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    body = draw(st.text(max_size=300))
    return ("+++\n" + "\n".join(lines) + "\n+++\n" + body).encode("utf-8", "surrogatepass")


def mutated_good() -> st.SearchStrategy[bytes]:
    return mutations(GOOD.encode(), [b"+++", b"\n", b'"', b"[", b"="])


# ---------------------------------------------------------------- properties


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(folder: Path, config: Settings, data: bytes) -> None:
    check(folder, config, data)


@FUZZ
@given(st.text(max_size=500), st.text(max_size=500))
def test_arbitrary_text_between_fences(folder: Path, config: Settings, front: str, body: str) -> None:
    check(folder, config, f"+++\n{front}\n+++\n{body}".encode("utf-8", "surrogatepass"))


@FUZZ
@given(structured_posts())
def test_structured_front_matter(folder: Path, config: Settings, data: bytes) -> None:
    check(folder, config, data)


@FUZZ
@given(mutated_good())
def test_mutated_good_post(folder: Path, config: Settings, data: bytes) -> None:
    check(folder, config, data)


def test_good_post_parses(folder: Path, config: Settings) -> None:
    path = folder / "good.md"
    path.write_text(GOOD, encoding="utf-8")
    _post, drafts = load_drafts(path, config, now=NOW)
    assert [d.account for d in drafts] == ["twitter", "facebook", "vk"]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("post-*")) or ["(none)"])
def test_fuzz_corpus(folder: Path, config: Settings, name: str) -> None:
    """Every post file fuzzing (or a hand-made bad input) found: a clear error, never a crash."""
    if name == "(none)":
        pytest.skip("no corpus yet")
    data = (CORPUS / name).read_bytes()
    check(folder, config, data)
