"""Times people mean (issue 12) and DST gaps and folds (issue 8, 5b), through the CLI.

A naive time the config timezone skips or has twice is refused with both readings;
``queue`` refuses a past time and the same file twice, and says when the post goes
out; ``reschedule --by`` shifts each delivery from its own due time; natural times
are taken only when dateparser reads them one way. Pure functions get a fixed
``now``; commands run against the real clock, so their assertions never depend on
how long a command takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import test_cli as base
from daemon_world import crosspost_argv
from test_cli import AGREEMENT, CONFIG, EXHIBITION, Invoke, error_line, queue, store_of

from crosspost.errors import TimeFormatError
from crosspost.naturaltime import parse_natural
from crosspost.timeutil import due_line, parse_when, relative

folder = base.folder  # the fixtures of the CLI tests: a config of three accounts, the example posts
run = base.run

NEW_YORK = ZoneInfo("America/New_York")
PYONGYANG = ZoneInfo("Asia/Pyongyang")
GAP = "2027-03-14 02:30 does not exist in America/New_York: clocks jump from 02:00 to 03:00; write 01:30 or 03:30"
FOLD = (
    "2027-11-07 01:30 exists twice in America/New_York: clocks go back from 02:00 to 01:00; write "
    "2027-11-07T01:30-04:00 for the first (EDT, before the change) or 2027-11-07T01:30-05:00 for the second "
    "(EST, after it)"
)


@pytest.fixture
def new_york(folder: Path) -> Path:
    (folder / "crosspost.toml").write_text(CONFIG.replace("Asia/Pyongyang", "America/New_York"), encoding="utf-8")
    return folder


def post_file(folder: Path, name: str, front: str, body: str = "Hello.") -> str:
    (folder / "posts" / name).write_text(f"+++\n{front}+++\n{body}\n", encoding="utf-8")
    return f"posts/{name}"


# ---------------------------------------------------------------- DST gaps and folds


def test_a_time_in_a_dst_gap_is_refused_by_queue_with_both_readings(run: Invoke, new_york: Path) -> None:
    result = run("queue", AGREEMENT, "--at", "2027-03-14 02:30", code=1)
    assert result.stdout == ""
    assert result.stderr == f"crosspost: error: {GAP}\n"
    assert not (new_york / "crosspost.db").exists()


def test_a_time_in_a_dst_fold_is_refused_and_each_written_offset_is_taken(run: Invoke, new_york: Path) -> None:
    result = run("queue", AGREEMENT, "--at", "2027-11-07 01:30", code=1)
    assert result.stderr == f"crosspost: error: {FOLD}\n"
    first = queue(run, AGREEMENT, "--at", "2027-11-07T01:30-04:00")
    second = queue(run, EXHIBITION, "--at", "2027-11-07T01:30-05:00")
    due = {p["id"]: p["due_at"] for p in json.loads(run("list", "--json").stdout)}
    assert (due[first], due[second]) == ("2027-11-07T01:30:00-04:00", "2027-11-07T01:30:00-05:00")
    assert datetime.fromisoformat(due[second]) - datetime.fromisoformat(due[first]) == timedelta(hours=1)


def test_times_beside_a_dst_change_are_taken(run: Invoke, new_york: Path) -> None:
    post = queue(run, AGREEMENT, "--at", "2027-03-14 03:30")
    assert json.loads(run("show", str(post), "--json").stdout)["due_at"] == "2027-03-14T03:30:00-04:00"


@pytest.mark.parametrize(
    ("front", "line"),
    [
        ('title = "Gap"\npublish_at = 2027-03-14T02:30:00\n', 3),  # a TOML local date-time
        ('title = "Gap"\nto = ["vk"]\n\npublish_at = "2027-03-14 02:30"\n', 5),  # a WHEN string
    ],
)
def test_a_post_file_time_in_a_gap_is_refused_at_its_line(run: Invoke, new_york: Path, front: str, line: int) -> None:
    name = post_file(new_york, "gap.md", front)
    result = run("validate", name, code=1)
    assert result.stderr.splitlines() == [
        f"{name}:{line}: publish_at: {GAP}",
        "crosspost: error: 1 of 1 file had problems",
    ]


def test_a_post_file_time_in_a_fold_is_refused_at_its_line(run: Invoke, new_york: Path) -> None:
    name = post_file(new_york, "fold.md", "publish_at = 2027-11-07T01:30:00\n")
    result = run("queue", name, code=1)
    assert result.stderr.splitlines()[0] == f"{name}:2: publish_at: {FOLD}"
    assert not (new_york / "crosspost.db").exists()


def test_reschedule_refuses_a_time_in_a_gap(run: Invoke, new_york: Path) -> None:
    post = queue(run, AGREEMENT, "--at", "2030-01-02 10:00")
    result = run("reschedule", str(post), "2027-03-14 02:30", code=1)
    assert error_line(result) == f"crosspost: error: {GAP}"
    assert json.loads(run("show", str(post), "--json").stdout)["due_at"] == "2030-01-02T10:00:00-05:00"


def test_log_since_a_time_in_a_gap_is_refused_with_both_readings(run: Invoke, new_york: Path) -> None:
    assert run("log", "--since", "2027-03-14 02:30", code=1).stderr == f"crosspost: error: {GAP}\n"


def test_a_gap_of_half_an_hour_and_a_gap_at_midnight_name_their_own_readings() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(TimeFormatError) as lord_howe:
        parse_when("2026-10-04 02:15", ZoneInfo("Australia/Lord_Howe"), now)
    assert str(lord_howe.value) == (
        "2026-10-04 02:15 does not exist in Australia/Lord_Howe: clocks jump from 02:00 to 02:30; write 01:45 or 02:45"
    )
    with pytest.raises(TimeFormatError) as havana:  # Cuba moves its clocks at midnight
        parse_when("2026-03-08 00:30", ZoneInfo("America/Havana"), now)
    assert str(havana.value) == (
        "2026-03-08 00:30 does not exist in America/Havana: clocks jump from 00:00 to 01:00; "
        "write 2026-03-07 23:30 or 01:30"
    )


# ---------------------------------------------------------------- the due line


def test_due_line_names_the_day_the_zone_and_the_distance() -> None:
    now = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    due = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert due_line(due, PYONGYANG, now) == "due Thu 3 Dec 2026 10:00 KST (+09:00), in 1 day 4 h"
    assert due_line(now, ZoneInfo("Asia/Dubai"), now) == "due Wed 2 Dec 2026 01:00 (+04:00), now"
    assert (
        due_line(now + timedelta(minutes=90), NEW_YORK, now) == "due Tue 1 Dec 2026 17:30 EST (-05:00), in 1 h 30 min"
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "now"), (45, "in 45 s"), (-600, "10 min ago"), (7260, "in 2 h 1 min"), (3 * 86400 + 59, "in 3 days")],
)
def test_relative_times(seconds: int, words: str) -> None:
    assert relative(timedelta(seconds=seconds)) == words


def test_queue_prints_the_id_on_stdout_and_when_it_goes_out_on_stderr(run: Invoke) -> None:
    result = run("queue", AGREEMENT, "--at", "2030-01-02 10:00")
    assert result.stdout == "1\n"
    assert result.stderr.startswith("due Wed 2 Jan 2030 10:00 KST (+09:00), in ")
    assert len(result.stderr.splitlines()) == 1
    assert run("queue", EXHIBITION, "--at", "now").stderr.endswith(", now\n")


def test_queue_takes_a_time_a_few_seconds_ago_as_now(run: Invoke) -> None:
    just_now = (datetime.now(UTC) - timedelta(seconds=20)).isoformat()
    queue(run, AGREEMENT, "--at", just_now)  # typing takes a moment: within a minute is not "the past"


def test_queue_refuses_a_time_over_a_minute_ago_even_from_the_file(run: Invoke, folder: Path) -> None:
    name = post_file(folder, "old.md", "publish_at = 2020-05-01T10:00:00\n")
    result = run("queue", name, code=1)
    assert error_line(result).startswith(f"crosspost: error: {name}: the publish time 2020-05-01 10:00:00+09:00 is")
    assert "write a later time, or --at now to send it at once" in error_line(result)
    assert not (folder / "crosspost.db").exists()


# ---------------------------------------------------------------- reschedule


def dues(run: Invoke, post: int) -> dict[str, str]:
    return {d["account"]: d["due_at"] for d in json.loads(run("show", str(post), "--json").stdout)["deliveries"]}


def test_reschedule_by_shifts_from_the_due_time_not_from_now(run: Invoke) -> None:
    post = queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    result = run("reschedule", str(post), "--by", "+1h")
    assert result.stdout == (
        f"post {post} vk: pending, due 2030-01-02 10:00:00+09:00 -> pending, due 2030-01-02 11:00:00+09:00\n"
    )
    assert result.stderr.startswith("due Wed 2 Jan 2030 11:00 KST (+09:00), in ")
    run("reschedule", str(post), "--by", "-30m")
    assert dues(run, post) == {"vk": "2030-01-02T10:30:00+09:00"}
    run("reschedule", str(post), "--by=-1d")
    assert dues(run, post) == {"vk": "2030-01-01T10:30:00+09:00"}


def test_reschedule_by_moves_each_delivery_from_its_own_time(run: Invoke, folder: Path) -> None:
    post = queue(run, AGREEMENT, "--at", "now", "--to", "twitter", "--to", "vk")
    store = store_of(folder)
    now = datetime.now(UTC) + timedelta(seconds=1)
    claims = store.claim_due(now=now, owner="test", lease_seconds=60)  # both, as a daemon would
    [claim] = [c for c in claims if c.account == "vk"]
    [other] = [c for c in claims if c.account == "twitter"]
    store.release(other.delivery_id, status="pending", now=now)  # twitter waits; vk met a passing failure
    next_try = datetime(2030, 5, 1, 1, 0, tzinfo=UTC)
    store.mark_retrying(claim.delivery_id, next_try_at=next_try, error="a 503", now=now)
    twitter_due = datetime.fromisoformat(dues(run, post)["twitter"])
    store.close()
    result = run("reschedule", str(post), "--by", "+2h")
    after = dues(run, post)
    assert after["vk"] == "2030-05-01T12:00:00+09:00"  # its next try (10:00 KST) plus 2 h
    assert datetime.fromisoformat(after["twitter"]) == twitter_due + timedelta(hours=2)
    assert [line.split(", ")[0] for line in result.stderr.splitlines()][1] == "due Wed 1 May 2030 12:00 KST (+09:00)"
    assert result.stderr.splitlines()[1].endswith(" (vk)")
    assert {d["status"] for d in json.loads(run("show", str(post), "--json").stdout)["deliveries"]} == {"pending"}


def test_reschedule_refuses_the_past_and_changes_nothing(run: Invoke) -> None:
    post = queue(run, AGREEMENT, "--at", "+10m", "--to", "vk")
    before = dues(run, post)
    result = run("reschedule", str(post), "--by", "-1h", code=1)
    assert error_line(result).startswith(f"crosspost: error: post {post} vk: due ")
    assert ", in the past; nothing changed; write a smaller delay, or a time: crosspost reschedule" in result.stderr
    result = run("reschedule", str(post), "2001-01-01 10:00", code=1)
    assert error_line(result).startswith("crosspost: error: the new time 2001-01-01 10:00:00+09:00 is in the past (")
    assert dues(run, post) == before


def test_reschedule_when_keeps_counting_from_now(run: Invoke) -> None:
    post = queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    before = datetime.now(UTC).replace(microsecond=0)
    run("reschedule", str(post), "+1h")
    due = datetime.fromisoformat(dues(run, post)["vk"])
    assert before + timedelta(hours=1) <= due <= datetime.now(UTC) + timedelta(hours=1)


@pytest.mark.parametrize("args", [["1"], ["1", "+1h", "--by", "+1h"]])
def test_reschedule_needs_when_or_by_but_not_both(run: Invoke, args: list[str]) -> None:
    result = run("reschedule", *args, code=2)
    assert "give either WHEN or --by DELAY" in result.stderr


def test_reschedule_by_a_bad_delay(run: Invoke) -> None:
    post = queue(run, AGREEMENT, "--at", "+1h")
    result = run("reschedule", str(post), "--by", "1 hour", code=1)
    assert error_line(result) == (
        "crosspost: error: '1 hour' is not a delay; write a signed duration such as +1h, -30m, +1d or +1h30m"
    )


# ---------------------------------------------------------------- the same file twice


def test_the_same_file_twice_is_refused_naming_the_post_unless_again(run: Invoke, folder: Path) -> None:
    first = queue(run, AGREEMENT, "--at", "+1h")
    db = folder / "crosspost.db"
    before = db.read_bytes()
    result = run("queue", AGREEMENT, "--at", "+2h", "--to", "vk", code=1)
    assert result.stdout == ""
    assert result.stderr == (
        f"crosspost: error: {AGREEMENT}: the same file with the same content is already post {first} (queued); "
        f"nothing queued. To publish it once more, pass --again; to move that post: crosspost reschedule {first} "
        "WHEN\n"
    )
    assert db.read_bytes() == before
    shutil_copy(folder / AGREEMENT, folder / "posts" / "copy.md")  # another name, the same post
    assert f"already post {first} (queued)" in run("queue", "posts/copy.md", "--at", "+1h", code=1).stderr
    assert queue(run, AGREEMENT, "--at", "+1h", "--again") == first + 1


def test_a_cancelled_post_may_be_queued_again_an_edited_file_is_new(run: Invoke, folder: Path) -> None:
    first = queue(run, EXHIBITION, "--at", "+1h")
    run("cancel", str(first))
    second = queue(run, EXHIBITION, "--at", "+1h")  # everything of the first was cancelled
    path = folder / EXHIBITION
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    third = queue(run, EXHIBITION, "--at", "+1h")
    image = folder / "posts" / "media" / "agreement.png"
    from PIL import Image

    with Image.open(image) as img:
        img.rotate(90, expand=True).save(image)  # the same file, another picture: another post
    fourth = queue(run, EXHIBITION, "--at", "+1h")
    assert (second, third, fourth) == (first + 1, first + 2, first + 3)


@pytest.mark.parametrize(
    ("outcome", "status", "then"),
    [
        ("failed", "failed", "to send that post again: crosspost retry {post}"),
        ("sent", "sent", "to see where it went: crosspost show {post}"),
        ("unknown", "failed (1 unknown)", "to send that post again: crosspost retry {post}"),
    ],
)
def test_a_settled_post_is_refused_too_pointing_to_what_helps(
    run: Invoke, folder: Path, outcome: str, status: str, then: str
) -> None:
    post = queue(run, AGREEMENT, "--at", "now", "--to", "vk")
    store = store_of(folder)
    now = datetime.now(UTC)
    [claim] = store.claim_due(now=now, owner="test", lease_seconds=60)
    if outcome == "sent":
        store.mark_sent(claim.delivery_id, remote_id="1", url="https://vk.com/wall-1_1", now=now)
    elif outcome == "failed":
        store.mark_failed(claim.delivery_id, error="bad token", now=now)
    else:  # may be public: never a second copy by accident
        store.mark_unknown(claim.delivery_id, error="a 502 after the request", now=now)
    store.close()
    result = run("queue", AGREEMENT, "--at", "+1h", code=1)
    assert error_line(result).endswith(
        f"already post {post} ({status}); nothing queued. To publish it once more, pass --again; "
        + then.format(post=post)
    )


def test_two_queues_of_one_file_at_once_make_one_post(folder: Path) -> None:
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml")}
    args = crosspost_argv("queue", AGREEMENT, "--at", "+1h")
    queue_now = crosspost_argv("upgrade")
    subprocess.run(queue_now, cwd=folder, env=env, capture_output=True, check=True, timeout=60)  # the schema first
    procs = [
        subprocess.Popen(args, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in results) == [0, 1, 1]
    assert all("already post 1 (queued)" in err for code, _, err in results if code == 1)
    listed = subprocess.run(crosspost_argv("list", "--json"), cwd=folder, env=env, capture_output=True, text=True)
    assert [p["id"] for p in json.loads(listed.stdout)] == [1]


def shutil_copy(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())


# ---------------------------------------------------------------- natural times


FRIDAY_EVENING = datetime(2026, 12, 4, 10, 13, tzinfo=UTC)  # Fri 4 Dec 2026, 19:13 in Pyongyang


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("tomorrow 10:00", "2026-12-05T10:00:00+09:00"),
        ("завтра в 10:00", "2026-12-05T10:00:00+09:00"),
        ("Fri 18:00", "2026-12-11T18:00:00+09:00"),  # today's 18:00 is past: next Friday, the only reading
        ("в пятницу в 18:00", "2026-12-11T18:00:00+09:00"),
        ("13/04 10:00", "2027-04-13T10:00:00+09:00"),  # 13 cannot be a month: day-first and month-first agree
        ("17 марта в 10:00", "2027-03-17T10:00:00+09:00"),
        ("tomorrow 10:00 UTC", "2026-12-05T19:00:00+09:00"),  # a zone written is a zone kept
    ],
)
def test_natural_times_read_one_way_are_taken(text: str, meant: str) -> None:
    got = parse_when(text, PYONGYANG, FRIDAY_EVENING, natural=True)
    assert got.astimezone(PYONGYANG).isoformat() == meant


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("03/04 10:00", "'03/04 10:00' is ambiguous (it may be Thu 04 Mar 2027 10:00 or Sat 03 Apr 2027 10:00); "),
        ("12.01.2027 10:00", "is ambiguous (it may be Tue 12 Jan 2027 10:00 or Wed 01 Dec 2027 10:00); "),
        ("Fri 20:00", "is ambiguous (it may be Fri 04 Dec 2026 20:00 or Fri 11 Dec 2026 20:00); "),  # tonight?
        ("tomorrow", "'tomorrow' names no time of day; add one"),
        ("in 2 hours", "names no time of day"),
        ("March 10:00", "'March 10:00' names no day; name one"),
        ("next week 10:00", "names no day"),
        ("soon", "'soon' is not a time; write an ISO 8601 date-time"),
    ],
)
def test_natural_times_with_another_reading_are_refused(text: str, why: str) -> None:
    with pytest.raises(TimeFormatError) as refused:
        parse_when(text, PYONGYANG, FRIDAY_EVENING, natural=True)
    assert why in str(refused.value)
    if "ambiguous" in why or "names no day" in why:
        assert str(refused.value).endswith("2027-03-17 10:00 (in the config timezone) or 2027-03-17T10:00:00+09:00")


def test_a_natural_time_in_a_dst_gap_is_refused_too() -> None:
    saturday = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)
    with pytest.raises(TimeFormatError, match="^" + GAP + "$"):
        parse_when("tomorrow 02:30", NEW_YORK, saturday, natural=True)
    assert parse_natural("tomorrow 03:30", NEW_YORK, saturday) == datetime(2027, 3, 14, 3, 30)


def test_queue_takes_tomorrow_in_the_config_timezone_and_echoes_it(run: Invoke) -> None:
    day_before = datetime.now(PYONGYANG).date()
    result = run("queue", AGREEMENT, "--at", "завтра в 10:00")
    day_after = datetime.now(PYONGYANG).date()
    meant = {d + timedelta(days=1) for d in (day_before, day_after)}  # the command may straddle midnight
    [post] = json.loads(run("list", "--json").stdout)
    due = datetime.fromisoformat(post["due_at"])
    assert (due.date() in meant, due.time().isoformat(), due.utcoffset()) == (True, "10:00:00", timedelta(hours=9))
    assert result.stderr.startswith(f"due {due:%a} {due.day} {due:%b %Y} 10:00 KST (+09:00), in ")


def test_queue_refuses_an_ambiguous_natural_time_with_the_iso_form(run: Invoke, folder: Path) -> None:
    result = run("queue", AGREEMENT, "--at", "03/04 10:00", code=1)
    assert "'03/04 10:00' is ambiguous (it may be " in error_line(result)
    assert error_line(result).endswith(
        "write it in ISO form, such as 2027-03-17 10:00 (in the config timezone) or 2027-03-17T10:00:00+09:00"
    )
    assert not (folder / "crosspost.db").exists()


def test_a_post_file_takes_no_natural_time(run: Invoke, folder: Path) -> None:
    name = post_file(folder, "soon.md", 'publish_at = "tomorrow 10:00"\n')
    result = run("validate", name, code=1)
    assert result.stderr.splitlines()[0].startswith(f"{name}:2: publish_at: 'tomorrow 10:00' is not a time; write")


def imported(folder: Path, *args: str) -> set[str]:
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crosspost", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    return {line.split("|")[-1].strip().split(".")[0] for line in lines}


def test_dateparser_is_loaded_only_for_a_natural_time(folder: Path) -> None:
    for args in (
        ["--help"],
        ["validate", AGREEMENT],
        ["preview", AGREEMENT],
        ["queue", AGREEMENT, "--at", "+1h"],
        ["list"],
        ["log"],
        ["reschedule", "1", "--by", "+1h"],
    ):
        assert "dateparser" not in imported(folder, *args), args
    assert "dateparser" in imported(folder, "reschedule", "1", "tomorrow 10:00")
