"""Issue #3's done-criterion, end to end through real processes: a `crosspost sandbox` server, a config whose
accounts point `api_base` at it, a post with text, a link, tags and two images queued to all three accounts,
`crosspost daemon --once`, and the post on every emulated wall and on the sandbox's page."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_world import crosspost_argv, run_crosspost

from crosspost.demo import demo_config

REPO = Path(__file__).resolve().parent.parent
EXHIBITION = "posts/archive-exhibition.md"  # text, a link, two tags, two images with alt text


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    proc = subprocess.Popen(
        crosspost_argv("sandbox", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.split(" on ")[1].split(" ")[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def crosspost(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_crosspost(*args, config=folder / "crosspost.toml", cwd=folder)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode("utf-8"))


def test_a_post_with_text_link_tags_and_two_images_reaches_every_wall(tmp_path: Path, sandbox_url: str) -> None:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    (tmp_path / "crosspost.toml").write_text(demo_config(sandbox_url), encoding="utf-8")
    (tmp_path / "crosspost.toml").chmod(0o600)

    queued = crosspost(tmp_path, "queue", EXHIBITION, "--at", "now")
    assert queued.returncode == 0, queued.stderr
    post_id = int(queued.stdout)
    ran = crosspost(tmp_path, "daemon", "--once")
    assert ran.returncode == 0, ran.stderr

    records = json.loads(crosspost(tmp_path, "log", "--post", str(post_id), "--json").stdout)
    assert sorted(r["account"] for r in records) == ["facebook", "telegram", "twitter", "vk"]
    state = json.loads(fetch(sandbox_url + "/_sandbox/state"))
    for record in records:
        assert record["status"] == "sent" and record["attempts"] == 1
        [post] = [p for p in state[record["platform"]]["posts"] if p["id"] == record["remote_id"]]
        assert record["url"] == post["url"]
        assert len(post["images"]) == 2
        assert "#Archives #History" in post["text"]
        assert "https://example.org/events/archive-exhibition" in (post["text"] + (post["link"] or ""))
    alts = [i["alt"] for i in state["twitter"]["posts"][-1]["images"]]
    assert alts[0].startswith("The Embassy hall prepared for the exhibition opening")

    page = fetch(sandbox_url + "/")
    assert page.count("data:image/") >= 8  # two images on each of the four walls
    for record in records:
        assert record["url"] in page
    assert "The archive exhibition is open at the Embassy" in page
