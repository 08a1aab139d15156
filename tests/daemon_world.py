"""A harness for daemon processes on one database (SQLite or PostgreSQL) against the sandbox.

Several real ``crosspost daemon`` processes, the real adapters, the sandbox over
HTTP in the test process; posts stored through the real store. The sandbox's
request log (start time and duration of every request it served) is what the
"never two requests in flight for one account" assertions read.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from crosspost.demo import demo_config
from crosspost.model import Draft
from crosspost.sandbox import Sandbox
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = ("twitter", "facebook", "vk")
# The one request of each platform that makes a post.
PUBLISH = {"twitter": "/2/tweets", "facebook": "/feed", "vk": "wall.post"}


def crosspost_argv(*args: str, config: Path | None = None) -> list[str]:
    """The command line of ``python -m crosspost [--config CONFIG] ARGS``: for ``Popen``, or a run with pipes
    of its own."""
    options = ["--config", str(config)] if config is not None else []
    return [sys.executable, "-m", "crosspost", *options, *args]


def run_crosspost(
    *args: str,
    config: Path | None = None,
    stdin: str | None = None,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float | None = 60,
) -> subprocess.CompletedProcess[str]:
    """``crosspost [--config CONFIG] ARGS`` as a subprocess run to its end, ``stdin`` its input, its output
    captured as text; in the repository's root unless ``cwd`` says otherwise, in this process's environment
    unless ``env`` replaces it."""
    return subprocess.run(
        crosspost_argv(*args, config=config),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def empty_public_schema(url: str) -> None:
    """Empty the PostgreSQL database at ``url`` (its public schema): for tests whose daemon processes or
    settings name the bare URL, where conftest's per-test schema (a search_path option) would not reach."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


class Daemons:
    """A sandbox, a config on ``database`` pointing at it, and the daemon processes started on it."""

    def __init__(self, tmp: Path, sandbox: Sandbox, api_base: str, database: str) -> None:
        self.tmp = tmp
        self.sandbox = sandbox
        self.database = database
        self.config = tmp / "crosspost.toml"
        self.config.write_text(
            demo_config(api_base, database=database, request_timeout="2s", late_limit="10m"), encoding="utf-8"
        )
        self.config.chmod(0o600)
        (tmp / "posts").mkdir(exist_ok=True)
        self.procs: list[subprocess.Popen[str]] = []
        self.errs: dict[int, str] = {}

    def store(self) -> SqlStore:
        return SqlStore(self.database, self.tmp / "media")

    def queue_many(self, count: int, due: datetime, *, now: datetime) -> list[int]:
        """``count`` posts to every account, all due at ``due``, stored in-process (fast)."""
        with self.store() as store:
            return [
                store.queue_post(
                    title=f"post {i}",
                    source=f"p{i}.md",
                    drafts=[Draft(a, a, (f"News number {i} for {a}",)) for a in ACCOUNTS],
                    due_at=due,
                    now=now,
                )
                for i in range(count)
            ]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_crosspost(*args, config=self.config)

    def queue_cli(self, n: int, at: datetime, *accounts: str) -> int:
        """One post through the real ``crosspost queue`` (which nudges a running daemon)."""
        path = self.tmp / "posts" / f"cli{n}.md"
        path.write_text(f'+++\ntitle = "cli {n}"\n+++\nQueued while running, number {n}.\n', encoding="utf-8")
        done = self.cli("queue", str(path), "--at", at.isoformat(), *[x for a in accounts for x in ("--to", a)])
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def start(self) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            crosspost_argv("daemon", config=self.config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> dict[int, tuple[int, str]]:
        """SIGTERM every daemon still running; (exit status, stderr) by pid, killed ones included."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        results = {}
        for proc in self.procs:
            _, err = proc.communicate(timeout=30)
            results[proc.pid] = (proc.returncode, err)
        return results

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def running(self) -> bool:
        """Whether a daemon has taken the slot (it is past its start and timing its wake-ups)."""
        with self.store() as store:
            return store.daemon_status() is not None

    def senders(self) -> list[int]:
        """The pids of the daemons holding a claim now (a delivery ``sending`` under their lease)."""
        from sqlalchemy import select

        from crosspost.store.tables import deliveries

        with self.store() as store, store.engine.connect() as conn:
            query = select(deliveries.c.lease_owner).where(deliveries.c.status == "sending").distinct()
            owners = [o for o in conn.execute(query).scalars() if o and o.startswith("pid ")]
        return sorted(int(o.split()[1]) for o in owners)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.store() as store:
            for record in store.log():
                counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def wait_until(self, done: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out; statuses: {self.statuses()}")

    def published(self) -> dict[str, list[str]]:
        """The text of every post on each platform, in publishing order."""
        state = self.sandbox.state()
        return {a: [_text(p) for p in state[a]["posts"]] for a in ACCOUNTS}

    def publish_requests(self, account: str) -> list[tuple[float, float]]:
        """(start, end) of every publishing request the sandbox served for ``account``, by start."""
        with self.sandbox.lock:
            rows = [r for r in self.sandbox.requests if r["method"] == "POST" and PUBLISH[account] in r["path"]]
        return sorted((r["at"], r["at"] + r["seconds"]) for r in rows)


def _text(post: dict) -> str:
    for key in ("text", "message"):
        if isinstance(post.get(key), str):
            return post[key]
    return repr(post)


def overlaps(intervals: list[tuple[float, float]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Pairs of consecutive requests where the second started before the first was answered."""
    return [(a, b) for a, b in zip(intervals, intervals[1:], strict=False) if b[0] < a[1]]
