"""`crosspost log` and `crosspost list`, every form, on 10,000 posts (30,000 deliveries, 1,000,000
attempt rows): fresh processes, start-up and imports included, as a user pays them. Each form is
run piped (stdout a pipe: every row, in full; also the time to its first line, when a streamed
answer starts) and on a pseudo-terminal of 80 x 24 (fitted, the
default limit of 200, paged: the pager is ``cat`` here so the run ends by itself). Not a test:
it prints figures (BENCHMARKS.md), best of N, beside a floor measured in the same rounds on the
shared machine: ``log --post 5000`` piped (start-up, config, the database opened, three rows by
index), so a figure reads as start-up plus the form's own work, whatever the load.

    .venv/bin/python -m benchmarks.list_log_10k [--db PATH] [--runs 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from fcntl import ioctl
from pathlib import Path

from benchmarks.cli_startup import CONFIG
from benchmarks.store_load import build

FLOOR = ["log", "--post", "5000"]
FORMS = (
    ["log"],
    ["log", "--json"],
    ["log", "--csv"],
    ["log", "--limit", "50"],
    ["log", "--status", "failed"],
    ["log", "--attention"],
    ["log", "--account", "vk", "--since", "30d"],
    ["log", "--post", "5000"],
    ["log", "--wide"],
    ["list"],
    ["list", "--json"],
    ["list", "--attention"],
    ["list", "--status", "queued"],
    ["list", "--wide"],
)


def piped(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "crosspost", *args], env=env, capture_output=True, check=True)
    return time.perf_counter() - t, done.stdout.count(b"\n")


def first_line(args: list[str], env: dict[str, str]) -> float:
    """Seconds until the first line arrives through the pipe: when a streamed answer starts."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "crosspost", *args], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.read(1)
    took = time.perf_counter() - t
    proc.stdout.read()
    proc.wait()
    return took


def on_terminal(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """The command on a pty of 80 x 24, read to its end."""
    t = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 80 columns
        ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        os.execve(sys.executable, [sys.executable, "-m", "crosspost", *args], env)
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return time.perf_counter() - t, out.count(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", metavar="WORD", help="only the forms whose command has this word (list, --json, ...)")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="another crosspost source tree (say `git worktree add /tmp/main main`), run in the same rounds",
    )
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crosspost-10k-"))
    db = options.db or folder / "crosspost.db"
    if not db.exists():
        build(db)
    (folder / "crosspost.toml").write_text(CONFIG.replace("[crosspost]\n", f'[crosspost]\ndatabase = "{db}"\n'))
    (folder / "crosspost.toml").chmod(0o600)
    env = {**os.environ, "CROSSPOST_CONFIG": str(folder / "crosspost.toml"), "PAGER": "cat", "TERM": "xterm"}
    # Each tree's code named on the path, run from a folder without any: `python -m` puts the current
    # folder first on the path, which would otherwise win over a --baseline tree.
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    os.chdir(folder)
    print(f"load average at the start: {' '.join(f'{n:.1f}' for n in os.getloadavg())} ({os.cpu_count()} cores)")
    print(
        f"{'command':<44} {'piped':>8} {'first':>7} {'rows':>7} {'terminal':>9} {'lines':>6}"
        f" {'floor':>7} {'piped/fl':>8} {'term/fl':>8}"
    )
    trees = {"": env}
    if options.baseline is not None:  # its own code first on the path, the same database and config
        trees["  baseline"] = {**env, "PYTHONPATH": str(options.baseline.resolve())}
    for args in (f for f in FORMS if options.only is None or options.only in f):
        floors: list[float] = []
        measured: dict[str, list[tuple[tuple[float, int], float, tuple[float, int]]]] = {k: [] for k in trees}
        for _ in range(options.runs):  # interleaved, so that the floor shares each round's load
            floors.append(piped(FLOOR, env)[0])
            for name, tree_env in trees.items():
                measured[name].append((piped(args, tree_env), first_line(args, tree_env), on_terminal(args, tree_env)))
        floor = min(floors)
        for name, rounds in measured.items():
            p, f, t = min(r[0] for r in rounds), min(r[1] for r in rounds), min(r[2] for r in rounds)
            label = f"crosspost {' '.join(args)}{name}"
            print(
                f"{label:<44} {p[0]:7.3f}s {f:6.3f}s {p[1]:7} {t[0]:8.3f}s {t[1]:6}"
                f" {floor:6.3f}s {p[0] / floor:7.1f}x {t[0] / floor:7.1f}x"
            )
    print(f"load average at the end: {' '.join(f'{n:.1f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
