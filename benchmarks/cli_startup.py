"""How fast crosspost answers: wall time of each command in a fresh process, best of N.

    python benchmarks/cli_startup.py [--runs 7] [--posts 300]

Builds a throw-away folder (config of three accounts, the repository's example
posts, a database holding ``--posts`` queued posts), then times, each in a new
subprocess: ``python -c pass`` (the floor), ``crosspost --help``, ``validate``
of the example posts, ``preview``, ``list`` and ``log``. Prints a table with
the contract's aims (``--help``, ``validate`` and ``preview`` in a fraction of a
second; ``list`` and ``log`` under half a second).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = """\
[crosspost]
timezone = "Europe/Moscow"

[accounts.twitter]
platform = "twitter"
consumer_key = "bench"
consumer_secret = "bench"
access_token = "bench"
access_token_secret = "bench"
api_base = "http://127.0.0.1:9"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "bench"
api_base = "http://127.0.0.1:9"

[accounts.vk]
platform = "vk"
group_id = 123456
access_token = "bench"
api_base = "http://127.0.0.1:9"
"""
# (label, arguments after `python`, aim in seconds or None)
CASES: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", ["-c", "pass"], None),
    ("crosspost --help", ["-m", "crosspost", "--help"], 0.15),
    ("crosspost validate posts/*.md", ["-m", "crosspost", "validate", "@posts"], 0.5),
    ("crosspost preview (a thread)", ["-m", "crosspost", "preview", "posts/agreement-anniversary.md"], 0.5),
    ("crosspost list", ["-m", "crosspost", "list"], 0.4),
    ("crosspost list --json", ["-m", "crosspost", "list", "--json"], 0.5),
    ("crosspost log", ["-m", "crosspost", "log"], 0.5),
    ("crosspost log --json", ["-m", "crosspost", "log", "--json"], 0.5),
]


def build(folder: Path, posts: int) -> None:
    """The config, the example posts and a database of ``posts`` queued posts (through the store API)."""
    shutil.copytree(REPO / "posts", folder / "posts")
    (folder / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
    from crosspost.config import load_config
    from crosspost.posts import load_drafts
    from crosspost.store.sql import SqlStore

    settings = load_config(folder / "crosspost.toml", {})
    now = datetime.now(UTC)
    examples = sorted((folder / "posts").glob("*.md"))
    loaded = [load_drafts(path, settings, now=now) for path in examples]
    store = SqlStore(settings.database_url, settings.media_dir)
    try:
        for n in range(posts):
            parsed, drafts = loaded[n % len(loaded)]
            due = now + timedelta(hours=n - posts // 2)
            store.queue_post(
                title=f"{parsed.title} #{n}", source=str(parsed.source), drafts=drafts, due_at=due, now=now
            )
    finally:
        store.close()


def best_of(args: list[str], folder: Path, runs: int) -> float:
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml")}
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr.decode()}")
        best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command; the best counts (default 7)")
    parser.add_argument("--posts", type=int, default=300, help="posts in the database (default 300)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crosspost-bench-") as tmp:
        folder = Path(tmp)
        build(folder, options.posts)
        posts = [str(p.relative_to(folder)) for p in sorted((folder / "posts").glob("*.md"))]
        deliveries = 3 * options.posts
        print(f"best of {options.runs} runs, {options.posts} posts ({deliveries} deliveries), {os.cpu_count()} CPUs")
        print(f"{'command':<32} {'seconds':>8} {'aim':>6}  ")
        for label, args, aim in CASES:
            args = [a for arg in args for a in (posts if arg == "@posts" else [arg])]
            seconds = best_of(args, folder, options.runs)
            verdict = "" if aim is None else ("ok" if seconds <= aim else "OVER")
            print(f"{label:<32} {seconds:>8.3f} {'' if aim is None else f'{aim:.2f}':>6}  {verdict}")


if __name__ == "__main__":
    main()
