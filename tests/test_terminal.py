"""People's terminals: `list` and `log` on a real pseudo-terminal (pty), against piped output.

Each command runs as a fresh process whose stdout is a pty of a given size (TIOCSWINSZ), as a
person's terminal is, so the CLI's own terminal detection is what is tested. The pager is a small
script that records what it was given, so paging is proven without a person pressing q.
"""

from __future__ import annotations

import json
import os
import pty
import select
import struct
import sys
import termios
from datetime import UTC, datetime, timedelta
from fcntl import ioctl
from pathlib import Path

import pytest
import test_cli
from daemon_world import crosspost_argv
from test_cli import AGREEMENT, Invoke, queue, store_of

from crosspost import output

folder = test_cli.folder
run = test_cli.run
ANSI_BOLD = "\x1b[1m"


def on_tty(folder: Path, *args: str, columns: int = 80, lines: int = 24, pager: str = "") -> list[str]:
    """Run ``crosspost ARGS`` on a pty of ``columns`` x ``lines``; its output lines (bold marks removed)."""
    env = {
        **os.environ,
        "CROSSPOST_CONFIG": str(folder / "crosspost.toml"),
        "PAGER": pager,
        "TERM": "xterm",
    }
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.pop("CROSSPOST_PAGER", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: fd 1 is the pty (sys.stdout may be pytest's capture)
        try:
            ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
            os.chdir(folder)
            os.execve(sys.executable, crosspost_argv(*args), env)
        finally:
            os._exit(127)
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    text = out.decode().replace("\r\n", "\n").replace(ANSI_BOLD, "").replace("\x1b[0m", "")
    return text.rstrip("\n").split("\n")


def _long_outcomes(folder: Path, n: int) -> None:
    """Post 1 (queued by the caller): every delivery failed with a long reason, and ``n`` more posts."""
    store = store_of(folder)
    try:
        now = datetime.now(UTC) + timedelta(seconds=1)
        for claim in store.claim_due(now=now, owner="test", lease_seconds=60):
            reason = "the platform refused the request because " + "the token has expired and " * 6 + "🎉 日本語"
            assert store.mark_failed(claim.delivery_id, error=reason, now=now, fence=claim.fence)
    finally:
        store.close()


def test_log_fits_an_80_column_terminal_and_the_pipe_gets_everything(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now")
    _long_outcomes(folder, 0)
    lines = on_tty(folder, "log")
    assert len(lines) == 4  # the header and three rows, none wrapped
    for line in lines:
        assert output._width(line) <= 80, line
    assert all(line.rstrip().endswith("…") for line in lines[1:])
    piped = run("log").stdout.splitlines()
    assert all("🎉 日本語" in line for line in piped[1:])  # a pipe: complete rows
    wide = on_tty(folder, "log", "--wide")
    assert all("🎉 日本語" in line for line in wide[1:])


def test_a_wide_title_lines_up_by_display_width(run: Invoke, folder: Path) -> None:
    post = folder / "posts" / "wide.md"
    post.write_text('+++\ntitle = "日本語のタイトル 🎉"\n+++\nHello.\n', encoding="utf-8")
    queue(run, str(post.relative_to(folder)), "--at", "+1h", "--to", "vk")
    queue(run, AGREEMENT, "--at", "+2h", "--to", "vk")
    lines = on_tty(folder, "list")[:3]
    # The STATUS column starts at the same cell on every row, whatever the title's characters.
    starts = [output._width(line[: line.index("queued" if i else "STATUS")]) for i, line in enumerate(lines)]
    assert len(set(starts)) == 1, lines


def test_tables_on_a_terminal_show_relative_times_and_json_absolute_ones(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+3h", "--to", "vk")
    [_, row] = on_tty(folder, "list")[:2]
    assert "in 2 h" in row or "in 3 h" in row  # cut, not rounded: a second has passed
    [_, logged] = on_tty(folder, "log")
    assert "in 2 h" in logged or "in 3 h" in logged
    [post] = json.loads(run("list", "--json").stdout)
    assert post["due_at"].endswith("+09:00")
    assert "in " not in run("list").stdout.splitlines()[1]  # a pipe: absolute times


def test_relative_times_read_as_people_say_them() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    cases = {
        timedelta(seconds=3): "now",
        timedelta(seconds=40): "in 40 s",
        timedelta(minutes=-25): "25 min ago",
        timedelta(hours=3, minutes=59): "in 3 h",
        timedelta(days=-2, hours=-1): "2 d ago",
        timedelta(days=-90): "2026-09-02",
    }
    for delta, shown in cases.items():
        assert output.ago(now + delta, now, UTC) == shown
    assert output.ago(None, now, UTC) == "-"


def test_a_long_log_on_a_terminal_is_cut_with_a_line_saying_how_to_see_the_rest(run: Invoke, folder: Path) -> None:
    for n in range(70):  # 70 posts x 3 accounts = 210 deliveries, over the terminal's default of 200
        queue(run, AGREEMENT, "--at", f"+{n + 1}h", "--again")
    lines = on_tty(folder, "log", lines=500)
    assert len(lines) == 1 + 200 + 1
    assert lines[-1] == "10 more: --limit 0 for all"
    assert len(on_tty(folder, "log", "--limit", "0", lines=500)) == 1 + 210
    assert len(run("log").stdout.splitlines()) == 1 + 210  # a pipe: every row
    listed = on_tty(folder, "list", "--limit", "5", lines=500)
    assert listed[-2:] == ["65 more: --limit 0 for all", listed[-1]] and listed[-1].startswith("daemon: ")


def test_output_taller_than_the_screen_goes_through_the_pager(run: Invoke, folder: Path) -> None:
    for n in range(30):
        queue(run, AGREEMENT, "--at", f"+{n + 1}h", "--again", "--to", "vk")
    pager = folder / "pager.sh"
    pager.write_text(f'#!/bin/sh\necho "LESS=$LESS" > {folder}/paged.txt\ncat >> {folder}/paged.txt\n')
    pager.chmod(0o755)
    on_tty(folder, "log", lines=24, pager=str(pager))
    paged = (folder / "paged.txt").read_text().splitlines()
    assert paged[0] == "LESS=FRX"  # as git sets it
    assert len(paged) == 1 + 1 + 30
    (folder / "paged.txt").unlink()
    short = on_tty(folder, "log", "--limit", "3", lines=24, pager=str(pager))
    assert len(short) == 5 and not (folder / "paged.txt").exists()  # one screen: printed, not paged
    assert short[-1] == "27 more: --limit 0 for all"  # --limit N is cut with the same line as the default


@pytest.mark.parametrize("pager", ["", "cat"])
def test_an_empty_pager_or_cat_prints_directly(run: Invoke, folder: Path, pager: str) -> None:
    for n in range(30):
        queue(run, AGREEMENT, "--at", f"+{n + 1}h", "--again", "--to", "vk")
    assert len(on_tty(folder, "log", lines=10, pager=pager)) == 31


def test_the_default_pager_is_less_as_git_runs_it() -> None:
    from crosspost.terminal import DEFAULT_PAGER, Terminal

    assert DEFAULT_PAGER == "less -FRX"
    assert Terminal.detect({}, isatty=True).pager == "less -FRX"
    assert Terminal.detect({"PAGER": "most"}, isatty=True).pager == "most"
    assert Terminal.detect({"PAGER": "most", "CROSSPOST_PAGER": ""}, isatty=True).pager is None
    assert Terminal.detect({}, isatty=False) == Terminal()


def test_a_piped_log_is_streamed_in_chunks_whose_columns_only_widen() -> None:
    rows = iter([["1", "a"], ["2", "bb"], ["3", "cccc"], ["4", "d"]])
    lines = list(output.streamed_table(["N", "X"], rows, chunk=2))
    assert lines == ["N  X", "1  a", "2  bb", "3  cccc", "4  d"]
    wide = list(output.streamed_table(["N", "X"], iter([["10", "日本"], ["2", "b"]]), chunk=1))
    assert wide == ["N   X", "10  日本", "2   b"]


def test_a_piped_json_log_is_the_same_text_as_one_json_array(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    streamed = run("log", "--json").stdout  # a pipe: streamed record by record
    records = json.loads(streamed)
    assert streamed == json.dumps(records, ensure_ascii=False) + "\n"
    assert json.loads(run("log", "--json", "--limit", "3").stdout) == records


def test_the_databases_first_posts_are_lists_first_posts(run: Invoke, folder: Path) -> None:
    """The terminal's default limit lets the database choose the first posts: the same as list's order."""
    for n, at in enumerate(["+5h", "+1h", "+3h", "now", "now", "+2h", "now"]):
        queue(run, AGREEMENT, "--at", at, "--again", *(["--to", "vk"] if n % 2 else []))
    run("cancel", "3")
    store = store_of(folder)
    try:
        now = datetime.now(UTC) + timedelta(seconds=1)
        for i, claim in enumerate(store.claim_due(now=now, owner="test", lease_seconds=60)):
            if i % 2:
                assert store.mark_sent(claim.delivery_id, remote_id=str(i), url=f"https://e.org/{i}", now=now)
            elif i % 3:
                assert store.mark_failed(claim.delivery_id, error="no", now=now, fence=claim.fence)
            # else: left sending
        everything = store.post_summaries()
        for limit in range(1, len(everything) + 2):
            assert store.post_summaries(limit=limit) == everything[:limit], limit
        assert store.post_count() == len(everything) == 7
    finally:
        store.close()
    listed = on_tty(folder, "list", "--limit", "2", lines=100)
    assert [line.split()[0] for line in listed[1:4]] == [str(everything[0].id), str(everything[1].id), "5"]
    assert listed[3] == "5 more: --limit 0 for all"


def test_json_and_csv_on_a_terminal_keep_the_tables_limit_and_say_the_rest_on_stderr(run: Invoke, folder: Path) -> None:
    """On a terminal --json and --csv are cut as the table is (JSON stays valid: the "N more" line is
    on stderr, which the pty shows after it); a pipe gets every record and no such line."""
    for n in range(4):
        queue(run, AGREEMENT, "--at", f"+{n + 1}h", "--again", "--to", "vk")
    piped = run("list", "--json")
    assert piped.stderr == "" and len(json.loads(piped.stdout)) == 4
    listed = on_tty(folder, "list", "--json", "--limit", "2", lines=500)
    assert listed[-1] == "2 more: --limit 0 for all"
    assert json.loads("\n".join(listed[:-1])) == json.loads(piped.stdout)[:2]
    assert listed[1] == "  {"  # indented for a person
    logged = on_tty(folder, "log", "--json", "--limit", "3", lines=500)
    assert logged[-1] == "1 more: --limit 0 for all"
    assert json.loads("\n".join(logged[:-1])) == json.loads(run("log", "--json").stdout)[:3]
    csv_piped = run("log", "--csv")
    assert csv_piped.stderr == "" and len(csv_piped.stdout.splitlines()) == 1 + 4
    on_screen = on_tty(folder, "log", "--csv", "--limit", "3", lines=500)
    assert on_screen == [*csv_piped.stdout.splitlines()[:4], "1 more: --limit 0 for all"]
    assert len(on_tty(folder, "log", "--csv", lines=500)) == 1 + 4  # under the default limit: all, no line
