"""The daemon's own CPU per delivery (not a test): its whole path, with platforms that answer at once.

The drain benchmark (``daemon_bench.py``) holds the daemon against a floor that makes the same HTTP
calls; the ratio moves with this machine's speed from one minute to the next. This one takes the
platform out: every account's adapter returns a receipt the moment it is asked (after the checkpoint
a real adapter makes), so what is measured is crosspost's own work per delivery, the part the floor
does not do: the checkpoint read, the settle with its attempt row, the next claim in the same
transaction, the log line. A run drains ``--posts`` posts to the demo's three accounts in one
process, with the daemon as ``crosspost daemon`` builds it (the store on SQLite in a temporary
folder, the log written to /dev/null through the CLI's own writer).

Each step's figure is the CPU of the threads that ran it (``time.thread_time`` around the step's
method), per delivery. Run: ``python -m benchmarks.daemon_overhead [--posts 500] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.daemon_bench import PLATFORMS, config_text
from crosspost.adapters.base import Adapter, Receipt
from crosspost.cli import App
from crosspost.config import load_config
from crosspost.daemon import Daemon
from crosspost.daemon.scheduler import Scheduler
from crosspost.delivery import run as delivery_run
from crosspost.model import Draft, Progress
from crosspost.store.sql import SqlStore


class AtOnce(Adapter):
    """A platform that publishes the moment it is asked: the adapter's checkpoint, then a receipt."""

    platform = "at-once"
    published = 0
    lock = threading.Lock()

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        progress.checkpoint()  # as every real adapter does before its publishing request
        with AtOnce.lock:
            AtOnce.published += 1
            n = AtOnce.published
        return Receipt(str(n), f"https://example.org/{n}", (str(n),))

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        return None

    def verify(self) -> str:
        return "at-once"


STEPS: list[tuple[Any, str, str]] = [
    (delivery_run._Delivery, "run", "a delivery, all of it"),
    (SqlStore, "lease_held", "  checkpoint read"),
    (SqlStore, "settle", "  settle (one write transaction)"),
    (Scheduler, "claim_next", "    next claim, inside it"),
    (delivery_run._Delivery, "report", "  log line"),
]


def timed(cpu: collections.defaultdict[str, float], owner: Any, name: str, label: str) -> Callable[[], None]:
    """Wrap ``owner.name`` to add its thread's CPU to ``cpu[label]``; returns the undo."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def measured(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            cpu[label] += time.thread_time() - started

    setattr(owner, name, measured)
    return lambda: setattr(owner, name, original)


def one_run(posts: int) -> dict[str, float]:
    """Drain ``posts`` x 3 through a daemon; CPU per delivery (ms): the process's, and each step's."""
    folder = Path(tempfile.mkdtemp(prefix="crosspost-overhead-"))
    config = folder / "crosspost.toml"
    config.write_text(config_text("http://127.0.0.1:9"), encoding="utf-8")  # never reached
    settings = load_config(config, {})
    store = SqlStore(settings.database_url, settings.media_dir)
    names = [n for n, a in settings.accounts.items() if a.platform in PLATFORMS]
    due = datetime.now(UTC) + timedelta(seconds=2)
    for i in range(posts):
        drafts = [Draft(a, settings.accounts[a].platform, (f"Overhead post {i} {time.time()}",)) for a in names]
        store.queue_post(title=f"o{i}", source="o.md", drafts=drafts, due_at=due, now=datetime.now(UTC))
    total = posts * len(names)
    AtOnce.published = 0
    cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
    undo = [timed(cpu, *step) for step in STEPS]
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w", encoding="utf-8")  # the log's writer: App.err
    try:
        app = App(str(config), False)
        daemon = Daemon(settings, store, lambda account, timeout: AtOnce(account, None), app.err)  # type: ignore[arg-type]
        runner = threading.Thread(target=daemon.run_forever)
        runner.start()
        while datetime.now(UTC) < due:
            time.sleep(0.005)
        started = time.process_time()
        while AtOnce.published < total:
            time.sleep(0.005)
        time.sleep(0.05)  # the last settle
        used = time.process_time() - started
        daemon.stop()
        runner.join()
    finally:
        sys.stderr.close()
        sys.stderr = stderr
        for step_undo in undo:
            step_undo()
        store.close()
    return {"process": 1000 * used / total, **{label: 1000 * cpu[label] / total for _, _, label in STEPS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.posts) for _ in range(args.repeat)]
    print(f"{args.posts} x 3 deliveries, {args.repeat} runs: CPU per delivery, median (range)")
    for key in runs[0]:
        values = sorted(run[key] for run in runs)
        label = "the daemon's process, during the drain" if key == "process" else key
        print(f"{label:40s} {statistics.median(values):6.3f} ms  ({values[0]:.3f} to {values[-1]:.3f})")


if __name__ == "__main__":
    main()
