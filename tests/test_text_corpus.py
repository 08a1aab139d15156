"""Press-office texts as each platform receives them, asserted exactly (tests/corpus/text/).

Each ``NAME.md`` is a post file; ``NAME.expected.json`` holds, per account, the
parts sent (one for Facebook and VK, the thread on X) and the warnings
``validate`` gives (``LINE: message``). The expected files were written by
running the renderer (``python tests/test_text_corpus.py``) and then read, line
by line, by a person: a change to them is a change to what is published.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crosspost.config import Settings, load_config
from crosspost.posts import load_drafts

CORPUS = Path(__file__).parent / "corpus" / "text"
NAMES = sorted(p.stem for p in CORPUS.glob("*.md"))
NOW = datetime(2027, 1, 1, tzinfo=UTC)
CONFIG = """\
[accounts.twitter]
platform = "twitter"
consumer_key = "k"
consumer_secret = "s"
access_token = "t"
access_token_secret = "ts"

[accounts.facebook]
platform = "facebook"
page_id = "1"
page_access_token = "p"

[accounts.vk]
platform = "vk"
group_id = 1
access_token = "v"
"""


def corpus_settings(folder: Path) -> Settings:
    config = folder / "crosspost.toml"
    config.write_text(CONFIG, encoding="utf-8")
    config.chmod(0o600)
    return load_config(config, {})


def rendered(name: str, settings: Settings) -> dict[str, Any]:
    post, drafts = load_drafts(CORPUS / f"{name}.md", settings, now=NOW)
    out: dict[str, Any] = {d.account: list(d.parts) for d in drafts}
    out["warnings"] = [f"{note.line}: {note.message}" for note in post.notes]
    return out


def test_the_corpus_is_large_enough() -> None:
    assert len(NAMES) >= 30
    assert all((CORPUS / f"{name}.expected.json").is_file() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_text_as_each_platform_receives_it(name: str, tmp_path: Path) -> None:
    expected = json.loads((CORPUS / f"{name}.expected.json").read_text(encoding="utf-8"))
    assert rendered(name, corpus_settings(tmp_path)) == expected


if __name__ == "__main__":  # write the expected files anew; read every change before committing it
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        settings = corpus_settings(Path(tmp))
        for name in sys.argv[1:] or NAMES:
            text = json.dumps(rendered(name, settings), ensure_ascii=False, indent=2) + "\n"
            (CORPUS / f"{name}.expected.json").write_text(text, encoding="utf-8")
