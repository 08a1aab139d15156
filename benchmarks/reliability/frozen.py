"""Part 2d, frozen daemons: a daemon held with SIGSTOP mid-request while a second one takes its work over.

A suspended VM or a swapped-out process stops without dying. Here a real ``crosspost daemon`` has a
request held in the sandbox (a delay fault) on every platform at once: the image upload, the post, or
an X thread's second part. It is frozen with SIGSTOP while the requests are held; the sandbox finishes
them (a platform finishes what reached it). Once the frozen daemon's slot is stale a second daemon
starts, takes the deliveries over, looks them up and settles them. Then the first is resumed
(SIGCONT): fencing must stop it before its next request, with nothing written and no log line
claiming a post. Counted as everywhere (:mod:`benchmarks.reliability.tally`), plus the resumed
daemon's own lines about the post.

Slow by nature: each scenario waits for the slot to go stale (``STALE_AFTER``, 15 s).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.reliability.after import baselines, write
from benchmarks.reliability.common import PUBLISH_PATH, TERMINAL, UPLOAD_PATH, World, has_traceback
from benchmarks.reliability.tally import Count, Snapshot, report, tally
from crosspost.daemon import STALE_AFTER
from crosspost.sandbox import Fault

HOLD = 2.0  # seconds the sandbox holds the request; the daemon is frozen inside it


@dataclass(frozen=True)
class Scenario:
    name: str
    shape: str  # as in benchmarks.reliability.after.write
    paths: dict[str, str]
    held: int = 1  # freeze during the n-th matching request (a thread's part 2: the 2nd)
    quick: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("frozen during the image upload", "image", UPLOAD_PATH, quick=True),
    Scenario("frozen during the post", "plain", dict(PUBLISH_PATH)),
    Scenario("frozen during thread part 2", "thread", {"twitter": PUBLISH_PATH["twitter"]}, held=2),
)


@dataclass
class Result:
    scenario: str
    counts: list[Count]
    held: list[str]  # platforms whose request was held when the daemon froze
    fenced: bool  # the resumed daemon logged its lost claim on every held account, and claimed no post
    history: dict[str, list[str]]
    traceback: bool


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def write_locked(path: Path) -> bool:
    """Whether some process holds SQLite's write lock on ``path`` (a frozen heartbeat may)."""
    conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def run_scenario(world: World, scenario: Scenario, base: dict[str, dict[str, int]]) -> Result:
    path = write(world, scenario.shape, f"frozen-{time.time_ns()}")
    world.sandbox.reset()  # empty walls: X's look-up reads at most 50 posts of its window
    before = Snapshot.take(world)
    faults = {p: Fault(path=rx, method="POST", delay=HOLD, times=scenario.held) for p, rx in scenario.paths.items()}
    world.sandbox.add_faults(list(faults.values()))
    (post_id,) = world.queue_inprocess([(path, datetime.now(UTC))])
    first = world.daemon()
    wait_until(lambda: all(f.used >= scenario.held for f in faults.values()), 20)
    first.send_signal(signal.SIGSTOP)
    held = sorted(p for p, f in faults.items() if f.used >= scenario.held)
    # Its heartbeat may have frozen inside a write transaction, holding SQLite's one write lock (nothing
    # but the process can release it): let it finish, the held requests are still in the sandbox.
    while write_locked(world.db):
        first.send_signal(signal.SIGCONT)
        time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)
    time.sleep(HOLD + 0.5)  # the sandbox finishes the held requests while their daemon is frozen
    with world.store() as store:
        status = store.daemon_status()
    beat = status[1] if status else datetime.now(UTC)
    wait_until(lambda: (datetime.now(UTC) - beat).total_seconds() > STALE_AFTER + 0.5, 30)
    second = world.daemon()
    wait_until(lambda: all(d.status in TERMINAL for d in world.deliveries() if d.post_id == post_id), 90)
    first.send_signal(signal.SIGCONT)
    stop(first, 30)
    time.sleep(1.0)  # room for a late request of the resumed daemon, were it to send one
    second.send_signal(signal.SIGTERM)
    stop(second, 60)
    world.sandbox.clear_faults()
    err = world.daemon_stderr(first)
    lines = [line for line in err.splitlines() if f"post={post_id} " in line]
    claimed = any("status=sent" in x or "url=" in x for x in lines)  # a post of its own: a false claim
    stopped = {a for a in held if any(f"account={a} " in x and "outcome=lost_claim" in x for x in lines)}
    fenced = not claimed and stopped == set(held)
    with world.store() as store:
        history = {d.account: [a.outcome for a in d.history] for d in store.get_post(post_id).deliveries}
    counts = tally(world, post_id, before, base.get(scenario.shape, {}))
    trace = has_traceback(err) or has_traceback(world.daemon_stderr(second))
    return Result(scenario.name, counts, held, fenced, history, trace)


def stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    results: list[Result] = []
    scenarios = [s for s in SCENARIOS if s.quick or not quick]
    with World("frozen", main={"request_timeout": "5s"}) as world:
        base = baselines(world, {s.shape for s in scenarios})
        for scenario in scenarios:
            r = run_scenario(world, scenario, base)
            results.append(r)
            for c in r.counts:
                out(f"  {r.scenario:<32} {c.platform:<9} {c.status:<8} {'/'.join(r.history[c.account])}  "
                    f"{'; '.join(c.why) or 'ok'}")  # fmt: skip
            out(f"  {'':<32} held at the freeze: {', '.join(r.held)}; resumed daemon fenced: {r.fenced}")
        counts = [c for r in results for c in r.counts]
        wrong = [f"{r.scenario}: {c.account}: {'; '.join(c.why)}" for r in results for c in r.counts if not c.ok]
        wrong += [f"{r.scenario}: the resumed daemon was not fenced" for r in results if not r.fenced]
        wrong += [f"{r.scenario}: TRACEBACK" for r in results if r.traceback]
        summary = report(world, counts, wrong, started)
    rows = [{"scenario": r.scenario, "held": r.held, "fenced": r.fenced, "history": r.history,
             "traceback": r.traceback, "counts": [c.__dict__ for c in r.counts]} for r in results]  # fmt: skip
    return {"results": rows, **summary}
