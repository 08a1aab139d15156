"""Telegram through the real CLI and daemon: an unclear send is "unknown", never resent; an album and its text.

The sandbox runs in this process; ``crosspost`` runs as real subprocesses
against it, with the demo's config (every account on the sandbox), posting
``--to telegram``.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_world import run_crosspost
from PIL import Image as PILImage

from crosspost.demo import demo_config
from crosspost.sandbox import Fault, Sandbox, build_sandbox

SEND_MESSAGE = r"^/bot[^/]+/sendMessage$"


@pytest.fixture
def box() -> Iterator[Sandbox]:
    sandbox = build_sandbox()
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def folder(tmp_path: Path, box: Sandbox) -> Path:
    (tmp_path / "posts").mkdir()
    (tmp_path / "crosspost.toml").write_text(demo_config(box.url), encoding="utf-8")
    (tmp_path / "crosspost.toml").chmod(0o600)
    return tmp_path


def crosspost(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_crosspost(*args, config=folder / "crosspost.toml", cwd=folder)


def queue(folder: Path, name: str, text: str, front: str = "") -> int:
    (folder / "posts" / name).write_text(f"+++\n{front}+++\n{text}\n", encoding="utf-8")
    done = crosspost(folder, "queue", f"posts/{name}", "--at", "now", "--to", "telegram")
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def record(folder: Path, post_id: int) -> dict:
    [row] = json.loads(crosspost(folder, "log", "--post", str(post_id), "--json").stdout)
    return dict(row)


def channel(box: Sandbox) -> list[dict]:
    return list(box.state()["telegram"]["posts"])


def test_a_send_dropped_after_it_was_made_is_unknown_and_never_resent(folder: Path, box: Sandbox) -> None:
    post_id = queue(folder, "note.md", "The consular section is closed on Monday.")
    box.add_faults([Fault(path=SEND_MESSAGE, drop="after")])
    assert crosspost(folder, "daemon", "--once").returncode == 1
    row = record(folder, post_id)
    assert row["status"] == "unknown" and row["attempts"] == 1
    assert "history" in row["error"] and "resolve" in row["error"]
    assert len(channel(box)) == 1

    # A second run has nothing due: an unknown is never tried again by itself.
    assert crosspost(folder, "daemon", "--once").returncode == 0
    assert record(folder, post_id)["status"] == "unknown"
    assert len(channel(box)) == 1  # still the one message: never a resend


def test_an_album_then_its_text_when_the_text_is_too_long_for_a_caption(folder: Path, box: Sandbox) -> None:
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    (folder / "posts" / "photo.jpg").write_bytes(buffer.getvalue())
    body = "\n\n".join(f"Paragraph {n} of the ambassador's statement, said in full here." for n in range(1, 25))
    post_id = queue(folder, "long.md", body, front='images = [{ path = "photo.jpg", alt = "The hall" }]\n')
    assert crosspost(folder, "daemon", "--once").returncode == 0
    album, message = channel(box)
    row = record(folder, post_id)
    assert row["status"] == "sent" and row["remote_id"] == album["id"] and row["url"] == album["url"]
    assert album["text"] == "" and len(album["images"]) == 1
    assert message["text"].startswith("Paragraph 1 of") and "Paragraph 24" in message["text"]


def test_accounts_check_proves_the_bot_is_an_admin(folder: Path, box: Sandbox) -> None:
    done = crosspost(folder, "accounts", "--check")
    assert "@crosspost_sandbox_bot, admin of @sandbox_channel" in done.stdout + done.stderr
    listing = crosspost(folder, "accounts").stdout
    assert any(line.split()[:3] == ["telegram", "telegram", "@sandbox_channel"] for line in listing.splitlines())
