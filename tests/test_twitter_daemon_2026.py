"""X's lasting refusals of 2026 through the real daemon: no try is burnt on them, and the log says why.

The daemon is a subprocess on the real config and store; the sandbox answers as X does (402, the
monthly usage cap, the spent 24-hour posting cap, a refused thread reply).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import test_daemon_e2e
from test_daemon_e2e import World

from crosspost.notify.compose import public_line
from crosspost.notify.outbox import Notice
from crosspost.platforms.twitter.errors import NO_CREDITS
from crosspost.sandbox import Fault

world = test_daemon_e2e.world  # the fixture: a sandbox, a config on it, real CLI and daemon processes
TWEETS = r"^/2/tweets$"
SECRETS = ("sandbox-consumer-secret", "sandbox-access-token-secret", "1000000001-sandboxaccesstoken")


def queue_thread(world: World) -> int:
    path = world.tmp / "posts" / "thread.md"
    paragraphs = [
        f"Paragraph {n} of the statement, long enough to need its own tweet in the thread. " * 3 for n in (1, 2)
    ]
    path.write_text('+++\ntitle = "a thread"\nto = ["twitter"]\n+++\n' + "\n\n".join(paragraphs) + "\n")
    done = world.cli("queue", str(path), "--at", datetime.now(UTC).isoformat())
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def no_secret(*texts: str) -> None:
    for text in texts:
        assert not any(secret in text for secret in SECRETS)


def test_no_credits_fails_after_one_try_with_the_fix(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS, method="POST", error="no_credits", times=0)])
    post = world.queue("twitter")
    done = world.daemon("--once")
    _, err = done.communicate(timeout=30)
    tw = world.deliveries(post)["twitter"]
    assert (tw.status, tw.attempts) == ("failed", 1)
    assert NO_CREDITS in (tw.error or "")
    assert len(world.requests("/2/tweets")) == 1
    no_secret(err, tw.error or "", (world.tmp / "crosspost.db").read_bytes().decode("latin-1"))


def test_the_monthly_usage_cap_fails_after_one_try(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS, method="POST", error="usage_cap", times=0)])
    post = world.queue("twitter")
    world.daemon("--once").communicate(timeout=30)
    tw = world.deliveries(post)["twitter"]
    assert (tw.status, tw.attempts) == ("failed", 1) and "usage cap is used up" in (tw.error or "")
    assert len(world.requests("/2/tweets")) == 1


def test_a_spent_24_hour_cap_puts_the_next_try_after_its_reset(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS, method="POST", error="daily_cap", reset_in=5, times=0)])
    post = world.queue("twitter")
    world.daemon("--once").communicate(timeout=30)
    tw = world.deliveries(post)["twitter"]
    assert (tw.status, tw.attempts) == ("retrying", 1)
    assert tw.next_try_at is not None and tw.next_try_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_refused_reply_fails_the_thread_and_keeps_part_one(world: World) -> None:
    world.sandbox.add_faults([Fault(path=TWEETS, method="POST", error="reply_refused", skip=1, times=0)])
    post = queue_thread(world)
    world.daemon("--once").communicate(timeout=30)
    tw = world.deliveries(post)["twitter"]
    [first] = world.posts("twitter")
    assert (tw.status, tw.attempts) == ("failed", 1)
    assert "the thread stopped" in (tw.error or "") and f"/status/{first['id']}" in (tw.error or "")
    assert "part 1 is already on X and public" in (tw.error or "") and "part 2 of 2 not" in (tw.error or "")
    assert len(world.requests("/2/tweets")) == 2  # part 1, and the refused part 2: nothing more
    # A notice about it says the post is partly public, from the stored reason.
    notice = Notice(
        1,
        "delivery",
        post,
        "a thread",
        "twitter",
        "twitter",
        "failed",
        tw.error,
        None,
        None,
        None,
        None,
        None,
        datetime.now(UTC),
        0,
        frozenset(),
    )
    assert public_line(notice, None) == "partly: see the reason"
