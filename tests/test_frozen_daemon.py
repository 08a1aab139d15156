"""Fencing, through real processes: a daemon frozen with SIGSTOP mid-request while another takes over.

The frozen daemon (a real ``crosspost daemon`` subprocess) has a request held in
the sandbox by a delay fault: an image upload, the post, or a thread's second
part. The sandbox finishes that request while the daemon is frozen (a platform
finishes what reached it). A second daemon takes the database and the delivery
over once the first one's heartbeat and lease are stale, looks the post up and
settles it. Then the first daemon is resumed (SIGCONT): it must find that it
lost its claim before its next request, write nothing, and say so, with no log
line claiming a post of its own. One copy on the platform, always.

Slow by nature (the slot goes stale after 15 s), so the three scenarios are the
only ones here.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import test_daemon_e2e
from test_daemon_e2e import World

from benchmarks.reliability.frozen import write_locked  # one probe for SQLite's write lock, beside its benchmark
from crosspost.daemon import STALE_AFTER
from crosspost.sandbox import Fault
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
world = test_daemon_e2e.world  # the fixture: a sandbox, a config on it, and real CLI and daemon processes
IMAGE = REPO / "crosspost" / "examples" / "media" / "agreement.png"


def queue_file(w: World, body: str, *, image: bool = False) -> int:
    w.count += 1
    path = w.tmp / "posts" / f"f{w.count}.md"
    images = ""
    if image:
        shutil.copy(IMAGE, w.tmp / "posts" / "agreement.png")
        images = 'images = [{ path = "agreement.png", alt = "The signing" }]\n'
    path.write_text(f'+++\ntitle = "frozen {w.count}"\n{images}+++\n{body}\n', encoding="utf-8")
    done = w.cli("queue", str(path), "--at", datetime.now(UTC).isoformat(), "--to", "twitter")
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def freeze_during(w: World, fault: Fault, requests: int) -> subprocess.Popen[str]:
    """Start a daemon and SIGSTOP it while its ``requests``-th request matching ``fault`` is held."""
    w.sandbox.add_faults([fault])
    first = w.daemon()
    wait_until(lambda: fault.used >= requests, 20, "the held request")
    first.send_signal(signal.SIGSTOP)
    # Its heartbeat thread may have been frozen inside a write transaction, holding SQLite's write lock
    # (a real hazard of one-file databases: nothing but the process can release it). Let it finish: the
    # held request is still in the sandbox for a while.
    while write_locked(w.tmp / "crosspost.db"):
        first.send_signal(signal.SIGCONT)
        time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)
    return first


def take_over(w: World) -> subprocess.Popen[str]:
    """Wait until the frozen daemon's slot is stale, then start a second daemon (it takes the slot over)."""
    store = SqlStore(f"sqlite:///{w.tmp / 'crosspost.db'}", w.tmp / "media")
    try:
        status = store.daemon_status()
        assert status is not None
        beat = status[1]
    finally:
        store.close()
    wait_until(lambda: (datetime.now(UTC) - beat).total_seconds() > STALE_AFTER + 0.5, 30, "a stale slot")
    return w.daemon()


def resume_and_stop(w: World, first: subprocess.Popen[str]) -> str:
    """SIGCONT the frozen daemon; it finds the slot and its claim gone and stops. Returns its stderr."""
    first.send_signal(signal.SIGCONT)
    try:
        _, err = first.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=30)
    return err


def assert_fenced(err: str, post: int) -> None:
    lines = [line for line in err.splitlines() if f"post={post} " in line]
    assert any("outcome=lost_claim" in line for line in lines), err
    assert not any("status=sent" in line or "url=" in line for line in lines), err  # no false claim of a post


@pytest.mark.parametrize("scenario", ["upload", "post", "thread part"])
def test_a_daemon_frozen_mid_request_and_resumed_after_a_take_over_publishes_nothing_more(
    world: World,
    scenario: str,
) -> None:
    if scenario == "upload":
        # X refuses a post without text, so this one has a text; a second copy X refused as a duplicate
        # would still show as a second POST /2/tweets (asserted below).
        post = queue_file(world, f"A photo {time.time()}.", image=True)
        first = freeze_during(world, Fault(path="^/2/media/upload", method="POST", delay=2.0, times=1), 1)
    elif scenario == "post":
        post = queue_file(world, f"A plain post {time.time()}.")
        first = freeze_during(world, Fault(path="^/2/tweets$", method="POST", delay=2.0, times=1), 1)
    else:
        paragraphs = [
            f"Paragraph {i} of a long statement {time.time()}. " + "Words follow here. " * 11 for i in (1, 2, 3)
        ]
        post = queue_file(world, "\n\n".join(paragraphs))
        # Both of the first two parts are held; the daemon is frozen during the second.
        first = freeze_during(world, Fault(path="^/2/tweets$", method="POST", delay=1.5, times=2), 2)
    time.sleep(2.5)  # the sandbox finishes the held request while its daemon is frozen
    second = take_over(world)
    tw = world.wait(post, lambda d: d["twitter"].status == "sent", timeout=60)["twitter"]
    err = resume_and_stop(world, first)
    time.sleep(1.0)  # room for a late request from the resumed daemon, were it to send one
    assert world.stop(second)[0] == 0

    posts = world.posts("twitter")
    texts = [p["text"] for p in posts]
    assert len(texts) == len(set(texts)), texts  # no part published twice
    expected = 3 if scenario == "thread part" else 1
    assert len(posts) == expected, texts
    assert tw.remote_id == posts[0]["id"]
    if scenario == "upload":
        assert len(world.requests("/2/tweets")) == 1  # only the second daemon posted, once
    assert_fenced(err, post)
    # Only the second daemon wrote: the lost try, its look-up, and (unless found whole) the rest published.
    expected_history = {
        "upload": ["interrupted", "absent", "sent"],  # nothing was posted: an upload makes no post
        "post": ["interrupted", "found"],
        "thread part": ["interrupted", "found", "sent"],  # part 2 found, part 3 published
    }[scenario]
    assert [a.outcome for a in world.post_history(post)] == expected_history
    assert world.deliveries(post)["twitter"].status == "sent"
