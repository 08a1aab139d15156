"""Finding what needs a person (issue 12), through the CLI.

``--attention`` on ``list`` and ``log``; ``--status`` repeated means any of them; an
``--account`` the config does not have is an error naming the accounts; ``--since``
keeps the past only; ``list`` puts what goes out next on top; a post with an
``unknown`` delivery says so. Deliveries are put in their states through the
store's own API, as a daemon would leave them.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import test_cli as base
from daemon_world import run_crosspost
from test_cli import AGREEMENT, EXHIBITION, RECEPTION, Invoke, error_line, queue, store_of

folder = base.folder  # the fixtures of the CLI tests: a config of three accounts, the example posts
run = base.run


def post_file(folder: Path, name: str) -> str:
    (folder / "posts" / f"{name}.md").write_text(f'+++\ntitle = "{name}"\n+++\nNews: {name}.\n', encoding="utf-8")
    return f"posts/{name}.md"


def settle(folder: Path, post: int, outcomes: dict[str, str]) -> None:
    """Leave each of the post's deliveries (due now) as a daemon would: sent, failed, unknown or missed."""
    store = store_of(folder)
    now = datetime.now(UTC)  # after the queue call's own now: its deliveries are due, and sent in the past
    try:
        for claim in store.claim_due(now=now, owner="test", lease_seconds=60):
            assert claim.post_id == post
            outcome = outcomes[claim.account]
            if outcome == "sent":
                store.mark_sent(claim.delivery_id, remote_id="1", url=f"https://example.org/{claim.account}", now=now)
            elif outcome == "failed":
                store.mark_failed(claim.delivery_id, error="bad token; renew it", now=now)
            elif outcome == "unknown":
                store.mark_unknown(claim.delivery_id, error="a 502 after the request; the look-up cannot tell", now=now)
            else:
                store.mark_missed(claim.delivery_id, error="6 h late", now=now)
    finally:
        store.close()


@pytest.fixture
def mixed(run: Invoke, folder: Path) -> dict[str, int]:
    """Five posts: two waiting, one sent, one partial with an unknown, one failed and missed, one cancelled."""
    later = queue(run, AGREEMENT, "--at", "+2h")
    sooner = queue(run, EXHIBITION, "--at", "+1h")
    sent = queue(run, post_file(folder, "sent"), "--at", "now", "--to", "vk")
    settle(folder, sent, {"vk": "sent"})
    unknown = queue(run, post_file(folder, "unknown"), "--at", "now", "--to", "twitter", "--to", "vk")
    settle(folder, unknown, {"twitter": "unknown", "vk": "sent"})
    failed = queue(run, post_file(folder, "failed"), "--at", "now", "--to", "facebook", "--to", "vk")
    settle(folder, failed, {"facebook": "failed", "vk": "missed"})
    cancelled = queue(run, RECEPTION, "--at", "+3h", "--to", "vk")
    run("cancel", str(cancelled))
    return {
        "later": later,
        "sooner": sooner,
        "sent": sent,
        "unknown": unknown,
        "failed": failed,
        "cancelled": cancelled,
    }


def log_rows(run: Invoke, *args: str) -> set[tuple[int, str, str]]:
    return {(r["post_id"], r["account"], r["status"]) for r in json.loads(run("log", "--json", *args).stdout)}


def list_ids(run: Invoke, *args: str) -> list[int]:
    return [p["id"] for p in json.loads(run("list", "--json", *args).stdout)]


def test_log_attention_is_failed_unknown_and_missed(run: Invoke, mixed: dict[str, int]) -> None:
    assert log_rows(run, "--attention") == {
        (mixed["unknown"], "twitter", "unknown"),
        (mixed["failed"], "facebook", "failed"),
        (mixed["failed"], "vk", "missed"),
    }
    text = run("log", "--attention").stdout.splitlines()
    assert len(text) == 4 and text[0].split()[:2] == ["POST", "TITLE"]


def test_log_status_repeated_is_any_of_them(run: Invoke, mixed: dict[str, int]) -> None:
    assert log_rows(run, "--status", "sent", "--status", "missed") == {
        (mixed["sent"], "vk", "sent"),
        (mixed["unknown"], "vk", "sent"),
        (mixed["failed"], "vk", "missed"),
    }
    both = log_rows(run, "--status", "cancelled", "--attention")
    assert both == log_rows(run, "--attention") | {(mixed["cancelled"], "vk", "cancelled")}


def test_list_attention_is_the_posts_with_such_a_delivery(run: Invoke, mixed: dict[str, int]) -> None:
    assert sorted(list_ids(run, "--attention")) == sorted([mixed["unknown"], mixed["failed"]])
    assert list_ids(run, "--status", "sent", "--status", "cancelled") == [mixed["cancelled"], mixed["sent"]]
    assert list_ids(run, "--status", "unknown") == [mixed["unknown"]]  # a delivery status finds its posts


def test_list_puts_waiting_posts_soonest_first_then_the_rest_newest_first(run: Invoke, mixed: dict[str, int]) -> None:
    ids = list_ids(run)
    assert ids[:2] == [mixed["sooner"], mixed["later"]]
    # The rest by due time, newest first: the cancelled one was due in 3 h; the others were due now, in
    # the order they were queued (an equal time keeps the newer post first).
    assert ids[2:] == [mixed["cancelled"], mixed["failed"], mixed["unknown"], mixed["sent"]]
    table = [line.split()[0] for line in run("list").stdout.splitlines()[1:-1]]
    assert table == [str(i) for i in ids]


def test_a_post_with_an_unknown_delivery_says_so(run: Invoke, mixed: dict[str, int]) -> None:
    rows = {line.split()[0]: line for line in run("list").stdout.splitlines()[1:-1]}
    assert "  partial (1 unknown)  " in rows[str(mixed["unknown"])]
    assert "  failed (1 missed)  " in rows[str(mixed["failed"])]  # the word says failed, not why
    assert "  sent  " in rows[str(mixed["sent"])]
    posts = {p["id"]: p for p in json.loads(run("list", "--json").stdout)}
    assert (posts[mixed["unknown"]]["status"], posts[mixed["unknown"]]["attention"]) == ("partial", {"unknown": 1})
    assert posts[mixed["failed"]]["attention"] == {"failed": 1, "missed": 1}
    assert posts[mixed["sent"]]["attention"] == {}
    shown = json.loads(run("show", str(mixed["unknown"]), "--json").stdout)
    assert shown["attention"] == {"unknown": 1}


def test_an_account_not_in_the_config_is_an_error_naming_the_accounts(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    result = run("log", "--account", "vkontakte", code=1)
    assert result.stdout == ""
    assert result.stderr == (
        f"crosspost: error: --account vkontakte: no such account in {folder / 'crosspost.toml'}; "
        "the accounts are: twitter, facebook, vk\n"
    )
    run("cancel", "1")
    assert run("log", "--account", "vk", "--status", "sent").stdout == "no deliveries match\n"


def test_since_keeps_the_past_only(run: Invoke, mixed: dict[str, int]) -> None:
    recent = log_rows(run, "--since", "1h")
    assert {post for post, _, _ in recent} == {mixed["sent"], mixed["unknown"], mixed["failed"]}
    assert not {mixed["later"], mixed["sooner"], mixed["cancelled"]} & {post for post, _, _ in recent}
    result = run("log", "--since", "+1h", code=1)
    assert error_line(result).startswith("crosspost: error: --since +1h: ")
    assert error_line(result).endswith(" is in the future; --since keeps rows between then and now")


def test_list_with_nothing_matching(run: Invoke, mixed: dict[str, int]) -> None:
    run_ = run("list", "--status", "sending", "--status", "retrying")
    assert run_.stdout.splitlines()[0] == "no posts with status sending or retrying"


def test_the_real_program_exits_1_for_an_unknown_account_and_2_for_a_bad_status(folder: Path) -> None:
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml")}

    def crosspost(*args: str) -> subprocess.CompletedProcess[str]:
        return run_crosspost(*args, cwd=folder, env=env)

    assert crosspost("queue", AGREEMENT, "--at", "+1h").returncode == 0
    done = crosspost("log", "--account", "nobody")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"crosspost: error: --account nobody: no such account in {folder / 'crosspost.toml'}; "
        "the accounts are: twitter, facebook, vk"
    ]
    done = crosspost("log", "--status", "sent", "--status", "lost")
    assert done.returncode == 2 and "Usage: crosspost log" in done.stderr
    done = crosspost("reschedule", "1", "--by", "-30m")  # a negative delay after --by is its value, not an option
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("due ") and done.stdout.count("-> pending") == 3


def test_the_cli_and_the_output_agree_on_what_needs_a_person() -> None:
    from crosspost import cli, output

    assert cli.ATTENTION == output.ATTENTION == ("failed", "unknown", "missed")


def test_list_attention_finds_a_failed_delivery_of_a_partial_post(run: Invoke, folder: Path) -> None:
    """A post sent on one account and failed on another is "partial": the failed one still needs a
    person (CONTRACT.md: posts with a delivery that needs a person), while --status failed is the
    overall status."""
    partial = queue(run, post_file(folder, "partial"), "--at", "now", "--to", "twitter", "--to", "vk")
    settle(folder, partial, {"twitter": "sent", "vk": "failed"})
    sent = queue(run, post_file(folder, "sent"), "--at", "now", "--to", "vk")
    settle(folder, sent, {"vk": "sent"})
    assert list_ids(run, "--attention") == [partial]
    [row] = [line for line in run("list", "--attention").stdout.splitlines() if line.startswith(f"{partial} ")]
    assert "  partial (1 failed)  " in row
    assert list_ids(run, "--status", "failed") == []
    assert list_ids(run, "--status", "failed", "--attention") == [partial]
    assert run("list", "--status", "failed").stdout.splitlines()[0] == "no posts with status failed"
    run("retry", str(partial))  # back in the queue: nothing needs a person now
    assert run("list", "--attention").stdout.splitlines()[0] == "no posts with a delivery that needs a person"
