"""The floors the daemon benchmark holds crosspost against (not a test): the same platform work, nothing else.

Run as its own process by ``benchmarks/daemon_bench.py``, as the daemon is, so both pay the same
for Python and for sharing the machine with the sandbox:

- ``timer CONFIG``: a wake-up timer (a heap and a timed wait on a condition) that reads
  ``ACCOUNT DUE_UNIX_SECONDS`` lines on stdin and, at each due time, publishes through the very
  adapter the daemon would use: the same library making the same HTTP calls. Its lag from due time
  to the request is the floor of the daemon's; idle, its CPU is the floor of an idle daemon's.
- ``drain CONFIG N``: every account of CONFIG publishes N posts through its adapter, one thread per
  account (the daemon's rule: one request in flight per account), as fast as the platform answers.
  Prints one JSON line: seconds, peak RSS (KiB); the benchmark counts its threads from outside.

The adapters stand in for "the same libraries" on purpose: they are thin over tweepy, facebook-sdk
and vk_api, so a floor built on them makes exactly the daemon's requests and nothing else.
"""

from __future__ import annotations

import heapq
import json
import sys
import threading
import time
from pathlib import Path

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter
from crosspost.config import load_config
from crosspost.model import Draft, Progress

PLATFORMS = ("twitter", "facebook", "vk")


def adapters(config: Path) -> dict[str, tuple[str, Adapter]]:
    """Per account of the benchmark's platforms: its platform and an adapter, built as the daemon builds them."""
    settings = load_config(config, {})
    return {
        name: (account.platform, adapter_for(account, settings.request_timeout))
        for name, account in settings.accounts.items()
        if account.platform in PLATFORMS
    }


def publish(account: str, platform: str, adapter: Adapter, n: int) -> None:
    draft = Draft(account, platform, (f"Floor post {n} for {account} {time.time()}",), key=f"floor-{account}-{n}")
    adapter.publish(draft, Progress())


def timer(config: Path) -> None:
    ready = adapters(config)
    due: list[tuple[float, int, str]] = []
    changed = threading.Condition()
    ended = False

    def read() -> None:
        nonlocal ended
        for n, line in enumerate(sys.stdin):
            account, at = line.split()
            with changed:
                heapq.heappush(due, (float(at), n, account))
                changed.notify()
        with changed:
            ended = True
            changed.notify()

    threading.Thread(target=read, daemon=True).start()
    print("ready", flush=True)
    while True:
        with changed:
            while not due or due[0][0] > time.time():
                if ended and not due:
                    return
                changed.wait(due[0][0] - time.time() if due else None)
            _, n, account = heapq.heappop(due)
        # A thread per post: accounts in parallel, as the daemon's workers are.
        threading.Thread(target=publish, args=(account, *ready[account], n)).start()


def drain(config: Path, count: int) -> None:
    ready = adapters(config)

    def account_worker(account: str) -> None:
        for n in range(count):
            publish(account, *ready[account], n)

    workers = [threading.Thread(target=account_worker, args=(a,)) for a in ready]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.monotonic() - started
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    # The whole process's CPU, start-up included, as the daemon's figure is (benchmarks.daemon_bench.cpu_seconds).
    cpu = time.process_time()
    print(json.dumps({"seconds": seconds, "peak_rss_kib": int(status["VmHWM"].split()[0]), "cpu_seconds": cpu}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "timer":
        timer(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "drain":
        drain(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit("usage: daemon_floor.py timer CONFIG | daemon_floor.py drain CONFIG N")


if __name__ == "__main__":
    main()
