"""The real program in a subprocess: what each command imports (the contract's speed promise), and
``crosspost sandbox`` serving until SIGTERM.

Import rules (``python -X importtime -m crosspost ...`` lists every module loaded):
``--help``, ``validate`` and ``preview`` load no database layer, no platform library and no rich;
``list`` and ``log`` load no platform library, and (tables are drawn by crosspost.output) no rich.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from daemon_world import crosspost_argv

from crosspost.cli import cli

REPO = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = {"tweepy", "facebook", "vk_api", "requests", "requests_oauthlib", "oauthlib", "urllib3"}
DATABASE = {"sqlalchemy", "alembic"}
CONFIG = """\
[crosspost]
timezone = "Europe/Moscow"

[accounts.twitter]
platform = "twitter"
consumer_key = "ck-1234"
consumer_secret = "cs-1234"
access_token = "at-1234"
access_token_secret = "ats-1234"
api_base = "http://127.0.0.1:9"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "fb-1234"
api_base = "http://127.0.0.1:9"

[accounts.vk]
platform = "vk"
group_id = 123456
access_token = "vk-1234"
api_base = "http://127.0.0.1:9"
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config, the example posts, and a database holding one queued post."""
    folder = tmp_path_factory.mktemp("cli")
    shutil.copytree(REPO / "posts", folder / "posts")
    (folder / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
    config = str(folder / "crosspost.toml")
    result = CliRunner().invoke(cli, ["--config", config, "queue", str(folder / "posts/agreement-anniversary.md")])
    assert result.exit_code == 0, result.output
    return folder


def imported(folder: Path, *args: str) -> set[str]:
    """The top-level packages ``crosspost ARGS`` imports (it must succeed)."""
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crosspost", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 0, problems
    names = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "posts/agreement-anniversary.md"], ["preview", "posts/archive-exhibition.md"]],
    ids=["help", "validate", "preview"],
)
def test_fast_commands_load_no_database_platform_library_or_rich(folder: Path, args: list[str]) -> None:
    modules = imported(folder, *args)
    assert "crosspost" in modules
    assert modules & (PLATFORM_LIBRARIES | DATABASE | {"rich", "apscheduler"}) == set()


def test_help_loads_nothing_of_crosspost_but_the_cli(folder: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crosspost", "--help"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {n for n in names if n.startswith("crosspost.")} <= {
        "crosspost.cli",
        "crosspost.errors",
        "crosspost.__main__",
    }


@pytest.mark.parametrize("args", [["list"], ["log"], ["list", "--json"], ["log", "--csv"]], ids=" ".join)
def test_reading_commands_load_no_platform_library(folder: Path, args: list[str]) -> None:
    modules = imported(folder, *args)
    assert modules & (PLATFORM_LIBRARIES | {"apscheduler", "twitter_text", "markdown_it", "PIL", "rich"}) == set()


def test_sandbox_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        crosspost_argv("sandbox", "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("sandbox: serving the ") and "Telegram" in line
        assert " emulators on http://127.0.0.1:" in line
        url = line.split(" on ")[1].split(" ")[0]
        with urllib.request.urlopen(url + "/_sandbox/state", timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sandbox_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["sandbox", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"crosspost: error: cannot listen on 127.0.0.1:{port} (Address already in use); "
        "pass --port N with a free port\n"
    )


def test_demo_runs_end_to_end() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("all sent; the sandbox page was http://127.0.0.1:")
