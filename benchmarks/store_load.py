"""Load benchmark for the store (not a test): 10,000 posts x 3 deliveries and 1,000,000 attempt rows.

Builds the database quickly with ``executemany`` on the migrated schema, then
times ``log`` with each filter, ``list``, ``show`` and the daemon's queries,
in this process and in fresh processes (start-up and imports included, as a
user running ``crosspost log`` pays them).

    .venv/bin/python benchmarks/store_load.py [--db PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crosspost.store.sql import SqlStore
from crosspost.store.timefmt import to_db_text

POSTS = 10_000
ACCOUNTS = (("twitter", "twitter"), ("facebook", "facebook"), ("vk", "vk"))
ATTEMPTS = 1_000_000
START = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("sent",) * 14 + ("failed", "unknown", "missed", "cancelled", "pending", "retrying")


def build(path: Path) -> None:
    SqlStore(f"sqlite:///{path}", path.parent / "media").close()  # the schema, through the migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    rnd = random.Random(7)
    conn.execute("BEGIN")
    draft = {"parts": ["A press release of moderate length. " * 8], "images": [], "link": "https://example.org/news"}
    conn.executemany(
        "INSERT INTO posts (id, title, source, created_at, snapshot) VALUES (?, ?, ?, ?, ?)",
        (
            (
                pid,
                f"Post number {pid}",
                f"posts/{pid}.md",
                to_db_text(START + timedelta(hours=pid)),
                json.dumps({"drafts": {a: {**draft, "account": a, "platform": p} for a, p in ACCOUNTS}}),
            )
            for pid in range(1, POSTS + 1)
        ),
    )

    def deliveries() -> Iterator[tuple[Any, ...]]:
        did = 0
        for pid in range(1, POSTS + 1):
            due = START + timedelta(hours=pid)
            for account, platform in ACCOUNTS:
                did += 1
                status = rnd.choice(STATUSES)
                sent = status == "sent"
                yield (
                    did, pid, account, platform, status, to_db_text(due),
                    to_db_text(due + timedelta(minutes=5)) if status == "retrying" else None,
                    rnd.randint(1, 5), f"{did}00" if sent else None, f"https://example.org/{did}" if sent else None,
                    None if sent else "HTTP 503: try later", to_db_text(due + timedelta(seconds=3)) if sent else None,
                    json.dumps({**draft, "account": account, "platform": platform, "key": f"cp-{pid}-{account}"}),
                    to_db_text(due),
                )  # fmt: skip

    conn.executemany(
        "INSERT INTO deliveries (id, post_id, account, platform, status, due_at, next_try_at, attempts, remote_id,"
        " url, error, sent_at, draft, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deliveries(),
    )
    n_deliveries = POSTS * len(ACCOUNTS)
    conn.executemany(
        "INSERT INTO attempts (delivery_id, at, seconds, outcome, code, message, is_try) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (1 + i % n_deliveries, to_db_text(START + timedelta(seconds=i)), 0.4, "transient", "503", "busy", 1)
            for i in range(ATTEMPTS)
        ),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def timed(label: str, fn: Callable[[], Any], repeat: int = 3) -> None:
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    size = len(result) if hasattr(result, "__len__") else "-"
    print(f"  {label:<44} {best * 1000:8.1f} ms   rows: {size}")


def cold(label: str, url: str, media: Path, call: str) -> None:
    code = (
        "import time; t = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from crosspost.store.sql import SqlStore\n"
        f"s = SqlStore({url!r}, Path({str(media)!r}))\n"
        f"r = {call}\n"
        "print(round((time.perf_counter() - t) * 1000, 1))\n"
    )
    best = float("inf")
    wall = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        wall = min(wall, time.perf_counter() - t)
        best = min(best, float(out.stdout.strip()))
    print(f"  {label:<44} {best:8.1f} ms in process, {wall * 1000:7.1f} ms wall (interpreter start included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--db", type=Path, help="where to build the database (default: a temporary folder); reused if it exists"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crosspost-bench-"))
    path = args.db or folder / "bench.db"
    t = time.perf_counter()
    if not path.exists():
        build(path)
        took = time.perf_counter() - t
        print(f"built {POSTS} posts, {POSTS * len(ACCOUNTS)} deliveries, {ATTEMPTS} attempts in {took:.1f} s")
    print(f"  database size {path.stat().st_size / 1e6:.0f} MB at {path}")

    url, media = f"sqlite:///{path}", path.parent / "media"
    store = SqlStore(url, media)
    mid = START + timedelta(hours=POSTS // 2)
    print("in process (best of 3):")
    timed("log()", lambda: store.log())
    timed("log(limit=50)", lambda: store.log(limit=50))
    timed("log(status='failed')", lambda: store.log(status="failed"))
    timed("log(status='sent')", lambda: store.log(status="sent"))
    timed("log(account='vk')", lambda: store.log(account="vk"))
    timed("log(post_id=5000)", lambda: store.log(post_id=5000))
    timed("log(since=middle)", lambda: store.log(since=mid))
    timed("log(status='sent', account='vk', since=middle)", lambda: store.log(status="sent", account="vk", since=mid))
    timed("list_posts()", lambda: store.list_posts())
    timed("list_posts(status='partial')", lambda: store.list_posts(status="partial"))
    timed("post_summaries() (what a piped list prints)", lambda: store.post_summaries())
    timed("post_summaries(limit=200) (a terminal's list)", lambda: store.post_summaries(limit=200))
    timed(
        "iter_post_summaries(attention=True, limit=200)",
        lambda: list(store.iter_post_summaries(attention=True, limit=200)),
    )
    timed("count_posts(attention=True) (its N more)", lambda: [store.count_posts(attention=True)])
    timed("get_post(5000) (100 history rows each)", lambda: store.get_post(5000).deliveries)
    timed("next_wakeup()", lambda: [store.next_wakeup()])
    now = datetime(2027, 1, 1, tzinfo=UTC)
    timed(
        "claim_due() (backlog of due pending/retrying)", lambda: store.claim_due(now=now, owner="b", lease_seconds=1), 1
    )
    store.close()
    print("fresh process each (best of 3):")
    cold("SqlStore(...).log()", url, media, "s.log()")
    cold("SqlStore(...).log(status='failed')", url, media, "s.log(status='failed')")
    cold("SqlStore(...).list_posts()", url, media, "s.list_posts()")
    if not args.keep and args.db is None:
        for p in folder.glob("bench.db*"):
            p.unlink()


if __name__ == "__main__":
    main()
