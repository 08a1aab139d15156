"""End to end: the real ``crosspost daemon`` process, the real adapters, the sandbox over HTTP, injected faults.

The sandbox runs in the test process; the daemon is a subprocess
(``python -m crosspost --config CFG daemon``); posts are queued with the real
``crosspost queue``. Nothing is patched: faults come from the sandbox, as a
platform would send them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_world import crosspost_argv, run_crosspost

from crosspost.demo import demo_config
from crosspost.model import Draft
from crosspost.sandbox import Fault, Sandbox, build_sandbox
from crosspost.store.records import DeliveryRecord
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
TWEETS = Fault(path="^/2/tweets$", method="POST")


class World:
    """A sandbox, a config pointing at it, and helpers to queue, run and inspect."""

    def __init__(self, tmp: Path, sandbox: Sandbox, api_base: str) -> None:
        self.tmp = tmp
        self.sandbox = sandbox
        self.config = tmp / "crosspost.toml"
        text = demo_config(api_base, late_limit="1m")
        self.config.write_text(text, encoding="utf-8")
        (tmp / "posts").mkdir()
        SqlStore(f"sqlite:///{tmp / 'crosspost.db'}", tmp / "media").close()  # the schema, made in-process: faster
        self.count = 0
        self.procs: list[subprocess.Popen[str]] = []

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_crosspost(*args, config=self.config)

    def queue(self, *accounts: str, at: datetime | None = None) -> int:
        self.count += 1
        path = self.tmp / "posts" / f"p{self.count}.md"
        path.write_text(f'+++\ntitle = "post {self.count}"\n+++\nNews number {self.count} at {time.time()}.\n')
        when = (at or datetime.now(UTC)).isoformat()
        to = [arg for a in accounts for arg in ("--to", a)]
        done = self.cli("queue", str(path), "--at", when, *to)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def daemon(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            crosspost_argv("daemon", *args, config=self.config),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> tuple[int, str]:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        return proc.returncode, err

    def deliveries(self, post_id: int) -> dict[str, DeliveryRecord]:
        store = SqlStore(f"sqlite:///{self.tmp / 'crosspost.db'}", self.tmp / "media")
        try:
            return {d.account: d for d in store.get_post(post_id).deliveries}
        finally:
            store.close()

    def post_history(self, post_id: int) -> tuple:
        store = SqlStore(f"sqlite:///{self.tmp / 'crosspost.db'}", self.tmp / "media")
        try:
            return store.get_post(post_id).deliveries[0].history
        finally:
            store.close()

    def wait(self, post_id: int, done: Callable[[dict[str, DeliveryRecord]], bool], timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.deliveries(post_id)
            if done(current):
                return current
            time.sleep(0.1)
        raise AssertionError(f"timed out; deliveries: {self.deliveries(post_id)}")

    def posts(self, platform: str) -> list[dict]:
        return self.sandbox.state()[platform]["posts"]

    def requests(self, path: str) -> list[dict]:
        with self.sandbox.lock:
            return [r for r in self.sandbox.requests if r["path"] == path and r["method"] == "POST"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = build_sandbox()
    w = World(tmp_path, sandbox, sandbox.start(port=0))
    yield w
    for proc in w.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sandbox.stop()


def all_final(deliveries: dict[str, DeliveryRecord]) -> bool:
    return all(d.status not in ("pending", "sending", "retrying") for d in deliveries.values())


def test_server_error_twice_then_success_is_sent_after_three_tries(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS.path, method="POST", error="server", times=2)])
    post = world.queue("twitter")
    proc = world.daemon()
    tw = world.wait(post, all_final)["twitter"]
    assert (tw.status, tw.attempts) == ("sent", 3)
    assert len(world.posts("twitter")) == 1
    code, err = world.stop(proc)
    assert code == 0
    assert err.count("account=twitter") == 3 and "status=sent" in err


def test_rate_limit_waits_for_the_reset_and_spends_no_extra_try(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS.path, method="POST", error="rate_limit", reset_in=3, times=1)])
    post = world.queue("twitter")
    proc = world.daemon()
    tw = world.wait(post, all_final)["twitter"]
    assert (tw.status, tw.attempts) == ("sent", 2)
    first, second = world.requests("/2/tweets")
    assert second["at"] - first["at"] >= 2.0  # the reset (whole seconds), not the 1 s retry_delay
    assert world.stop(proc)[0] == 0


def test_auth_error_fails_that_account_at_once_and_the_others_are_sent(world: World) -> None:
    world.sandbox.add_faults([Fault(path="/feed$", method="POST", error="auth", times=0)])
    post = world.queue("twitter", "facebook", "vk")
    done = world.daemon("--once")
    _, err = done.communicate(timeout=30)
    assert done.returncode == 1
    result = world.deliveries(post)
    assert {a: d.status for a, d in result.items()} == {"twitter": "sent", "facebook": "failed", "vk": "sent"}
    assert result["facebook"].attempts == 1
    assert "EAAsandboxpagetoken" not in err + (result["facebook"].error or "")


def test_connection_dropped_after_the_post_was_made_ends_sent_with_one_post(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS.path, method="POST", drop="after", times=1)])
    post = world.queue("twitter")
    done = world.daemon("--once")
    done.communicate(timeout=30)
    assert done.returncode == 0
    tw = world.deliveries(post)["twitter"]
    assert (tw.status, tw.attempts) == ("sent", 1)
    assert len(world.posts("twitter")) == 1 and tw.remote_id == world.posts("twitter")[0]["id"]


def test_daemon_killed_during_a_request_and_restarted_leaves_exactly_one_post(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS.path, method="POST", delay=2.0, times=1)])
    post = world.queue("twitter")
    first = world.daemon()
    world.wait(post, lambda d: d["twitter"].status == "sending")
    time.sleep(0.5)  # the request is in the sandbox now
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = world.daemon()  # takes over at once: the holder's pid is gone
    tw = world.wait(post, all_final, timeout=25)["twitter"]
    assert tw.status == "sent"
    assert len(world.posts("twitter")) == 1
    assert tw.attempts == 1  # the lost try counts; the look-up found it, nothing was resent
    assert [a.outcome for a in world.post_history(post)] == ["interrupted", "found"]
    assert world.stop(second)[0] == 0


def test_overdue_is_missed_and_cancelled_is_never_sent(world: World) -> None:
    # `queue` refuses a past time: a post goes overdue while no daemon runs. Stored directly to save the wait.
    store = SqlStore(f"sqlite:///{world.tmp / 'crosspost.db'}", world.tmp / "media")
    then = datetime.now(UTC) - timedelta(minutes=2)
    late = store.queue_post(
        title="late", source="late.md", drafts=[Draft("vk", "vk", ("Yesterday's news",))], due_at=then, now=then
    )
    store.close()
    soon = world.queue("vk", at=datetime.now(UTC) + timedelta(seconds=1))
    assert world.cli("cancel", str(soon)).returncode == 0
    time.sleep(1.2)
    done = world.daemon("--once")
    done.communicate(timeout=30)
    assert done.returncode == 1
    assert world.deliveries(late)["vk"].status == "missed"
    assert world.deliveries(soon)["vk"].status == "cancelled"
    assert world.posts("vk") == [] and world.requests("/method/wall.post") == []


def test_posts_queued_while_running_go_out_on_time_and_a_second_daemon_refuses(world: World) -> None:
    proc = world.daemon()
    time.sleep(1.0)
    second = world.cli("daemon", "--once")
    assert second.returncode == 1
    assert "another crosspost daemon (pid" in second.stderr and "stop it first" in second.stderr
    # Queued by this process (the store, as `queue` does) while the daemon runs; `queue`'s own start-up would
    # blur the due times.
    due = [datetime.now(UTC) + timedelta(seconds=1.5 + 0.7 * i) for i in range(3)]
    store = SqlStore(f"sqlite:///{world.tmp / 'crosspost.db'}", world.tmp / "media")
    now = datetime.now(UTC)
    drafts = [[Draft("twitter", "twitter", (f"On time {i} {time.time()}",))] for i in range(3)]
    posts = [
        store.queue_post(title="t", source="t.md", drafts=d, due_at=at, now=now)
        for d, at in zip(drafts, due, strict=True)
    ]
    store.close()
    for post in posts:
        world.wait(post, all_final)
    starts = sorted(r["at"] for r in world.requests("/2/tweets"))
    lags = [start - at.timestamp() for start, at in zip(starts, due, strict=True)]
    assert all(0 <= lag < 1.0 for lag in lags), lags
    assert world.stop(proc)[0] == 0
    assert os.path.exists(world.config)


def test_a_look_up_refused_by_a_503_is_reconciled_later_and_the_post_stays_single(world: World) -> None:
    # The post is made and the answer lost; the first look-up meets a 503: nothing settled, so the
    # delivery waits, "reconciling", and its next claim looks up again (and finds it) before any resend.
    world.sandbox.add_faults(
        [
            Fault(path=TWEETS.path, method="POST", drop="after", times=1),
            Fault(path=r"^/2/users/[^/]+/tweets$", method="GET", status=503, body="busy", times=1),
        ]
    )
    post = world.queue("twitter")
    proc = world.daemon()
    tw = world.wait(post, all_final, timeout=30)["twitter"]
    assert world.stop(proc)[0] == 0
    assert (tw.status, tw.attempts) == ("sent", 1)
    assert len(world.posts("twitter")) == 1 and tw.remote_id == world.posts("twitter")[0]["id"]
    history = [(a.outcome, a.error) for a in world.post_history(post)]
    assert [outcome for outcome, _ in history] == ["ambiguous", "lookup_failed", "found"]
    assert len(world.requests("/2/tweets")) == 1


def test_a_take_over_waits_until_the_dead_daemons_request_can_no_longer_land(world: World) -> None:
    # The platform holds the request 8 s (a slow proxy): longer than the lease, so a take-over at the
    # moment the lease lapses would look, find nothing, and publish a second copy when the first lands.
    world.sandbox.add_faults([Fault(path=TWEETS.path, method="POST", delay=8.0, times=1)])
    post = world.queue("twitter")
    first = world.daemon()
    world.wait(post, lambda d: d["twitter"].status == "sending")
    deadline = time.monotonic() + 10
    while not world.sandbox.faults[0].used and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = world.daemon()  # takes the slot at once (the pid is gone), the delivery only later
    tw = world.wait(post, all_final, timeout=40)["twitter"]
    assert world.stop(second)[0] == 0
    assert tw.status == "sent"
    assert len(world.posts("twitter")) == 1 and tw.remote_id == world.posts("twitter")[0]["id"]
    assert [a.outcome for a in world.post_history(post)] == ["interrupted", "found"]
