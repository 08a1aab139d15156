"""The harness shared by every reliability part: a sandbox with distinctive credentials, a config, the CLI.

A :class:`World` is one temporary folder with a config whose four accounts (one per platform)
point ``api_base`` at an in-process sandbox (127.0.0.1, a free port). The
credentials are distinctive values the sandbox accepts, given to crosspost
through ``${VAR}`` from the environment of each subprocess, so that afterwards
:meth:`World.scan` can look for them (and for every OAuth signature the sandbox
saw) in everything crosspost wrote: stdout, stderr, the database and its WAL.

Nothing here patches crosspost: the CLI and the daemon run as subprocesses
(``python -m crosspost``), and faults come from the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from crosspost.demo import demo_config
from crosspost.platforms import spec_for
from crosspost.sandbox import Fault, Sandbox, build_sandbox
from crosspost.store.records import DeliveryRecord
from crosspost.store.sql import SqlStore

# Distinctive values: long, random-looking, and never produced by anything but a leak.
CREDENTIALS: dict[str, dict[str, str]] = {
    "twitter": {
        "consumer_key": "ckRELIAB7q2Wx9VbN4mZp0TtY",
        "consumer_secret": "csRELIAB3hJ8kLq1ZxC6vB0nM5aSdF7gH2jK4lP9oI3uY",
        "access_token": "1000000777-atRELIAB5tG8yH1uJ4iK7oL0pZ3xC6vB9nM2qW",
        "access_token_secret": "tsRELIAB9oP2iU5yT8rE1wQ4aS7dF0gH3jK6lZx",
    },
    "facebook": {"page_id": "1000000002", "page_access_token": "EAAreliabPgTok7Xq3Zv9Wm2Kp5Ln8Rt1Ys4Hb6Jd0Gf"},
    "vk": {"group_id": "1000003", "access_token": "vk1.a.RELIABvkTok4Nq8Xw2Zp6Lm0Kt3Rb7Yd1Hs5Jf9Gc"},
    "telegram": {"bot_token": "7000000777:AAreliabTgTok3Zq8Xv2Wm6Kp0Ln4Rt", "chat_id": "@reliability_channel"},
}
ENV = {
    "RELIAB_TW_CONSUMER_KEY": CREDENTIALS["twitter"]["consumer_key"],
    "RELIAB_TW_CONSUMER_SECRET": CREDENTIALS["twitter"]["consumer_secret"],
    "RELIAB_TW_ACCESS_TOKEN": CREDENTIALS["twitter"]["access_token"],
    "RELIAB_TW_ACCESS_TOKEN_SECRET": CREDENTIALS["twitter"]["access_token_secret"],
    "RELIAB_FB_TOKEN": CREDENTIALS["facebook"]["page_access_token"],
    "RELIAB_VK_TOKEN": CREDENTIALS["vk"]["access_token"],
    "RELIAB_TG_TOKEN": CREDENTIALS["telegram"]["bot_token"],
}
SECRETS = tuple(ENV.values())
# The request that publishes, per platform (a fault on it hits the post itself, not a look-up).
PLATFORMS = tuple(CREDENTIALS)
PUBLISH_PATH = {p: spec_for(p).publish_path for p in PLATFORMS}
# The look-up request, on platforms that have one (Telegram has none: the pattern matches no path).
LOOKUP_PATH = {
    "twitter": r"^/2/users/\d+/tweets$",
    "facebook": r"^/v[\d.]+/\d+/feed$",
    "vk": r"^/method/wall\.get$",
    "telegram": r"^$",
}
LOOKUP_METHOD = {"twitter": "GET", "facebook": "GET", "vk": "", "telegram": ""}
# The image upload, per platform (Telegram has none apart from the post: sendPhoto, sendMediaGroup).
UPLOAD_PATH = {
    "twitter": r"^/2/media/upload",
    "facebook": r"^/v[\d.]+/\d+/photos$",
    "vk": r"^/upload/vk/",
    "telegram": r"^/bot[^/]+/send(Photo|MediaGroup)$",
}
# Platforms whose look-up cannot settle an ambiguous try: there it ends "unknown", by design.
BLIND = frozenset(p for p in PLATFORMS if not spec_for(p).can_look_up)
TERMINAL = frozenset({"sent", "failed", "unknown", "missed", "cancelled"})
_SIGNATURE = re.compile(r'oauth_signature="([^"]+)"')


def config_text(api_base: str, *, literal: bool = False, **main: str | int) -> str:
    """A config with one account per platform on the sandbox; ``literal`` writes the secrets in the file."""
    refs = {
        "twitter": {
            "consumer_key": "RELIAB_TW_CONSUMER_KEY",
            "consumer_secret": "RELIAB_TW_CONSUMER_SECRET",
            "access_token": "RELIAB_TW_ACCESS_TOKEN",
            "access_token_secret": "RELIAB_TW_ACCESS_TOKEN_SECRET",
        },
        "facebook": {"page_access_token": "RELIAB_FB_TOKEN"},
        "vk": {"access_token": "RELIAB_VK_TOKEN"},
        "telegram": {"bot_token": "RELIAB_TG_TOKEN"},
    }
    credentials = {
        platform: {**CREDENTIALS[platform], **{k: ENV[v] if literal else "${" + v + "}" for k, v in keys.items()}}
        for platform, keys in refs.items()
    }
    return demo_config(api_base, credentials=credentials, **main)


@dataclass
class Output:
    """Something crosspost wrote, kept for the secrets scan."""

    label: str
    data: bytes


@dataclass
class World:
    """One temporary folder: a sandbox, a config, a database; the CLI as subprocesses."""

    name: str = "world"
    main: dict[str, Any] = field(default_factory=dict)
    literal: bool = False
    keep: bool = False
    # A PostgreSQL server's URL: the world's database is then a new schema there (dropped at close).
    # Empty: a SQLite file in the folder.
    postgres: str = ""

    def __post_init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"crosspost-reliab-{self.name}-"))
        self.schema = ""
        self.database_url = f"sqlite:///{self.db}"
        if self.postgres:
            from benchmarks.reliability.postgres import new_schema

            self.schema, self.database_url = new_schema(self.postgres, f"reliab_{self.name}")
            self.main = {**self.main, "database": self.database_url}
        self.sandbox = build_sandbox(credentials=CREDENTIALS)
        self.signatures: set[str] = set()
        self._watch_signatures()
        self.api_base = self.sandbox.start(port=0)
        self.config = self.folder / "crosspost.toml"
        self.config.write_text(config_text(self.api_base, literal=self.literal, **self.main), encoding="utf-8")
        self.config.chmod(0o600)
        (self.folder / "posts").mkdir()
        (self.folder / "logs").mkdir()
        self.env = {k: v for k, v in os.environ.items() if k != "CROSSPOST_CONFIG"}
        self.env.update(ENV)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.outputs: list[Output] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_files: list[Path] = []
        self.count = 0
        self.cli_calls = 0

    # ------------------------------------------------------------ the sandbox
    def _watch_signatures(self) -> None:
        """Remember every OAuth 1.0a signature the sandbox receives (the sandbox is the test double)."""
        take = self.sandbox.take_fault
        self.started_requests = 0
        self.started_by_platform: Counter[str] = Counter()
        self.publishes_begun: Counter[str] = Counter()  # publishing requests (PUBLISH_PATH), by platform
        self._done_by_platform: Counter[str] = Counter()
        self._done_seen = 0

        def watching(request: Any) -> Any:
            platform = platform_of(self.sandbox, request.path)
            with self.sandbox.lock:  # handler threads race here: a lost count would be a false "in flight"
                self.started_requests += 1
                self.started_by_platform[platform] += 1
                if platform and request.method == "POST" and re.search(PUBLISH_PATH[platform], request.path):
                    self.publishes_begun[platform] += 1
            for sig in _SIGNATURE.findall(request.headers.get("authorization", "")):
                self.signatures.add(unquote(sig))
                self.signatures.add(sig)
            return take(request)

        self.sandbox.take_fault = watching  # type: ignore[method-assign]

    def fault(self, **fields: Any) -> None:
        self.sandbox.add_faults([Fault(**fields)])

    def in_flight(self) -> int:
        """Requests the sandbox has begun (fault looked up) but not yet answered or dropped."""
        with self.sandbox.lock:
            return self.started_requests - len(self.sandbox.requests)

    def in_flight_by_platform(self) -> dict[str, int]:
        """:meth:`in_flight` per platform (each platform is one account here), those with any."""
        with self.sandbox.lock:
            # The log only grows (nothing here resets the sandbox): count the new rows alone.
            new = self.sandbox.requests[self._done_seen :]
            self._done_seen += len(new)
            started = Counter(self.started_by_platform)
        self._done_by_platform.update(platform_of(self.sandbox, r["path"]) for r in new)
        return {p: n for p, n in (started - self._done_by_platform).items() if n > 0}

    def posts(self, platform: str) -> list[dict[str, Any]]:
        return self.sandbox.state()[platform]["posts"]

    # ------------------------------------------------------------ the CLI
    def cli(self, *args: str, timeout: float = 120, label: str | None = None) -> subprocess.CompletedProcess[bytes]:
        self.cli_calls += 1
        done = subprocess.run(
            [sys.executable, "-m", "crosspost", "--config", str(self.config), *args],
            capture_output=True,
            cwd=self.folder,
            env=self.env,
            timeout=timeout,
        )
        tag = label or " ".join(args[:2])
        self.outputs.append(Output(f"{tag} stdout", done.stdout))
        self.outputs.append(Output(f"{tag} stderr", done.stderr))
        return done

    def daemon(self, *args: str) -> subprocess.Popen[bytes]:
        """``crosspost daemon`` in the background; its stdout and stderr go to files kept for the scan."""
        n = len(self.procs)
        out = self.folder / "logs" / f"daemon-{n}.out"
        err = self.folder / "logs" / f"daemon-{n}.err"
        self.log_files += [out, err]
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [sys.executable, "-m", "crosspost", "--config", str(self.config), "daemon", *args],
                stdout=o,
                stderr=e,
                cwd=self.folder,
                env=self.env,
            )
        self.procs.append(proc)
        return proc

    def daemon_stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.folder / "logs" / f"daemon-{self.procs.index(proc)}.err").read_text("utf-8", "replace")

    def log_json(self) -> list[dict[str, Any]]:
        done = self.cli("log", "--json")
        if done.returncode != 0:
            raise RuntimeError(f"crosspost log --json failed: {done.stderr.decode('utf-8', 'replace')}")
        return json.loads(done.stdout)

    def show_json(self, post_id: int) -> dict[str, Any]:
        done = self.cli("show", str(post_id), "--json")
        if done.returncode != 0:
            raise RuntimeError(f"crosspost show failed: {done.stderr.decode('utf-8', 'replace')}")
        return json.loads(done.stdout)

    # ------------------------------------------------------------ posts
    def write_post(self, body: str, *, title: str | None = None, extra: str = "", name: str | None = None) -> Path:
        self.count += 1
        path = self.folder / "posts" / (name or f"p{self.count}.md")
        head = f"title = {json.dumps(title or f'post {self.count}')}\n{extra}"
        path.write_text(f"+++\n{head}+++\n{body}\n", encoding="utf-8")
        return path

    def queue_cli(self, path: Path, *args: str) -> int:
        done = self.cli("queue", str(path), *args)
        if done.returncode != 0:
            raise RuntimeError(f"crosspost queue failed: {done.stderr.decode('utf-8', 'replace')}")
        return int(done.stdout.strip())

    def queue_inprocess(self, items: Iterable[tuple[Path, datetime]]) -> list[int]:
        """Queue many post files the way ``crosspost queue`` does (parse, render, one transaction each), fast."""
        from crosspost.config import load_config
        from crosspost.posts import load_drafts

        settings = load_config(self.config, self.env)
        ids = []
        with self.store() as store:
            now = datetime.now(UTC)
            for path, due in items:
                parsed, drafts = load_drafts(path, settings, now=now)
                ids.append(store.queue_post(title=parsed.title, source=str(path), drafts=drafts, due_at=due, now=now))
        return ids

    # ------------------------------------------------------------ the database
    @property
    def db(self) -> Path:
        return self.folder / "crosspost.db"

    @contextmanager
    def store(self) -> Iterator[SqlStore]:
        store = SqlStore(self.database_url, self.folder / "media")
        try:
            yield store
        finally:
            store.close()

    def deliveries(self) -> list[DeliveryRecord]:
        with self.store() as store:
            return store.log()

    def settle(self, *, max_runs: int = 8, max_wait: float = 20.0) -> list[subprocess.CompletedProcess[bytes]]:
        """``daemon --once`` until nothing is pending or retrying (bounded); waits for each next try.

        A run that stopped with a request still in flight (its drain is bounded; on a loaded machine a
        slow answer outlasts it) leaves that delivery ``sending`` under its lease: the next run may take
        it over only after the lease and the take-over margin, so wait that long rather than spend runs."""
        from crosspost.config import load_config
        from crosspost.daemon.presence import LEASE_SECONDS
        from crosspost.delivery.policy import TAKEOVER_MARGIN

        timeout = load_config(self.config, self.env).request_timeout
        takeover = LEASE_SECONDS + timeout + TAKEOVER_MARGIN.total_seconds() + 0.5
        runs = []
        for _ in range(max_runs):
            runs.append(self.cli("daemon", "--once", label="daemon --once"))
            waiting = [d for d in self.deliveries() if d.status not in TERMINAL]
            if not waiting:
                break
            now = datetime.now(UTC)
            due = [d.next_try_at or d.due_at for d in waiting]
            pause = max(0.05, max((t - now).total_seconds() for t in due) + 0.1)
            if any(d.status == "sending" for d in waiting):
                pause = max(pause, takeover)
            time.sleep(min(max(max_wait, takeover), pause))
        return runs

    # ------------------------------------------------------------ secrets
    def written_files(self) -> list[Path]:
        """Every file crosspost wrote: the database (and WAL/SHM), media copies, daemon logs."""
        skip = {self.config}
        found = [p for p in self.folder.rglob("*") if p.is_file() and p not in skip]
        return [p for p in found if not p.is_relative_to(self.folder / "posts")]

    def scan(self) -> list[str]:
        """Where a secret or an OAuth signature appears in what crosspost wrote (empty: clean)."""
        needles = needles_for(list(SECRETS), sorted(self.signatures))
        findings: list[str] = []
        for out in [*self.outputs, *self._database_dump()]:
            findings += [f"{out.label}: {what}" for what in search(out.data, needles)]
        for path in self.written_files():
            findings += [f"{path.relative_to(self.folder)}: {what}" for what in search(path.read_bytes(), needles)]
        return findings

    def scanned(self) -> tuple[int, int]:
        """(how many outputs and files, how many bytes) :meth:`scan` looked through."""
        files = self.written_files()
        outputs = [*self.outputs, *self._database_dump()]
        size = sum(len(o.data) for o in outputs) + sum(p.stat().st_size for p in files)
        return len(outputs) + len(files), size

    def _database_dump(self) -> list[Output]:
        """PostgreSQL: the schema's rows (a SQLite database is a file in the folder, scanned as such)."""
        if not self.schema:
            return []
        from benchmarks.reliability.postgres import dump

        return [Output(f"database schema {self.schema}", dump(self.database_url))]

    # ------------------------------------------------------------ the end
    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.sandbox.stop()
        if self.schema and not self.keep:
            from benchmarks.reliability.postgres import drop_schema

            drop_schema(self.postgres, self.schema)
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def platform_of(sandbox: Sandbox, path: str) -> str:
    """The platform whose emulator serves ``path`` ("" for none)."""
    return next((e.name for e in sandbox.emulators if e.owns(path)), "")


def needles_for(secrets: list[str], signatures: list[str], window: int = 12) -> list[tuple[str, bytes]]:
    """What to look for: each secret whole and every ``window``-long piece of it (a cut-off leak is a
    leak), in UTF-8 and URL-encoded forms; each signature whole."""
    from urllib.parse import quote

    out: list[tuple[str, bytes]] = []
    for s in secrets:
        name = f"secret {s[:6]}…"
        pieces = {s[i : i + window] for i in range(0, max(1, len(s) - window + 1))}
        out += [(name, p.encode()) for p in sorted(pieces)]
        if quote(s, safe="") != s:
            out.append((name, quote(s, safe="").encode()))
    for sig in signatures:
        if len(sig) >= 16:
            out.append((f"OAuth signature {sig[:6]}…", sig.encode()))
    return out


def search(data: bytes, needles: list[tuple[str, bytes]]) -> list[str]:
    seen: set[str] = set()
    for name, needle in needles:
        if name not in seen and needle in data:
            seen.add(name)
    return sorted(seen)


def machine() -> dict[str, str]:
    import platform

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def rss_kib(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (Linux /proc), None if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def has_traceback(text: bytes | str) -> bool:
    t = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return "Traceback (most recent call last)" in t or "internal error" in t
