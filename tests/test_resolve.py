"""`crosspost resolve`, and public parts that are never hidden (cancel, failure), through the real CLI.

Deliveries are put in the state a test needs through the store's own API (a claim,
then the daemon's own marks), as tests/test_cli.py does. Every account's api_base is
a closed port: a look-up would fail, so a `retry` that requeues proves it looked nothing up.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import test_cli
from test_cli import AGREEMENT, Invoke, error_line, queue, store_of

from crosspost.model import Progress

folder = test_cli.folder  # the fixtures: a folder with a config (closed ports) and the CLI runner
run = test_cli.run
USER = getpass.getuser()


def stuck(folder: Path, account: str, status: str, *, parts: list[str] | None = None) -> int:
    """Claim post 1's delivery to ``account``, record an ambiguous try, and leave it ``status``."""
    store = store_of(folder)
    try:
        now = datetime.now(UTC) + timedelta(seconds=1)
        (claim,) = [c for c in store.claim_due(now=now, owner="test", lease_seconds=60) if c.account == account]
        if parts:
            assert store.save_progress(claim.delivery_id, Progress(parts=parts), fence=claim.fence)
        store.record_attempt(
            claim.delivery_id, at=now, seconds=5.0, outcome="ambiguous", code=None, error="read timeout", is_try=True
        )
        if status == "retrying":
            assert store.mark_retrying(claim.delivery_id, next_try_at=now, error="503", now=now, fence=claim.fence)
        else:
            assert store.mark_unknown(claim.delivery_id, error="could not settle", now=now, fence=claim.fence)
        return claim.delivery_id
    finally:
        store.close()


def delivery(run: Invoke, account: str) -> dict:  # type: ignore[type-arg]
    post = json.loads(run("show", "1", "--json").stdout)
    return next(d for d in post["deliveries"] if d["account"] == account)  # type: ignore[no-any-return]


def test_resolve_sent_marks_it_sent_with_that_post_and_records_who(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "vk")
    stuck(folder, "vk", "unknown")
    result = run("resolve", "1", "--account", "vk", "--sent", "https://vk.com/wall-123456_77")
    assert result.stdout == f"post 1 vk: sent, checked by {USER}: https://vk.com/wall-123456_77\n"
    vk = delivery(run, "vk")
    assert (vk["status"], vk["remote_id"], vk["url"], vk["error"]) == (
        "sent",
        "-123456_77",
        "https://vk.com/wall-123456_77",
        None,
    )
    last = vk["history"][-1]
    assert (last["outcome"], last["error"]) == ("resolved_sent", f"by {USER}: sent as https://vk.com/wall-123456_77")
    assert last["at"]


def test_resolve_not_sent_makes_retry_resend_without_a_look_up(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "vk")
    stuck(folder, "vk", "unknown")
    # Without a person's word, retry must look up first; on a closed port it cannot, and says what to do.
    result = run("retry", "1", code=1)
    assert result.stdout.startswith("post 1 vk: still unknown: the look-up on VK could not settle it (")
    assert "`crosspost resolve 1 --account vk --sent URL` or `--not-sent`" in result.stdout
    assert "crosspost resolve" in error_line(result)
    assert delivery(run, "vk")["status"] == "unknown"

    assert run("resolve", "1", "--account", "vk", "--not-sent").stdout == (
        f"post 1 vk: failed, checked by {USER}: `crosspost retry` resends it\n"
    )
    vk = delivery(run, "vk")
    assert vk["status"] == "failed" and vk["history"][-1]["outcome"] == "resolved_not_sent"
    assert run("retry", "1").stdout == "post 1 vk: back in the queue, due now\n"  # no look-up this time


def test_resolve_sent_on_a_thread_stopped_half_way_names_the_last_public_part(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "twitter")  # a thread of 4 parts
    delivery_id = stuck(folder, "twitter", "unknown", parts=["100"])
    result = run("resolve", "1", "--account", "twitter", "--sent", "https://x.com/embassy/status/101")
    assert result.stdout == (
        f"post 1 twitter: parts 1-2 of 4 are public on X (first id 100), checked by {USER}: "
        "`crosspost retry` resumes after them\n"
    )
    tw = delivery(run, "twitter")
    assert (tw["status"], tw["remote_id"], tw["url"]) == ("failed", "100", "https://x.com/i/web/status/100")
    assert run("retry", "1").stdout == "post 1 twitter: back in the queue, due now\n"  # no look-up: a person checked
    store = store_of(folder)
    try:
        assert store.draft_of(delivery_id)[1].parts == ["100", "101"]  # the next try replies to part 2
    finally:
        store.close()


def test_resolve_refuses_what_it_cannot_do(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+1h", "--to", "vk")
    assert error_line(run("resolve", "1", "--account", "vk", code=1)) == (
        "crosspost: error: resolve needs exactly one of --sent URL_OR_ID or --not-sent"
    )
    assert error_line(run("resolve", "1", "--account", "vk", "--not-sent", code=1)) == (
        "crosspost: error: post 1 vk is pending; only a failed, unknown, missed or retrying delivery can be resolved"
    )
    assert error_line(run("resolve", "1", "--account", "twitter", "--not-sent", code=1)) == (
        "crosspost: error: post 1 has no delivery to account 'twitter'; its accounts are: vk"
    )
    assert delivery(run, "vk")["history"] == []


def test_cancelling_a_thread_whose_first_part_is_public_keeps_it_on_the_row(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "twitter")
    stuck(folder, "twitter", "retrying", parts=["100"])
    assert run("cancel", "1").stdout == (
        "post 1 twitter: retrying -> cancelled (part 1 of 4 is public on X (first id 100))\n"
    )
    tw = delivery(run, "twitter")
    assert (tw["status"], tw["remote_id"], tw["url"], tw["error"]) == (
        "cancelled",
        "100",
        "https://x.com/i/web/status/100",
        "cancelled; part 1 of 4 is public on X (first id 100)",
    )
