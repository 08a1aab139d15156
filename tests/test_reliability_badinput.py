"""Bad files through the real ``crosspost queue``: exit 1, one clear last line, the database unchanged.

The full set (with hypothesis fuzzing at thousands of examples) runs in
``python -m benchmarks.reliability``; this is a fast sample, including the
regressions it found: a huge post file took minutes (now refused at once), and
a value with a line break broke the one-line message.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.reliability import badinput  # noqa: E402
from benchmarks.reliability.common import World, has_traceback  # noqa: E402

SAMPLE = ("oversized", "binary", "truncated_utf8", "cp1251", "image_text_as_jpg", "image_truncated", "image_bomb")


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[World, dict]]:
    with World("badinput-test") as w:
        w.queue_cli(w.write_post("A good post queued first."), "--at", "+1h")
        yield w, badinput.make_files(w.folder / "posts")


@pytest.mark.parametrize("name", SAMPLE)
def test_bad_file_is_refused_and_nothing_stored(world: tuple[World, dict], name: str) -> None:
    w, files = world
    path, _what = files[name]
    before = badinput.snapshot(w)
    done = w.cli("queue", str(path), "--at", "+1h", timeout=30)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith("crosspost: error: ")
    assert not has_traceback(err) and not done.stdout.strip()
    assert badinput.snapshot(w) == before


def test_line_break_in_a_value_stays_one_line(world: tuple[World, dict]) -> None:
    w, _files = world
    path = w.folder / "posts" / "newline.md"
    path.write_text('+++\nto = ["twitter"]\nlink = "https://x\\n.org"\ntags = ["a\\nb"]\n+++\nBody\n', encoding="utf-8")
    done = w.cli("validate", str(path))
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1
    assert all(line.startswith(str(path) + ":") or line.startswith("crosspost: error:") for line in lines), lines
