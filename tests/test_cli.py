"""The command line against the contract: exact output, JSON fields and types, exit codes.

Each test gets a folder with a config of three accounts whose ``api_base`` points
at a closed port on 127.0.0.1 (nothing can be published) and the repository's
example posts copied into ``posts/``. Deliveries are put in the states a test
needs through the store's own API (test setup, not patching).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from crosspost import __version__, output
from crosspost.cli import DELIVERY_STATUSES, POST_STATUSES, cli
from crosspost.config import load_config
from crosspost.store import records
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once
SECRETS = (
    "tw-consumer-key-1",
    "tw-consumer-secret-2",
    "tw-access-token-3",
    "tw-token-secret-4",
    "EAAfbsecret5",
    "vk1.a.secret6",
)
CONFIG = f"""\
[crosspost]
timezone = "Asia/Pyongyang"
retry_delay = "1m"

[accounts.twitter]
platform = "twitter"
consumer_key = "{SECRETS[0]}"
consumer_secret = "{SECRETS[1]}"
access_token = "{SECRETS[2]}"
access_token_secret = "{SECRETS[3]}"
api_base = "{CLOSED}"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "${{FB_TOKEN}}"
api_base = "{CLOSED}"

[accounts.vk]
platform = "vk"
group_id = 123456
access_token = "{SECRETS[5]}"
api_base = "{CLOSED}"
"""
AGREEMENT = "posts/agreement-anniversary.md"  # a Twitter thread of 4 parts, no images
EXHIBITION = "posts/archive-exhibition.md"  # two images, a Twitter variant
RECEPTION = "posts/national-day-reception-ru.md"
CONTRACT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "post_id": int,
    "account": str,
    "platform": str,
    "status": str,
    "attempts": int,
    "remote_id": (str, type(None)),
    "url": (str, type(None)),
    "error": (str, type(None)),
    "due_at": str,
    "sent_at": (str, type(None)),
}

Invoke = Callable[..., Result]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    (tmp_path / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "crosspost.toml").chmod(0o600)  # it holds literal secrets: keep it private, as users should
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FB_TOKEN", SECRETS[4])
    monkeypatch.delenv("CROSSPOST_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def run(folder: Path) -> Invoke:
    def invoke(*args: str, code: int | None = 0) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(folder / "crosspost.toml"), *args])
        if code is not None:
            assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        for secret in SECRETS:
            assert secret not in result.output
        return result

    return invoke


def store_of(folder: Path) -> SqlStore:
    settings = load_config(folder / "crosspost.toml", {"FB_TOKEN": SECRETS[4]})
    return SqlStore(settings.database_url, settings.media_dir)


def queue(run: Invoke, path: str = AGREEMENT, *extra: str) -> int:
    result = run("queue", path, *extra)
    [due] = result.stderr.splitlines()  # the one line saying when it goes out
    assert due.startswith("due ")
    return int(result.stdout)


def error_line(result: Result) -> str:
    """The last stderr line, which must be the one ``crosspost: error:`` line."""
    *_, last = result.stderr.splitlines()
    assert last.startswith("crosspost: error: ")
    assert "Traceback" not in result.stderr
    return last


# ---------------------------------------------------------------- global options and usage


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"crosspost {__version__}\n")


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    commands = result.stdout.split("Commands:\n")[1]
    names = [line.split()[0] for line in commands.splitlines() if line.strip()]
    assert names == sorted(
        [
            "validate",
            "preview",
            "queue",
            "list",
            "show",
            "cancel",
            "reschedule",
            "retry",
            "resolve",
            "log",
            "daemon",
            "accounts",
            "notify",
            "sandbox",
            "demo",
            "upgrade",
            "backup",
            "prune",
        ]
    )


def test_status_choices_match_the_store() -> None:
    assert POST_STATUSES == records.POST_STATUSES
    assert DELIVERY_STATUSES == records.DELIVERY_STATUSES


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["show", "abc"], ["show"], ["log", "--status", "lost"], ["queue"], ["reschedule", "1"]],
)
def test_wrong_usage_exits_2_with_clicks_usage(run: Invoke, args: list[str]) -> None:
    result = run(*args, code=2)
    assert result.stderr.startswith("Usage: crosspost")
    assert "Error:" in result.stderr


def test_log_json_and_csv_together_is_wrong_usage(run: Invoke) -> None:
    result = run("log", "--json", "--csv", code=2)
    assert "--json and --csv cannot be used together" in result.stderr


# ---------------------------------------------------------------- config


def test_bad_config_is_one_line_and_exit_1(run: Invoke, folder: Path) -> None:
    (folder / "crosspost.toml").write_text(CONFIG.replace('timezone = "Asia/Pyongyang"', "colour = 1"))
    result = run("list", code=1)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"crosspost: error: {folder / 'crosspost.toml'}: crosspost.colour: unknown key; remove it (known keys: "
        "database, late_limit, max_attempts, posts_dir, request_timeout, retry_delay, timezone)"
    ]


def test_unset_variable_names_it(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FB_TOKEN")
    run("validate", AGREEMENT)  # staff without the secret may validate (tests/test_staff.py)
    result = run("daemon", "--once", code=1)
    [line] = result.stderr.splitlines()
    assert line.endswith(
        "accounts.facebook.page_access_token: environment variable FB_TOKEN is not set; "
        "export FB_TOKEN=... before running crosspost"
    )


def test_missing_config_file(folder: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", "nowhere.toml", "list"])
    assert result.exit_code == 1
    assert result.stderr.startswith("crosspost: error: nowhere.toml: config file not found;")
    assert len(result.stderr.splitlines()) == 1


def test_config_from_environment(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "elsewhere.toml").write_text((folder / "crosspost.toml").read_text())
    (folder / "crosspost.toml").unlink()
    monkeypatch.setenv("CROSSPOST_CONFIG", str(folder / "elsewhere.toml"))
    result = CliRunner().invoke(cli, ["validate", RECEPTION])
    assert result.exit_code == 0, result.stderr


# ---------------------------------------------------------------- validate and preview


def test_validate_ok(run: Invoke) -> None:
    result = run("validate", AGREEMENT, EXHIBITION, RECEPTION)
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{AGREEMENT}: ok; to twitter (thread of 4), facebook, vk; publish_at 2027-03-17 10:00:00+09:00",
        f"{EXHIBITION}: ok; to twitter, facebook, vk; publish_at 2027-03-20 11:00:00+09:00",
        f"{RECEPTION}: ok; to twitter, facebook, vk; publish_at 2027-06-12 18:00:00+09:00",
    ]


def test_validate_bad_prints_every_problem_then_one_error_line(run: Invoke, folder: Path) -> None:
    (folder / "posts" / "bad.md").write_text(
        '+++\ntitle = "Bad"\ncolour = "red"\nto = ["twitter", "myspace"]\n+++\nSome body.\n', encoding="utf-8"
    )
    result = run("validate", AGREEMENT, "posts/bad.md", "posts/missing.md", code=1)
    assert (
        result.stdout
        == f"{AGREEMENT}: ok; to twitter (thread of 4), facebook, vk; publish_at 2027-03-17 10:00:00+09:00\n"
    )
    lines = result.stderr.splitlines()
    assert lines[-1] == "crosspost: error: 2 of 3 files had problems"
    problems = lines[:-1]
    assert [p.split(": ", 1)[0] for p in problems] == ["posts/bad.md:3", "posts/bad.md:4", "posts/missing.md:1"]
    assert "colour" in problems[0]
    assert 'unknown account "myspace"' in problems[1]
    assert problems[2] == "posts/missing.md:1: file not found; check the path"


def test_preview_text(run: Invoke) -> None:
    out = run("preview", AGREEMENT).stdout.splitlines()
    assert out[0] == "twitter (twitter), thread of 4 parts"
    part_lines = [line for line in out if line.startswith("part ")]
    assert [line.split(" · ")[0] for line in part_lines] == ["part 1/4", "part 2/4", "part 3/4", "part 4/4"]
    for line in part_lines:
        length, limit = line.split(" · ")[1].split(" ")[0].split("/")
        assert limit == "280" and 0 < int(length) <= 280
    assert "facebook (facebook), one post" in out
    assert "vk (vk), one post" in out
    assert "link: https://example.org/news/agreement-75" in out
    assert "  https://example.org/news/agreement-75 #Diplomacy #Culture 1/4" in out


def test_preview_images_with_alt_text(run: Invoke) -> None:
    out = run("preview", EXHIBITION).stdout.splitlines()
    assert out[:2] == ["twitter (twitter), one post", "146/280 characters as X counts them"]
    alt = "The Embassy hall prepared for the exhibition opening, with flags and a display stand"
    assert out.count(f"image 1: media/reception.jpg · alt: {alt}") == 2
    assert f"image 1: media/reception.jpg · alt: {alt} (VK shows no alt text)" in out


def test_preview_json(run: Invoke, folder: Path) -> None:
    data = json.loads(run("preview", EXHIBITION, "--json").stdout)
    assert [(t["account"], t["platform"]) for t in data] == [
        ("twitter", "twitter"),
        ("facebook", "facebook"),
        ("vk", "vk"),
    ]
    for target in data:
        assert set(target) == {"account", "platform", "parts", "images", "link"}
        assert target["link"] == "https://example.org/events/archive-exhibition"
        assert [Path(i["path"]) for i in target["images"]] == [
            (folder / "posts/media/reception.jpg").resolve(),
            (folder / "posts/media/agreement.png").resolve(),
        ]
        assert target["images"][1]["alt"] == "A typed page of the 1949 Agreement with a round seal"
        for part in target["parts"]:
            assert set(part) == {"text", "length", "limit"}
            assert isinstance(part["length"], int) and part["length"] <= part["limit"]
    assert data[0]["parts"][0]["limit"] == 280
    assert data[1]["parts"][0]["limit"] == 63206
    assert data[2]["parts"][0] == {"text": data[2]["parts"][0]["text"], "length": 273, "limit": 16384}


def test_preview_of_a_bad_post(run: Invoke, folder: Path) -> None:
    (folder / "posts" / "empty.md").write_text("+++\n+++\n", encoding="utf-8")
    result = run("preview", "posts/empty.md", code=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert all(line.startswith("posts/empty.md:") for line in lines[:-1]) and len(lines) >= 2
    assert lines[-1].startswith("crosspost: error: posts/empty.md: ")
    assert lines[-1].endswith("; fix them, then preview again")


# ---------------------------------------------------------------- queue


def test_queue_prints_the_new_id_alone(run: Invoke) -> None:
    assert run("queue", AGREEMENT).stdout == "1\n"
    assert run("queue", EXHIBITION, "--at", "+1h", "--to", "vk", "--to", "twitter").stdout == "2\n"
    [post] = [p for p in json.loads(run("list", "--json").stdout) if p["id"] == 2]
    assert [d["account"] for d in post["deliveries"]] == ["vk", "twitter"]


def test_queue_at_wins_over_publish_at(run: Invoke) -> None:
    post_id = queue(run, AGREEMENT, "--at", "2030-01-02 10:00")
    post = json.loads(run("show", str(post_id), "--json").stdout)
    assert post["due_at"] == "2030-01-02T10:00:00+09:00"
    assert {d["due_at"] for d in post["deliveries"]} == {"2030-01-02T10:00:00+09:00"}


def test_a_readable_config_with_literal_secrets_draws_a_warning(run: Invoke, folder: Path) -> None:
    run("upgrade")
    (folder / "crosspost.toml").chmod(0o644)
    result = run("list")
    config = folder / "crosspost.toml"
    assert result.stderr == (
        f"crosspost: {config}: warning: readable by every user and holds literal secrets "
        "(accounts.twitter.consumer_key, accounts.twitter.consumer_secret, accounts.twitter.access_token, "
        "accounts.twitter.access_token_secret, accounts.vk.access_token); "
        f'run chmod 600 {config}, or take them from the environment with "${{VAR}}"\n'
    )


def test_queue_needs_a_time(run: Invoke, folder: Path) -> None:
    (folder / "posts" / "untimed.md").write_text('+++\ntitle = "No time"\n+++\nHello.\n', encoding="utf-8")
    result = run("queue", "posts/untimed.md", code=1)
    assert result.stdout == ""
    assert result.stderr == (
        "crosspost: error: posts/untimed.md: no publish time; add publish_at = 2027-03-17T10:00:00 to its "
        "front matter or pass --at WHEN\n"
    )
    assert not (folder / "crosspost.db").exists()  # nothing stored, not even an empty database


def test_queue_refuses_a_past_time_and_stores_nothing(run: Invoke, folder: Path) -> None:
    result = run("queue", AGREEMENT, "--at", "2001-01-01 10:00", code=1)
    assert result.stdout == ""
    assert error_line(result).startswith(
        f"crosspost: error: {AGREEMENT}: the publish time 2001-01-01 10:00:00+09:00 is in the past ("
    )
    assert error_line(result).endswith(" ago); nothing changed; write a later time, or --at now to send it at once")
    assert not (folder / "crosspost.db").exists()


def test_queue_bad_when(run: Invoke) -> None:
    result = run("queue", AGREEMENT, "--at", "soon", code=1)
    assert error_line(result).startswith("crosspost: error: 'soon' is not a time; write an ISO 8601 date-time")


def test_queue_to_unknown_account_stores_nothing(run: Invoke, folder: Path) -> None:
    queue(run)
    db = folder / "crosspost.db"
    before = db.read_bytes()
    result = run("queue", EXHIBITION, "--to", "vk", "--to", "myspace", code=1)
    assert result.stdout == ""
    assert result.stderr == (
        f"crosspost: error: --to myspace: no such account in {folder / 'crosspost.toml'}; "
        "the accounts are: twitter, facebook, vk\n"
    )
    assert db.read_bytes() == before
    assert [p["id"] for p in json.loads(run("list", "--json").stdout)] == [1]


def test_queue_a_bad_post_stores_nothing(run: Invoke, folder: Path) -> None:
    (folder / "posts" / "bad.md").write_text('+++\npublish_at = "soon"\n+++\nHello.\n', encoding="utf-8")
    result = run("queue", "posts/bad.md", code=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("posts/bad.md:2: ")
    assert lines[-1] == "crosspost: error: posts/bad.md: 1 problem; nothing queued"
    assert not (folder / "crosspost.db").exists()


# ---------------------------------------------------------------- list, show, log


def test_list_text(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00")
    queue(run, EXHIBITION, "--at", "2030-01-03 10:00", "--to", "vk")
    out = run("list").stdout.splitlines()
    assert [line.split() for line in out[:3]] == [
        ["ID", "DUE", "STATUS", "TITLE", "DELIVERIES"],
        [
            "1",
            "2030-01-02",
            "10:00:00+09:00",
            "queued",
            *"75 years of the Agreement on economic and cultural cooperation".split(),
            "twitter:pending",
            "facebook:pending",
            "vk:pending",
        ],
        ["2", "2030-01-03", "10:00:00+09:00", "queued", "Archive", "exhibition", "opens", "vk:pending"],
    ]
    assert out[3] == "daemon: not running (none has run on this database yet)"


def test_list_empty(run: Invoke) -> None:
    run("upgrade")
    assert run("list").stdout.splitlines()[0] == "no posts; queue one with: crosspost queue FILE"


def test_list_json_fields(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00")
    [post] = json.loads(run("list", "--json").stdout)
    assert {"id", "title", "status", "due_at", "deliveries", "source", "created_at"} <= set(post)
    assert (post["id"], post["status"], post["due_at"]) == (1, "queued", "2030-01-02T10:00:00+09:00")
    assert post["title"] == "75 years of the Agreement on economic and cultural cooperation"
    assert [d["account"] for d in post["deliveries"]] == ["twitter", "facebook", "vk"]
    for d in post["deliveries"]:
        check_contract_fields(d)
        assert (d["status"], d["attempts"], d["sent_at"]) == ("pending", 0, None)


def check_contract_fields(record: dict[str, object]) -> None:
    for name, kind in CONTRACT_FIELDS.items():
        assert isinstance(record[name], kind), (name, record[name])
    assert not isinstance(record["post_id"], bool)
    assert record["platform"] in ("twitter", "facebook", "vk")
    assert record["status"] in DELIVERY_STATUSES
    assert datetime.fromisoformat(str(record["due_at"])).utcoffset() is not None


def test_list_status_filter(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    queue(run, EXHIBITION, "--at", "+2h")
    run("cancel", "1")
    assert [p["id"] for p in json.loads(run("list", "--status", "cancelled", "--json").stdout)] == [1]
    assert [p["id"] for p in json.loads(run("list", "--status", "queued", "--json").stdout)] == [2]


def test_show_json_has_history_and_snapshot(run: Invoke) -> None:
    queue(run, EXHIBITION, "--at", "2030-01-02 10:00")
    post = json.loads(run("show", "1", "--json").stdout)
    assert (post["id"], post["title"], post["status"]) == (1, "Archive exhibition opens", "queued")
    for d in post["deliveries"]:
        check_contract_fields(d)
        assert d["history"] == []
    twitter = post["snapshot"][0]
    assert twitter["parts"] == [
        "The archive exhibition is open at the Embassy: documents and photographs from 75 years of cooperation."
        "\n\nhttps://example.org/events/archive-exhibition #Archives #History"
    ]
    assert [i["alt"] for i in twitter["images"]][1] == "A typed page of the 1949 Agreement with a round seal"


def test_show_text(run: Invoke) -> None:
    queue(run, EXHIBITION, "--at", "2030-01-02 10:00", "--to", "twitter")
    out = run("show", "1").stdout.splitlines()
    assert out[:3] == ["post 1: Archive exhibition opens", "status:  queued", "due:     2030-01-02 10:00:00+09:00"]
    assert out[6:10] == [
        "twitter (twitter): pending, 0 attempts",
        "  due 2030-01-02 10:00:00+09:00",
        "  text:",
        "    The archive exhibition is open at the Embassy: documents and photographs from 75 years of cooperation.",
    ]


def test_unknown_post_id(run: Invoke) -> None:
    run("upgrade")
    for command in (["show", "99"], ["cancel", "99"], ["reschedule", "99", "+1h"], ["retry", "99"]):
        result = run(*command, code=1)
        assert result.stdout == ""
        assert result.stderr == "crosspost: error: no post with id 99; see crosspost list\n"


def test_unexpected_error_is_one_line_without_secrets(run: Invoke, folder: Path) -> None:
    config = CONFIG.replace('timezone = "Asia/Pyongyang"', f'database = "nosuchdriver://me:{SECRETS[5]}@db.example/x"')
    (folder / "crosspost.toml").write_text(config)
    result = run("list", code=1)
    [line] = result.stderr.splitlines()
    assert SECRETS[5] not in line
    if "internal error" in line:  # SQLAlchemy's own error: the store does not wrap an unknown driver
        assert line.startswith("crosspost: error: internal error: NoSuchModuleError: ")
        assert line.endswith("; run with --debug for details")
    debug = run("--debug", "list", code=1)
    assert "Traceback (most recent call last):" in debug.stderr
    assert debug.stderr.splitlines()[-1].startswith("crosspost: error: ")


def test_debug_shows_the_traceback(run: Invoke) -> None:
    run("upgrade")
    result = run("--debug", "show", "99", code=1)
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.endswith("crosspost: error: no post with id 99; see crosspost list\n")


def test_log_json_fields_and_order(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    queue(run, EXHIBITION, "--at", "2030-01-03 10:00", "--to", "twitter")
    rows = json.loads(run("log", "--json").stdout)
    assert [(r["post_id"], r["account"]) for r in rows] == [(2, "twitter"), (1, "vk")]
    for r in rows:
        check_contract_fields(r)
    assert rows[0] | {"delivery_id": 0} == {
        "post_id": 2,
        "title": "Archive exhibition opens",
        "delivery_id": 0,
        "account": "twitter",
        "platform": "twitter",
        "status": "pending",
        "attempts": 0,
        "remote_id": None,
        "url": None,
        "error": None,
        "due_at": "2030-01-03T10:00:00+09:00",
        "sent_at": None,
        "next_try_at": None,
        "notice": None,
    }


def test_log_csv(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    text = run("log", "--csv").stdout
    assert text.splitlines()[0] == (
        "post_id,title,delivery_id,account,platform,status,attempts,remote_id,url,error,due_at,sent_at,next_try_at"
    )
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["post_id"] == "1" and row["account"] == "vk" and row["status"] == "pending"
    assert row["due_at"] == "2030-01-02T10:00:00+09:00" and row["sent_at"] == "" and row["url"] == ""


def test_log_text(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    out = run("log").stdout.splitlines()
    assert out[0].split() == [
        "POST",
        "TITLE",
        "ACCOUNT",
        "PLATFORM",
        "STATUS",
        "TRIES",
        "DUE",
        "SENT",
        "URL",
        "/",
        "ERROR",
    ]
    assert out[1].split()[-7:] == ["vk", "pending", "0", "2030-01-02", "10:00:00+09:00", "-", "-"]
    assert run("log", "--status", "sent").stdout == "no deliveries match\n"


def test_log_filters(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    queue(run, EXHIBITION, "--at", "+2h", "--to", "vk")
    store = store_of(folder)
    now = datetime.now(UTC)
    [old_draft] = store.get_post(2).drafts
    store.queue_post(title="Old news", source="old.md", drafts=[old_draft], due_at=now - timedelta(days=30), now=now)
    store.close()

    def ids(*args: str) -> list[tuple[int, str]]:
        return [(r["post_id"], r["account"]) for r in json.loads(run("log", "--json", *args).stdout)]

    assert len(ids()) == 5
    assert ids("--account", "vk") == [(2, "vk"), (1, "vk"), (3, "vk")]
    assert ids("--post", "1") == [(1, "vk"), (1, "facebook"), (1, "twitter")] or sorted(ids("--post", "1")) == [
        (1, "facebook"),
        (1, "twitter"),
        (1, "vk"),
    ]
    assert ids("--since", "7d") == []  # the queued ones are ahead, the old one more than 7 days back
    assert ids("--since", "31d") == [(3, "vk")]
    assert ids("--since", "2000-01-01") == [(3, "vk")]  # between then and now: never the queue ahead
    run("cancel", "2")
    assert ids("--status", "cancelled") == [(2, "vk")]
    assert ids("--status", "cancelled", "--account", "twitter") == []
    result = run("log", "--since", "last week", code=1)
    assert error_line(result).startswith("crosspost: error: 'last week' is not a time or a duration;")


def test_table_aligns_by_display_width() -> None:
    text = output.table(
        ["ID", "TITLE", "STATUS"], [["1", "日本語のタイトル", "sent"], ["22", "Приём\nвечером", "failed"]]
    )
    assert text.splitlines() == [
        "ID  TITLE             STATUS",
        "1   日本語のタイトル  sent",
        "22  Приём вечером     failed",
    ]


# ---------------------------------------------------------------- cancel, reschedule, retry


def test_cancel(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "+1h")
    assert run("cancel", "1").stdout.splitlines() == [
        "post 1 twitter: pending -> cancelled",
        "post 1 facebook: pending -> cancelled",
        "post 1 vk: pending -> cancelled",
    ]
    [post] = json.loads(run("list", "--json").stdout)
    assert post["status"] == "cancelled"
    assert {d["status"] for d in post["deliveries"]} == {"cancelled"}
    assert "cancelled" in run("list").stdout.splitlines()[1].split()
    assert run("cancel", "1").stdout.splitlines()[0] == "post 1 twitter: cancelled, left as it is"


def test_reschedule(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "twitter", "--to", "vk")
    run("cancel", "1")  # everything cancelled: nothing left to move
    queue(run, AGREEMENT, "--at", "2030-01-02 10:00", "--to", "vk")
    assert run("reschedule", "2", "2030-02-01T08:00:00+00:00").stdout == (
        "post 2 vk: pending, due 2030-01-02 10:00:00+09:00 -> pending, due 2030-02-01 17:00:00+09:00\n"
    )
    post = json.loads(run("show", "2", "--json").stdout)
    assert post["due_at"] == "2030-02-01T17:00:00+09:00"
    assert post["deliveries"][0]["due_at"] == "2030-02-01T17:00:00+09:00"
    assert run("reschedule", "1", "+1d").stdout.splitlines() == [
        "post 1 twitter: cancelled, left as it is",
        "post 1 vk: cancelled, left as it is",
    ]


def test_retry_a_failed_delivery(run: Invoke, folder: Path) -> None:
    queue(run, AGREEMENT, "--at", "now", "--to", "twitter", "--to", "vk")
    store = store_of(folder)
    now = datetime.now(UTC) + timedelta(seconds=1)
    claims = store.claim_due(now=now, owner="test", lease_seconds=60)
    assert sorted(c.account for c in claims) == ["twitter", "vk"]
    for claim in claims:
        store.record_attempt(
            claim.delivery_id, at=now, seconds=0.1, outcome="auth", code="401", error="bad token", is_try=True
        )
        store.mark_failed(claim.delivery_id, error="bad token; renew it", now=now)
    store.close()
    assert [r["status"] for r in json.loads(run("log", "--json").stdout)] == ["failed", "failed"]

    result = run("retry", "1", "--account", "vk")
    assert result.stdout == "post 1 vk: back in the queue, due now\n"
    post = json.loads(run("show", "1", "--json").stdout)
    vk = next(d for d in post["deliveries"] if d["account"] == "vk")
    twitter = next(d for d in post["deliveries"] if d["account"] == "twitter")
    assert (vk["status"], vk["attempts"], vk["error"]) == ("pending", 0, None)
    assert [h["outcome"] for h in vk["history"]][0] == "auth"
    assert set(vk["history"][0]) >= {"at", "outcome", "error", "code", "seconds"}
    assert (twitter["status"], twitter["attempts"], twitter["error"]) == ("failed", 1, "bad token; renew it")

    result = run("retry", "1", "--account", "vk", code=1)
    assert error_line(result) == (
        "crosspost: error: post 1: nothing to retry (only failed, unknown or missed deliveries are): vk pending"
    )
    result = run("retry", "1", "--account", "facebook", code=1)
    assert error_line(result) == (
        "crosspost: error: post 1 has no delivery to account 'facebook'; its accounts are: twitter, vk"
    )
    assert run("retry", "1").stdout == "post 1 twitter: back in the queue, due now\n"


# ---------------------------------------------------------------- accounts, daemon


def test_accounts_lists_without_credentials(run: Invoke) -> None:
    out = run("accounts").stdout.splitlines()
    assert [line.split() for line in out] == [
        ["NAME", "PLATFORM", "TARGET", "API", "BASE"],
        ["twitter", "twitter", "—", CLOSED],
        ["facebook", "facebook", "1234567890", CLOSED],
        ["vk", "vk", "123456", CLOSED],
        "daemon: not running (none has run on this database yet)".split(),
    ]


def test_accounts_check_fails_without_a_platform(run: Invoke) -> None:
    result = run("accounts", "--check", code=1)
    assert result.stdout == "daemon: not running (none has run on this database yet)\n"
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["✗ twitter", "✗ facebook", "✗ vk"]
    assert lines[-1] == "crosspost: error: 3 of 3 accounts failed the check"


def test_accounts_check_against_the_sandbox(folder: Path) -> None:
    from crosspost.sandbox import CREDENTIALS, build_sandbox

    box = build_sandbox()
    base = box.start(0)
    try:
        tw, fb, vk = CREDENTIALS["twitter"], CREDENTIALS["facebook"], CREDENTIALS["vk"]
        config = f"""\
[accounts.x]
platform = "twitter"
consumer_key = "{tw["consumer_key"]}"
consumer_secret = "{tw["consumer_secret"]}"
access_token = "{tw["access_token"]}"
access_token_secret = "{tw["access_token_secret"]}"
api_base = "{base}"

[accounts.page]
platform = "facebook"
page_id = "{fb["page_id"]}"
page_access_token = "{fb["page_access_token"]}"
api_base = "{base}"

[accounts.wall]
platform = "vk"
group_id = {vk["group_id"]}
access_token = "wrong-token"
api_base = "{base}"
"""
        (folder / "sandbox.toml").write_text(config)
        (folder / "sandbox.toml").chmod(0o600)
        result = CliRunner().invoke(cli, ["--config", "sandbox.toml", "accounts", "--check"])
    finally:
        box.stop()
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["✓ x", "✓ page", "daemon"]
    lines = result.stderr.splitlines()
    assert lines[0].startswith("✗ wall: ")
    assert lines[1:] == ["crosspost: error: 1 of 3 accounts failed the check"]
    for secret in (*tw.values(), fb["page_access_token"], "wrong-token"):
        assert secret not in result.output


def test_daemon_once_reports_what_was_not_sent(run: Invoke) -> None:
    queue(run, RECEPTION, "--at", "now", "--to", "vk")
    result = run("daemon", "--once", code=1)
    assert error_line(result) == "crosspost: error: not every delivery was sent; see: crosspost log --since 1h"
    [row] = json.loads(run("log", "--json").stdout)
    assert row["status"] in ("retrying", "failed")
    assert row["attempts"] == 1 and row["error"]


def test_log_limit_keeps_the_newest_rows(run: Invoke) -> None:
    queue(run, AGREEMENT, "--at", "2030-01-01 10:00")
    queue(run, EXHIBITION, "--at", "2030-01-02 10:00")
    everything = json.loads(run("log", "--json").stdout)
    newest = json.loads(run("log", "--json", "--limit", "2").stdout)
    assert newest == everything[:2]
    assert json.loads(run("log", "--json", "--limit", "0").stdout) == everything  # 0: all (tests/test_terminal.py)
    assert run("log", "--limit", "-1", code=2).exit_code == 2


def test_list_says_whether_a_daemon_runs_and_when_one_last_ran(run: Invoke, folder: Path) -> None:
    from datetime import UTC, datetime, timedelta

    store = store_of(folder)
    beat = datetime.now(UTC) - timedelta(seconds=3)
    assert store.acquire_daemon(owner="pid 7 on host press", now=beat, stale_after=15)
    footer = run("list").stdout.splitlines()[-1]
    assert footer.startswith("daemon: running (pid 7 on host press, last heartbeat ")
    store.release_daemon(owner="pid 7 on host press")
    store.close()
    footer = run("list").stdout.splitlines()[-1]
    assert footer.startswith("daemon: not running (the last one stopped; last heartbeat ")
    assert footer.endswith(" ago)")
