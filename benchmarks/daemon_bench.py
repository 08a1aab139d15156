"""Daemon benchmarks (not a test): prints figures for BENCHMARKS.md.

Runs the real daemon process (``python -m crosspost --config CFG daemon``)
against the in-process sandbox, queueing through the store as ``crosspost
queue`` does, and measures:

1. lag from due time to the request reaching the sandbox, over 100 posts queued while the daemon runs;
2. one post to three accounts vs one account, with 300 ms sandbox latency per request (fan-out ratio);
3. 500 posts x 3 accounts due at once: total time and the daemon's peak RSS;
4. an idle daemon's CPU and RSS over 60 s.

Usage: .venv/bin/python benchmarks/daemon_bench.py [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crosspost.demo import demo_config
from crosspost.model import Draft
from crosspost.sandbox import Fault, Sandbox, build_sandbox
from crosspost.store.records import TERMINAL
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
POST_PATHS = {"twitter": "/2/tweets", "facebook": "/v24.0/1000000002/feed", "vk": "/method/wall.post"}
ACCOUNTS = ("twitter", "facebook", "vk")


class Bench:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="crosspost-bench-"))
        self.sandbox: Sandbox = build_sandbox()
        self.config = self.folder / "crosspost.toml"
        self.config.write_text(demo_config(self.sandbox.start(port=0)), encoding="utf-8")
        self.store = SqlStore(f"sqlite:///{self.folder / 'crosspost.db'}", self.folder / "media")
        self.n = 0

    def daemon(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crosspost", "--config", str(self.config), "daemon"],
            cwd=REPO,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(2.5)  # start-up: imports, adapters, first tick
        return proc

    def queue(self, accounts: tuple[str, ...], due: datetime) -> int:
        self.n += 1
        drafts = [Draft(a, a, (f"Benchmark post {self.n} {time.time()}",)) for a in accounts]
        return self.store.queue_post(
            title=f"b{self.n}", source="b.md", drafts=drafts, due_at=due, now=datetime.now(UTC)
        )

    def wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(r.status in TERMINAL for r in self.store.log()):
                return
            time.sleep(0.2)
        raise SystemExit("timed out waiting for deliveries")

    def requests(self, path: str) -> list[float]:
        with self.sandbox.lock:
            return sorted(r["at"] for r in self.sandbox.requests if r["path"] == path and r["method"] == "POST")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lag(bench: Bench) -> None:
    proc = bench.daemon()
    start = datetime.now(UTC) + timedelta(seconds=1)
    due: dict[str, list[float]] = {a: [] for a in ACCOUNTS}
    for i in range(100):
        account = ACCOUNTS[i % 3]
        at = start + timedelta(seconds=0.2 * i)
        bench.queue((account,), at)
        due[account].append(at.timestamp())
    bench.wait_all(60)
    lags = []
    for account, times in due.items():
        lags += [s - d for s, d in zip(bench.requests(POST_PATHS[account]), sorted(times), strict=True)]
    bench.stop(proc)
    print(
        f"lag due->request, 100 posts queued while running: median {statistics.median(lags) * 1000:.0f} ms, "
        f"worst {max(lags) * 1000:.0f} ms, earliest {min(lags) * 1000:.0f} ms (never negative: {min(lags) >= 0})"
    )


def fan_out(bench: Bench) -> None:
    """Due-to-sent time of one post to all three accounts against the slowest account alone.

    Accounts differ in requests per post, so the fair baseline is the slowest single account.
    """
    bench.sandbox.add_faults([Fault(path="^/(2|v24\\.0|method)/", delay=0.3, times=0)])
    proc = bench.daemon()
    bench.queue(ACCOUNTS, datetime.now(UTC))  # warm-up: first-post look-ups (Twitter's username) out of the way
    bench.wait_all(30)
    results = {}
    for label, accounts in (("3 accounts", ACCOUNTS), *((a, (a,)) for a in ACCOUNTS)):
        due = datetime.now(UTC) + timedelta(seconds=1)
        post = bench.queue(accounts, due)
        bench.wait_all(30)
        sent = [d.sent_at for d in bench.store.get_post(post).deliveries]
        results[label] = max((s - due).total_seconds() for s in sent if s)
    bench.stop(proc)
    bench.sandbox.clear_faults()
    single = {a: results[a] for a in ACCOUNTS}
    slowest = max(single.values())
    alone = ", ".join(f"{a} {t:.2f} s" for a, t in single.items())
    print(
        f"300 ms latency per request: due->sent alone: {alone}; all 3 in one post: {results['3 accounts']:.2f} s; "
        f"ratio to the slowest alone {results['3 accounts'] / slowest:.2f}"
    )


def backlog(bench: Bench) -> None:
    proc = bench.daemon()
    due = datetime.now(UTC) + timedelta(seconds=3)
    for _ in range(500):
        bench.queue(ACCOUNTS, due)
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    started = time.monotonic()
    bench.wait_all(600)
    total = time.monotonic() - started
    peak = rss_kib(proc.pid, "VmHWM")
    bench.stop(proc)
    sent = sum(1 for r in bench.store.log() if r.status == "sent")
    print(
        f"500 posts x 3 accounts due at once: all {sent} sent in {total:.1f} s "
        f"({1500 / total:.0f} deliveries/s), daemon peak RSS {peak / 1024:.0f} MiB"
    )


def idle(bench: Bench, seconds: float) -> None:
    proc = bench.daemon()
    cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(proc.pid) - cpu0
    wall = time.monotonic() - t0
    rss = rss_kib(proc.pid, "VmRSS")
    bench.stop(proc)
    print(
        f"idle daemon over {wall:.0f} s: CPU {cpu:.2f} s ({100 * cpu / wall:.2f} % of one core), "
        f"RSS {rss / 1024:.0f} MiB"
    )


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=60)
    args = parser.parse_args()
    print("machine:", machine())
    for step in (lag, fan_out, backlog):
        bench = Bench()
        step(bench)
        bench.store.close()
        bench.sandbox.stop()
    bench = Bench()
    idle(bench, args.idle_seconds)
    bench.sandbox.stop()


if __name__ == "__main__":
    main()
