"""Part 5, concurrency and load.

1. Hammer: while a daemon publishes, threads run CLI commands (queue, cancel,
   reschedule, retry, log, list) as fast as they can for a while. No command may
   print "database is locked", a traceback or an internal error; refusals that
   are the contract's own (nothing to retry, ...) are counted apart.
2. A second daemon against the same database refuses (``daemon`` and
   ``daemon --once``), and of two started at the same moment exactly one runs.
3. 10,000 posts and 1,000,000 attempt rows (``benchmarks/store_load.py``'s
   builder): ``log`` with each filter and ``list``, timed as a user runs them (a
   fresh ``crosspost`` process) and in process.
4. The daemon's memory while posts keep coming: RSS sampled every second.
"""

from __future__ import annotations

import json
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.reliability.common import PLATFORMS, TERMINAL, World, has_traceback, rss_kib

LEGIT = ("nothing to retry", "no post", "not found", "no such post", "left as it is")


def hammer(seconds: float, threads: int = 4, out: Callable[[str], None] = print) -> dict[str, Any]:
    with World("hammer") as world:
        seed = [world.write_post(f"Hammer seed post {i}, queued before the daemon starts.") for i in range(10)]
        ids = world.queue_inprocess((p, datetime.now(UTC) + timedelta(seconds=i)) for i, p in enumerate(seed))
        daemon = world.daemon()
        time.sleep(2.0)
        second = second_daemon(world)
        lock = threading.Lock()
        counts: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        problems: list[str] = []
        durations: dict[str, list[float]] = {}
        stop_at = time.monotonic() + seconds

        def worker(n: int) -> None:
            rnd = random.Random(n)
            while time.monotonic() < stop_at:
                with lock:
                    known = list(ids)
                pick = str(rnd.choice(known))
                kind = rnd.choice(["queue", "queue", "cancel", "reschedule", "retry", "log", "log", "list"])
                if kind == "queue":
                    with lock:
                        path = world.write_post(f"Hammer post by worker {n} at {time.time_ns()}.")
                    args = ["queue", str(path), "--at", rnd.choice(["now", "+2s", "+5s", "+1h"])]
                elif kind == "cancel":
                    args = ["cancel", pick]
                elif kind == "reschedule":
                    args = ["reschedule", pick, rnd.choice(["now", "+3s", "+1h"])]
                elif kind == "retry":
                    args = ["retry", pick]
                elif kind == "log":
                    filters = [[], ["--status", "sent"], ["--account", "vk"], ["--post", pick], ["--since", "1h"]]
                    args = ["log", rnd.choice(["--json", "--csv"]), *rnd.choice(filters)]
                else:
                    args = ["list", "--json"]
                t = time.monotonic()
                done = world.cli(*args, label=f"hammer {kind}")
                took = time.monotonic() - t
                err = done.stderr.decode("utf-8", "replace")
                with lock:
                    counts[kind] += 1
                    durations.setdefault(kind, []).append(took)
                    if kind == "queue" and done.returncode == 0:
                        ids.append(int(done.stdout))
                    if "locked" in err.lower() or has_traceback(err) or done.returncode not in (0, 1):
                        problems.append(f"{' '.join(args[:2])}: exit {done.returncode}: {err.strip()[-300:]}")
                    elif done.returncode == 1:
                        if any(word in err for word in LEGIT):
                            refusals[kind] += 1
                        else:
                            problems.append(f"{' '.join(args[:2])}: exit 1: {err.strip()[-300:]}")

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        # Let the daemon finish what is due now, then stop it.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            if all(d.status in TERMINAL or d.due_at > now + timedelta(seconds=30) for d in world.deliveries()):
                break
            time.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
        err = world.daemon_stderr(daemon)
        statuses = Counter(d.status for d in world.deliveries())
        dup = 0
        for p in PLATFORMS:
            texts = Counter(x.get("text") for x in world.posts(p))
            dup += sum(c - 1 for c in texts.values() if c > 1)
        result = {
            "seconds": seconds,
            "threads": threads,
            "commands": dict(counts),
            "commands_total": sum(counts.values()),
            "refusals": dict(refusals),
            "problems": problems[:20],
            "problem_count": len(problems),
            "median_seconds": {k: round(statistics.median(v), 2) for k, v in durations.items()},
            "daemon_exit": code,
            "daemon_locked_lines": sum(1 for line in err.splitlines() if "locked" in line.lower()),
            "daemon_warnings": [line for line in err.splitlines() if "level=warning" in line or "level=error" in line][
                :10
            ],
            "daemon_traceback": has_traceback(err),
            "statuses": dict(statuses),
            "duplicates": dup,
            "second_daemon": second,
            "leaks": world.scan(),
            "scanned": world.scanned(),
        }
    return result


def second_daemon(world: World) -> dict[str, Any]:
    """While a daemon runs: ``daemon --once`` and ``daemon`` must both refuse, exit 1, in a few seconds."""
    out: dict[str, Any] = {}
    for args in (("daemon", "--once"), ("daemon",)):
        t = time.monotonic()
        try:
            done = world.cli(*args, timeout=30, label="second " + " ".join(args))
        except subprocess.TimeoutExpired:
            out[" ".join(args)] = {"exit": None, "message": "did not refuse within 30 s", "ok": False}
            continue
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or [""])[-1]
        out[" ".join(args)] = {
            "exit": done.returncode,
            "seconds": round(time.monotonic() - t, 2),
            "message": last,
            "ok": done.returncode == 1 and "another crosspost daemon" in last,
        }
    return out


def simultaneous_daemons() -> dict[str, Any]:
    """Two ``crosspost daemon`` started at the same moment on one database: exactly one keeps running."""
    with World("twodaemons") as world:
        world.queue_inprocess([(world.write_post("One post for two daemons."), datetime.now(UTC))])
        a, b = world.daemon(), world.daemon()
        time.sleep(6)
        alive = [p for p in (a, b) if p.poll() is None]
        exited = [p for p in (a, b) if p.poll() is not None]
        messages = [(world.daemon_stderr(p).strip().splitlines() or [""])[-1] for p in exited]
        for p in alive:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        # Once on each platform, whichever daemon published.
        copies = sum(1 for p in PLATFORMS for x in world.posts(p) if "two daemons" in (x.get("text") or ""))
        return {
            "running": len(alive),
            "refused": len(exited),
            "exit_codes": [p.returncode for p in exited],
            "messages": messages,
            "copies": copies,
            "ok": len(alive) == 1 and all(p.returncode == 1 for p in exited) and copies == len(PLATFORMS),
        }


def big_database(quick: bool, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Build 10,000 posts / 1,000,000 attempts with store_load's builder and time log and list."""
    from benchmarks import store_load
    from crosspost.store.sql import SqlStore

    with World("load") as world:
        t = time.monotonic()
        store_load.build(world.db)
        built = time.monotonic() - t
        out(f"  built {store_load.POSTS} posts, {store_load.ATTEMPTS} attempts in {built:.1f} s")
        middle = (store_load.START + timedelta(hours=store_load.POSTS // 2)).isoformat()
        queries = {
            "log --status failed": ["log", "--status", "failed"],
            "log --status unknown --json": ["log", "--status", "unknown", "--json"],
            "log --account vk --since MIDDLE": ["log", "--account", "vk", "--since", middle],
            "log --post 5000 --json": ["log", "--post", "5000", "--json"],
            "log --status sent --account vk --since MIDDLE": [
                "log",
                "--status",
                "sent",
                "--account",
                "vk",
                "--since",
                middle,
            ],  # fmt: skip
            "log --since 7d": ["log", "--since", "7d"],
            "log (no filter, 30,000 rows)": ["log"],
            "list --status partial": ["list", "--status", "partial"],
            "list (10,000 posts)": ["list"],
            "list --json (10,000 posts)": ["list", "--json"],
            "show 5000 --json": ["show", "5000", "--json"],
        }
        timings: dict[str, dict[str, Any]] = {}
        for label, args in queries.items():
            best, rc = float("inf"), None
            for _ in range(2 if quick else 3):
                t = time.monotonic()
                done = world.cli(*args, label=label)
                best = min(best, time.monotonic() - t)
                rc = done.returncode
            timings[label] = {"wall": round(best, 3), "exit": rc, "rows": done.stdout.count(b"\n")}
            out(f"  {label:<48} {best * 1000:7.0f} ms wall (fresh process)  exit {rc}")
        store = SqlStore(f"sqlite:///{world.db}", world.folder / "media")
        mid = store_load.START + timedelta(hours=store_load.POSTS // 2)
        inproc = {}
        for label, call in {
            "store.log(status='failed')": lambda: store.log(status="failed"),
            "store.log(account='vk', since=middle)": lambda: store.log(account="vk", since=mid),
            "store.log(post_id=5000)": lambda: store.log(post_id=5000),
            "store.log()": lambda: store.log(),
            "store.list_posts()": lambda: store.list_posts(),
        }.items():
            best = float("inf")
            for _ in range(3):
                t = time.monotonic()
                call()
                best = min(best, time.monotonic() - t)
            inproc[label] = round(best, 3)
        store.close()
        startup = min(_timed(world, "--version") for _ in range(3))
        return {
            "posts": store_load.POSTS,
            "attempts": store_load.ATTEMPTS,
            "build_seconds": round(built, 1),
            "db_mb": round(world.db.stat().st_size / 1e6),
            "cli": timings,
            "in_process": inproc,
            "startup_seconds": round(startup, 3),
            "leaks": world.scan(),
            "scanned": world.scanned(),
        }


def _timed(world: World, *args: str) -> float:
    t = time.monotonic()
    world.cli(*args)
    return time.monotonic() - t


def memory(seconds: float, out: Callable[[str], None] = print) -> dict[str, Any]:
    """The daemon's RSS each second while a post to three accounts is queued every 0.3 s."""
    with World("memory") as world:
        daemon = world.daemon()
        samples: list[tuple[float, int]] = []
        start = time.monotonic()
        next_post = start
        n = 0
        while time.monotonic() - start < seconds:
            now = time.monotonic()
            if now >= next_post:
                n += 1
                world.queue_inprocess([(world.write_post(f"Memory post {n} at {time.time_ns()}."), datetime.now(UTC))])
                next_post = now + 0.3
            rss = rss_kib(daemon.pid)
            if rss is not None and (not samples or now - start - samples[-1][0] >= 1.0):
                samples.append((round(now - start, 1), rss))
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(d.status in TERMINAL for d in world.deliveries()):
            time.sleep(0.5)
        final = rss_kib(daemon.pid)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
        statuses = Counter(d.status for d in world.deliveries())
        warm = [r for t, r in samples if t >= min(10.0, seconds / 3)]
        half = len(warm) // 2
        first_half = statistics.mean(warm[:half]) if half else 0
        second_half = statistics.mean(warm[half:]) if half else 0
        result = {
            "seconds": seconds,
            "posts": n,
            "statuses": dict(statuses),
            "rss_kib_start": samples[0][1] if samples else None,
            "rss_kib_after_warmup": warm[0] if warm else None,
            "rss_kib_max": max(r for _, r in samples) if samples else None,
            "rss_kib_end": final,
            "rss_mean_first_half_kib": round(first_half),
            "rss_mean_second_half_kib": round(second_half),
            "growth_pct_second_vs_first_half": round(100 * (second_half - first_half) / first_half, 1)
            if first_half
            else None,
            "samples": samples,
            "daemon_exit": code,
            "daemon_traceback": has_traceback(world.daemon_stderr(daemon)),
            "leaks": world.scan(),
            "scanned": world.scanned(),
        }
    out(
        f"  {n} posts in {seconds:.0f} s; daemon RSS {result['rss_kib_after_warmup']} KiB after warm-up, "
        f"max {result['rss_kib_max']}, end {final}; 2nd half vs 1st: {result['growth_pct_second_vs_first_half']} %"
    )
    return result


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    t = time.monotonic()
    out("  hammer: CLI commands against the database while the daemon publishes")
    h = hammer(10 if quick else 45, out=out)
    out(
        f"  {h['commands_total']} commands ({h['commands']}), {h['problem_count']} problems, "
        f"daemon 'locked' lines {h['daemon_locked_lines']}, second daemon: "
        + ", ".join(f"{k} exit {v['exit']}" for k, v in h["second_daemon"].items())
    )
    out("  two daemons started together")
    two = simultaneous_daemons()
    out(f"  running {two['running']}, refused {two['refused']} {two['messages']}")
    out("  10,000 posts, 1,000,000 attempts")
    big = big_database(quick, out)
    out("  daemon memory while posts keep coming")
    mem = memory(15 if quick else 60, out)
    return {"hammer": h, "two_daemons": two, "big": big, "memory": mem, "seconds": round(time.monotonic() - t, 1)}


if __name__ == "__main__":  # a part alone: python -m benchmarks.reliability.load
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1, default=str))
