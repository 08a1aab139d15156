"""The sysadmin path: the systemd unit, journald priorities, and the production layout with two OS users.

The two-user test runs the real CLI as two real OS users (made with groupadd/useradd, removed after):
the daemon's user and a staffer in its group, the staffer without any secret, the daemon publishing
the staffer's images to the sandbox over HTTP. It needs root (skipped otherwise) and a Python the
other users may run (the venv's may sit under /root).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_world import crosspost_argv

from crosspost import journal
from crosspost.demo import demo_config

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "contrib" / "crosspost.service"
README = (REPO / "README.md").read_text(encoding="utf-8")
EXHIBITION = REPO / "posts" / "archive-exhibition.md"  # two images


def unit_settings() -> dict[str, str]:
    return dict(line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^[A-Za-z]+=", line))


# ---------------------------------------------------------------- the unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # The unit as installed, with ExecStart at this test's crosspost (verify checks it is executable).
    crosspost = Path(sys.executable).with_name("crosspost")
    text = UNIT.read_text().replace("/opt/crosspost/bin/crosspost", str(crosspost))
    (tmp_path / "crosspost.service").write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "crosspost.service")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "crosspost.service" not in done.stdout + done.stderr  # no warning about the unit either


def test_the_unit_stops_after_the_longest_request_and_shares_files_with_the_group() -> None:
    from crosspost.config import load_config

    settings = unit_settings()
    example = load_config(REPO / "config.example.toml", {})  # no secrets needed to read the defaults
    # The daemon lets a request in flight finish (request_timeout + 5 s); systemd must wait longer.
    assert int(settings["TimeoutStopSec"]) == example.request_timeout + 15
    assert settings["UMask"] == "0007"
    assert settings["SyslogLevelPrefix"] == "yes"
    assert settings["ExecStart"].startswith("/opt/crosspost/bin/crosspost ")  # outside /home: ProtectHome=yes
    assert settings["ProtectHome"] == "yes"
    assert settings["ReadWritePaths"] == "/var/lib/crosspost"


def test_the_readme_creates_what_the_unit_runs() -> None:
    section = README.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for step in (
        "sudo apt install python3-venv",
        "sudo python3 -m venv /opt/crosspost",
        "sudo /opt/crosspost/bin/pip install",
        "sudo groupadd --system crosspost",
        "sudo install -d -o crosspost -g crosspost -m 2770 /var/lib/crosspost",
        "sudo usermod -aG crosspost",
        "crosspost upgrade",
        "crosspost backup",
        "crosspost prune --before 1y",
        "pg_dump",
        "TimeoutStopSec",
    ):
        assert step in section, step


def _production_steps() -> Any:
    """contrib/production-check's README reader (its folder name is no package name)."""
    path = REPO / "contrib" / "production-check" / "production_check" / "steps.py"
    spec = importlib.util.spec_from_file_location("production_check_steps", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_production_check_runs_every_readme_step_and_its_own_part_where_meant() -> None:
    check = _production_steps()
    blocks = check.production_blocks(README)
    # Each numbered step that has commands has them in a block the check runs, in this order.
    assert [b.step for b in blocks] == [1, 2, 3, 4, 5, 5, 6, 9, 9, 10, 11]
    code = "\n".join(b.code for b in blocks)
    for command in (
        "sudo apt update",
        "sudo python3 -m venv /opt/crosspost",
        "crosspost.toml upgrade",
        "prune --before 1y",
        "backup /var/lib/crosspost/backup-",
        "sudo systemctl stop crosspost",
    ):
        assert command in code, command
    assert [b.step for b in blocks if b.as_staff] == [5, 6]  # alice's blocks, run without sudo
    for anchor, steps in (
        (check.SECRETS_FILE, [4]),
        (check.DAEMON_STARTED, [5]),
        (check.STAFF_QUEUED, [5]),
        (check.RESTORE, [9]),
        (check.UPGRADE, [11]),
        (check.RESTARTED, [9, 11]),
    ):
        assert [b.step for b in blocks if anchor in b.code] == steps, anchor


# ---------------------------------------------------------------- journald


def test_each_line_carries_its_priority_for_journald() -> None:
    assert journal.prefixed("level=warning event=claim reason=x") == "<4>level=warning event=claim reason=x"
    assert journal.prefixed("level=error event=notice") == "<3>level=error event=notice"
    assert journal.prefixed("level=info event=start") == "<6>level=info event=start"
    assert journal.prefixed("crosspost: error: not every delivery was sent") == (
        "<3>crosspost: error: not every delivery was sent"
    )
    assert journal.prefixed("crosspost: warning: x") == "<4>crosspost: warning: x"


def _daemon_once(folder: Path, journal_stream: bool) -> list[str]:
    err = folder / f"stderr-{journal_stream}.txt"
    with err.open("w") as stream:
        env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml")}
        env.pop("JOURNAL_STREAM", None)
        if journal_stream:  # what systemd sets: the device and inode of the stream it connected
            st = os.fstat(stream.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run(
            crosspost_argv("daemon", "--once"),
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stream,
            timeout=120,
        )
    return err.read_text().splitlines()


def test_the_daemon_prefixes_priorities_only_when_its_stderr_is_the_journal(tmp_path: Path) -> None:
    # Every account on the discard port: each delivery fails or retries, so warnings and errors appear.
    (tmp_path / "crosspost.toml").write_text(demo_config("http://127.0.0.1:9", request_timeout="2s"))
    (tmp_path / "crosspost.toml").chmod(0o600)
    (tmp_path / "post.md").write_text('+++\ntitle = "t"\n+++\nHello.\n')
    env = {**os.environ, "CROSSPOST_CONFIG": str(tmp_path / "crosspost.toml")}
    subprocess.run(crosspost_argv("queue", "post.md", "--at", "now"), cwd=tmp_path, env=env, check=True)
    lines = _daemon_once(tmp_path, journal_stream=True)
    assert lines
    for line in lines:
        match = re.match(r"<(\d)>(?:level=(\w+)|crosspost: (\w+))", line)
        assert match, line
        assert int(match.group(1)) == journal.PRIORITY[match.group(2) or match.group(3)], line
    assert {line[:3] for line in lines} >= {"<6>", "<3>"} or {line[:3] for line in lines} >= {"<6>", "<4>"}
    assert not any(line.startswith("<") for line in _daemon_once(tmp_path, journal_stream=False))


# ---------------------------------------------------------------- two OS users


def _shared_python() -> str | None:
    """A Python of this version that any user may run: this one, unless it sits in a closed folder."""
    here = Path(os.path.realpath(sys.executable))
    if all(p.stat().st_mode & 0o001 for p in here.parents):
        return str(here)
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    return str(system) if system.is_file() else None


@pytest.fixture
def two_users() -> Iterator[tuple[str, str, str]]:
    """(group, daemon user, staff user), made for this test and removed after it."""
    if os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("needs root, useradd and runuser")
    tag = uuid.uuid4().hex[:6]
    group, daemon, staff = f"cpg{tag}", f"cpd{tag}", f"cps{tag}"
    subprocess.run(["groupadd", "--system", group], check=True)
    try:
        subprocess.run(["useradd", "--system", "--gid", group, "--no-create-home", daemon], check=True)
        subprocess.run(["useradd", "--no-create-home", "--groups", group, staff], check=True)
        yield group, daemon, staff
    finally:
        for user in (staff, daemon):
            subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)
        subprocess.run(["groupdel", staff], capture_output=True)


def test_staff_and_the_daemon_share_the_database_and_media_as_two_users(two_users: tuple[str, str, str]) -> None:
    from crosspost.sandbox import build_sandbox

    group, daemon, staff = two_users
    python = _shared_python()
    if python is None:
        pytest.skip("no Python that other users may run")
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    base = Path(tempfile.mkdtemp(prefix="crosspost-prod-"))
    base.chmod(0o755)
    data = base / "var-lib-crosspost"  # README: install -d -o crosspost -g crosspost -m 2770
    data.mkdir()
    shutil.chown(data, daemon, group)
    data.chmod(0o2770)
    posts = base / "staff-posts"  # the staffer's own checkout, private to them but for the group's read
    shutil.copytree(REPO / "posts", posts)
    subprocess.run(["chown", "-R", f"{staff}:{staff}", str(posts)], check=True)
    for path in [posts, *posts.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o600)  # the images 0600: only crosspost's copies are shared
    box = build_sandbox()
    api = box.start(0)
    try:
        config = base / "crosspost.toml"
        text = demo_config(
            api,
            credentials={"facebook": {"page_id": "1000000002", "page_access_token": "${FACEBOOK_PAGE_TOKEN}"}},
            database=str(data / "crosspost.db"),
            posts_dir=str(posts),
        )
        config.write_text(text)
        shutil.chown(config, "root", group)
        config.chmod(0o640)
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{site}:{REPO}",
            "CROSSPOST_CONFIG": str(config),
            "HOME": str(base),
        }

        def as_user(
            user: str, umask: str, *args: str, secret: bool = False, code: int = 0
        ) -> subprocess.CompletedProcess[str]:
            extra = {"FACEBOOK_PAGE_TOKEN": "EAAsandboxpagetoken"} if secret else {}
            command = f"umask {umask} && exec {python} -m crosspost " + " ".join(f"'{a}'" for a in args)
            done = subprocess.run(
                [runuser, "-u", user, "--", "/bin/sh", "-c", command],
                env={**env, **extra},
                cwd=posts,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == code, (args, done.stdout, done.stderr)
            return done

        as_user(daemon, "0007", "upgrade")  # the admin's step, as the unit's user and UMask
        # The staffer: an ordinary umask, no secret at all.
        as_user(staff, "0022", "validate", EXHIBITION.name)
        as_user(staff, "0022", "queue", EXHIBITION.name, "--at", "now")
        as_user(staff, "0022", "list")
        media = data / "media"
        copies = list(media.iterdir())
        assert len(copies) == 2
        assert stat.S_IMODE(media.stat().st_mode) == 0o2770
        for copy in copies:
            assert stat.S_IMODE(copy.stat().st_mode) == 0o660
            assert copy.group() == group
        db = data / "crosspost.db"
        assert (stat.S_IMODE(db.stat().st_mode), db.group()) == (0o660, group)
        # The daemon, another user, reads the staffer's copies and publishes them.
        as_user(daemon, "0007", "daemon", "--once", secret=True)
        rows = json.loads(as_user(staff, "0022", "log", "--json").stdout)
        assert {r["status"] for r in rows} == {"sent"}, rows
        for leftover in (data / "crosspost.db-wal", data / "crosspost.db-shm"):
            if leftover.exists():
                assert stat.S_IMODE(leftover.stat().st_mode) & 0o060 == 0o060, leftover
        # A second staffer's queue after the daemon ran: the WAL and SHM files are shared too.
        as_user(staff, "0022", "queue", "national-day-reception-ru.md", "--at", "+1d")
        as_user(daemon, "0007", "list")
    finally:
        box.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------- a fresh venv

# Python 3.12+ venvs have no setuptools, so no pkg_resources, which twitter_text imports: every
# import of it must go through crosspost.text_library's stand-in. Found by contrib/production-check:
# `crosspost sandbox` failed on a fresh trixie install with "No module named 'pkg_resources'".
WITHOUT_SETUPTOOLS = """
import importlib.abc, sys
class NoSetuptools(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pkg_resources":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoSetuptools())
"""


def test_the_sandbox_the_x_adapter_and_x_checks_need_no_setuptools(tmp_path: Path) -> None:
    (tmp_path / "crosspost.toml").write_text(demo_config("http://127.0.0.1:9"))
    (tmp_path / "post.md").write_text('+++\ntitle = "t"\nlink = "https://example.org/a"\n+++\nHello.\n')
    code = WITHOUT_SETUPTOOLS + (
        "import crosspost.platforms.twitter.adapter\n"
        "from crosspost.sandbox import build_sandbox\n"
        "build_sandbox()\n"
        "from crosspost.cli import main\n"
        "sys.argv = ['crosspost', '--config', 'crosspost.toml', 'validate', 'post.md']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pkg_resources" not in done.stdout + done.stderr
