"""Staff without secrets, and a database that only an admin's act creates or migrates (issue 12).

Through the real CLI, with test_cli's folder: three accounts on closed ports, facebook's token
taken from ``${FB_TOKEN}``. A staffer's shell has no FB_TOKEN: every command that does not talk to
Facebook must run; those that do stop with one line naming the file, the key and the fix.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import test_cli
import test_resolve
from click.testing import CliRunner
from test_cli import AGREEMENT, EXHIBITION, Invoke, error_line, queue

from crosspost.cli import cli
from crosspost.store import migrations

folder = test_cli.folder
run = test_cli.run
UNSET = (
    "accounts.facebook.page_access_token: environment variable FB_TOKEN is not set; "
    "export FB_TOKEN=... before running crosspost"
)


@pytest.fixture
def staff(run: Invoke, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """The CLI as a staffer runs it: the database exists (the admin made it), FB_TOKEN is not set."""
    run("upgrade")
    monkeypatch.delenv("FB_TOKEN")
    return run


def test_every_command_that_does_not_talk_to_facebook_runs_without_its_secret(staff: Invoke) -> None:
    staff("validate", AGREEMENT, EXHIBITION)
    staff("preview", AGREEMENT)
    post = queue(staff, AGREEMENT, "--at", "+2h")
    queue(staff, EXHIBITION, "--at", "+3h")
    assert [p["id"] for p in json.loads(staff("list", "--json").stdout)] == [1, 2]
    staff("list")
    staff("log")
    staff("log", "--account", "facebook")
    staff("show", str(post))
    staff("reschedule", str(post), "--by", "+1h")
    staff("cancel", "2")
    assert "facebook" in staff("accounts").stdout


def test_the_daemon_needs_every_secret_and_says_which_one(staff: Invoke, folder: Path) -> None:
    result = staff("daemon", "--once", code=1)
    assert result.stderr.splitlines() == [f"crosspost: error: {folder / 'crosspost.toml'}: {UNSET}"]


def test_accounts_check_fails_only_the_account_without_its_secret(staff: Invoke, folder: Path) -> None:
    lines = staff("accounts", "--check", code=1).stderr.splitlines()
    assert f"✗ facebook: {folder / 'crosspost.toml'}: {UNSET}" in lines
    assert [line.split(":")[0] for line in lines[:-1]] == ["✗ twitter", "✗ facebook", "✗ vk"]  # closed ports


def test_a_retry_that_must_look_facebook_up_stops_and_changes_nothing(staff: Invoke, folder: Path) -> None:
    queue(staff, AGREEMENT, "--at", "now")
    test_resolve.stuck(folder, "facebook", "unknown")
    before = json.loads(staff("show", "1", "--json").stdout)
    result = staff("retry", "1", "--account", "facebook", code=1)
    assert error_line(result) == f"crosspost: error: {folder / 'crosspost.toml'}: {UNSET}"
    assert json.loads(staff("show", "1", "--json").stdout) == before  # not even a history row


def test_a_retry_without_a_look_up_needs_no_secret(staff: Invoke, folder: Path) -> None:
    queue(staff, AGREEMENT, "--at", "now")
    delivery_id = test_resolve.stuck(folder, "facebook", "unknown")
    staff("resolve", "1", "--account", "facebook", "--not-sent")  # a person checked: it is not public
    assert staff("retry", "1", "--account", "facebook").stdout == "post 1 facebook: back in the queue, due now\n"
    assert delivery_id


def test_notify_secrets_are_needed_only_to_send(folder: Path, run: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    config = folder / "crosspost.toml"
    config.write_text(config.read_text() + '\n[notify]\nurls = ["mailtos://u:${SMTP_PASSWORD}@mail.example.org"]\n')
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    run("upgrade")
    run("list")
    result = run("notify", "--test", code=1)
    assert error_line(result) == (
        f"crosspost: error: {config}: notify.urls[0]: environment variable SMTP_PASSWORD is not set; "
        "export SMTP_PASSWORD=... before running crosspost"
    )
    assert "SMTP_PASSWORD" in error_line(run("daemon", "--once", code=1))


# ---------------------------------------------------------------- finding the config


def test_the_config_is_found_in_a_folder_above(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder / "posts")
    result = CliRunner().invoke(cli, ["validate", Path(AGREEMENT).name])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{Path(AGREEMENT).name}: ok; to twitter (thread of 4), facebook, vk")


def test_no_config_anywhere_above_points_to_the_existing_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deep").mkdir()
    monkeypatch.chdir(tmp_path / "deep")
    monkeypatch.delenv("CROSSPOST_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"crosspost: error: no crosspost.toml in {tmp_path / 'deep'} or any folder above it; run crosspost in the "
        "folder that holds the config (or one below it), pass --config PATH or set CROSSPOST_CONFIG=PATH\n"
    )
    assert "copy" not in result.stderr  # never advice to make a second config


# ---------------------------------------------------------------- the database: made and migrated only on purpose


@pytest.mark.parametrize(
    "command", [["list"], ["list", "--json"], ["log"], ["log", "--json"], ["show", "1"], ["cancel", "1"]]
)
def test_read_commands_leave_no_database_behind(run: Invoke, folder: Path, command: list[str]) -> None:
    result = run(*command, code=1)
    assert result.stdout == ""
    assert result.stderr == (
        f"crosspost: error: database sqlite:///{folder / 'crosspost.db'} does not exist yet (nothing has been "
        "queued); create it with crosspost upgrade, or queue a post\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["crosspost.toml", "posts"]


def test_queue_creates_the_database_and_upgrade_says_what_it_did(run: Invoke, folder: Path) -> None:
    assert (
        run("upgrade").stdout
        == f"database sqlite:///{folder / 'crosspost.db'}: at schema {migrations.HEAD} (created)\n"
    )
    assert (
        run("upgrade").stdout == f"database sqlite:///{folder / 'crosspost.db'}: already at schema {migrations.HEAD}\n"
    )
    (folder / "crosspost.db").unlink()
    queue(run, AGREEMENT, "--at", "+1h")
    assert json.loads(run("list", "--json").stdout)[0]["id"] == 1


def _set_version(db: Path, version: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (version,))
    conn.close()


def test_an_older_database_is_migrated_only_by_upgrade(run: Invoke, folder: Path) -> None:
    db = folder / "crosspost.db"
    from crosspost.store.engine import make_engine

    engine = make_engine(f"sqlite:///{db}")
    from alembic import command
    from alembic.config import Config

    with engine.begin() as conn:  # a database as crosspost made it two versions ago
        config = Config()
        config.set_main_option("script_location", str(migrations.SCRIPT_LOCATION))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    for command_ in (["list"], ["log"], ["queue", AGREEMENT, "--at", "+1h"]):
        result = run(*command_, code=1)
        assert result.stderr == (
            f"crosspost: error: database sqlite:///{db} is at schema 0001, this crosspost needs {migrations.HEAD}; "
            "an admin runs crosspost upgrade once (the daemon's start does it too)\n"
        )
    assert migrations.sqlite_version(db) == "0001"
    assert run("upgrade").stdout == f"database sqlite:///{db}: at schema {migrations.HEAD} (upgraded from 0001)\n"
    run("list")


def test_a_newer_database_is_refused_in_one_line_by_every_command(run: Invoke, folder: Path) -> None:
    from crosspost import __version__

    run("upgrade")
    _set_version(folder / "crosspost.db", "0099")
    for command in (["list"], ["upgrade"], ["daemon", "--once"], ["queue", AGREEMENT, "--at", "+1h"]):
        result = run(*command, code=1)
        assert result.stderr == (
            f"crosspost: error: database sqlite:///{folder / 'crosspost.db'} is at schema 0099, newer than crosspost "
            f"{__version__} knows (up to {migrations.HEAD}); install the crosspost that upgraded it "
            "(pip install -U crosspost where it runs)\n"
        ), command
