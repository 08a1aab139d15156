"""Notices through the real ``crosspost daemon --once`` process (issue 13): faults injected through the
sandbox, notices received by a real SMTP server and a real webhook on 127.0.0.1, and the reliability
harness's secrets scan run over everything crosspost wrote and everything the receivers got.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from notify_receivers import SMTP_PASSWORD, Hook, hook_url, mail_url, smtp_server, webhook
from sqlalchemy import update

from benchmarks.reliability.common import Output, World, needles_for, search
from crosspost.store.tables import deliveries


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook() as h:
        yield h


def with_notify(world: World, urls: list[str], on: list[str] | None = None) -> None:
    extra = f"\n[notify]\nurls = {json.dumps(urls)}\n" + (f"on = {json.dumps(on)}\n" if on else "")
    world.config.write_text(world.config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    world.env["SMTP_PASSWORD"] = SMTP_PASSWORD


def clean(world: World, *received: str) -> None:
    world.outputs += [Output(f"received {i}", text.encode()) for i, text in enumerate(received)]
    assert world.scan() == []
    assert search("\n".join(received).encode(), needles_for([SMTP_PASSWORD], [])) == []


def test_an_x_403_and_a_vk_auth_error_give_exactly_one_notice(hook: Hook) -> None:
    with World(name="notify", main={"late_limit": "1h"}) as world, smtp_server() as (port, box):
        with_notify(world, [mail_url(port), hook_url(hook)])
        world.fault(path="^/2/tweets$", method="POST", error="permission")
        world.fault(path=r"^/method/wall\.post$", error="auth")
        post = world.queue_cli(
            world.write_post("The statement.", title="The Ambassador's statement"),
            "--at",
            "now",
            "--to",
            "twitter",
            "--to",
            "vk",
        )
        done = world.cli("daemon", "--once")
        assert done.returncode == 1
        subject = f'crosspost: FAILED twitter, vk · post {post} "The Ambassador\'s statement"'
        assert [b["title"] for b in hook.bodies] == [subject]
        assert [m.subject for m in box.mails] == [subject]
        assert b"event=notice" in done.stderr and b"targets=2" in done.stderr
        # Run again: nothing new happened, nothing is sent again (the outbox says it went out).
        assert world.cli("daemon", "--once").returncode == 0
        assert len(hook.bodies) == 1 and len(box.mails) == 1
        records = world.log_json()
        assert {r["account"]: r["notice"]["state"] for r in records} == {"twitter": "sent", "vk": "sent"}
        clean(world, *hook.raw, *(m.raw for m in box.mails))


def test_a_daemon_back_after_hours_says_how_long_and_what_it_found_overdue(hook: Hook) -> None:
    with World(name="notify-down", main={"late_limit": "1h"}) as world:
        with_notify(world, [hook_url(hook)], on=["daemon", "missed"])
        now = datetime.now(UTC)
        late = world.queue_cli(world.write_post("Late.", title="Late but in time"), "--at", "now", "--to", "vk")
        stale = world.queue_cli(world.write_post("Stale.", title="Yesterday's news"), "--at", "now", "--to", "vk")
        with world.store() as store:  # a daemon that last beat three hours ago, then was gone
            # queue refuses past times: the two are made overdue as the stopped daemon left them.
            with store.engine.begin() as conn:
                for post_id, ago in ((late, timedelta(minutes=30)), (stale, timedelta(hours=2))):
                    conn.execute(update(deliveries).where(deliveries.c.post_id == post_id).values(due_at=now - ago))
            assert store.acquire_daemon(owner="pid 1 on host gone", now=now - timedelta(hours=3), stale_after=0)
            store.release_daemon(owner="pid 1 on host gone")
        done = world.cli("daemon", "--once")
        assert done.returncode == 1  # the stale one is missed
        titles = sorted(b["title"] for b in hook.bodies)
        assert titles == [
            f'crosspost: MISSED vk · post {stale} "Yesterday\'s news"',
            "crosspost: daemon was DOWN 3 h · 2 overdue",
        ]
        down = next(b for b in hook.bodies if "DOWN" in b["title"])
        assert down["type"] == "warning"
        text = down["message"]
        assert "after being down for 3 h (the last heartbeat of a daemon on this database: " in text
        assert "It found 2 deliveries overdue. Those late by up to 1 h (late_limit) go out now" in text
        assert f'  post {stale} "Yesterday\'s news" to vk: due ' in text and ", 2 h late" in text
        assert f'  post {late} "Late but in time" to vk: due ' in text and ", 30 min late" in text
        clean(world, *hook.raw)


def test_a_short_gap_is_no_news(hook: Hook) -> None:
    with World(name="notify-restart", main={"late_limit": "1h"}) as world:
        with_notify(world, [hook_url(hook)], on=["daemon"])
        with world.store() as store:
            now = datetime.now(UTC)
            assert store.acquire_daemon(owner="pid 1 on host gone", now=now - timedelta(seconds=30), stale_after=0)
            store.release_daemon(owner="pid 1 on host gone")
        assert world.cli("daemon", "--once").returncode == 0
        assert hook.bodies == []


def test_a_hanging_notify_target_never_holds_a_delivery_back(hook: Hook) -> None:
    with World(name="notify-hang", main={"late_limit": "1h"}) as world:
        with_notify(world, [hook_url(hook)])
        hook.open.clear()  # the webhook takes every request and answers nothing, until the end of the test
        world.fault(path=r"^/method/wall\.post$", error="auth")
        world.queue_cli(world.write_post("Fails."), "--at", "now", "--to", "vk")
        proc = world.daemon()
        assert hook.arrived.wait(60), "the notice never reached the webhook"
        # The sender is stuck on that request; a new post still goes out.
        second = world.queue_cli(world.write_post("Goes out."), "--at", "now", "--to", "vk")
        deadline = 200
        while deadline and world.show_json(second)["deliveries"][0]["status"] != "sent":
            deadline -= 1
            time.sleep(0.1)
        assert world.show_json(second)["deliveries"][0]["status"] == "sent"
        assert hook.bodies == []
        hook.open.set()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert [b["title"] for b in hook.bodies] == ['crosspost: FAILED vk · post 1 "post 1"']


def test_a_delivery_out_of_tries_gives_one_notice_not_one_per_try(hook: Hook) -> None:
    with World(name="notify-tries", main={"late_limit": "1h", "max_attempts": 3}) as world:
        with_notify(world, [hook_url(hook)])
        world.fault(path=r"^/method/wall\.post$", error="server", times=0)
        post = world.queue_cli(world.write_post("Server trouble."), "--at", "now", "--to", "vk")
        runs = world.settle()
        assert len(runs) >= 3  # each try in its own daemon run
        [vk] = world.log_json()
        assert (vk["status"], vk["attempts"]) == ("failed", 3)
        assert [b["title"] for b in hook.bodies] == [f'crosspost: FAILED vk · post {post} "post 1"']
        assert (
            f"  Reason: {vk['error']}\n  Public: no\n  Do: `crosspost retry {post} --account vk`\n"
            in (hook.bodies[0]["message"])
        )
        assert vk["error"].startswith("gave up after 3 tries: ")
        clean(world, *hook.raw)


def test_an_x_post_that_may_be_public_says_where_to_look_and_how_to_settle_it(hook: Hook) -> None:
    with World(name="notify-unknown", main={"late_limit": "1h"}) as world:
        with_notify(world, [hook_url(hook)])
        world.fault(path="^/2/tweets$", method="POST", drop="after")  # X made the post; the answer is lost
        world.fault(path=r"^/2/users/\d+/tweets$", method="GET", error="permission", times=0)  # no look-ups
        post = world.queue_cli(world.write_post("Maybe public."), "--at", "now", "--to", "twitter")
        assert world.cli("daemon", "--once").returncode == 1
        [tw] = world.log_json()
        assert tw["status"] == "unknown"
        resolve = f"crosspost resolve {post} --account twitter"
        assert [b["message"] for b in hook.bodies] == [
            "\n".join(
                [
                    f'Post {post} "post 1"',
                    "",
                    "twitter (twitter): unknown",
                    f"  Reason: {tw['error']}",
                    "  Public: it may be public: check https://x.com (the account's own timeline)",
                    f"  Do: look, then `{resolve} --sent URL` if it is there or `{resolve} --not-sent` if not; "
                    f"or `crosspost retry {post} --account twitter` to have crosspost look it up again",
                    "",
                    f"Details: crosspost show {post}",
                ]
            )
        ]
        assert hook.bodies[0]["title"] == f'crosspost: UNKNOWN twitter · post {post} "post 1"'
        clean(world, *hook.raw)
