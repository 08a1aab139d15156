"""What the run says: on the terminal, in the log file, and folded for LAST-RUN.md."""

from __future__ import annotations

import re
from pathlib import Path


class Log:
    """Everything the run says, on the terminal and in one file (for LAST-RUN.md)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")
        self.text: list[str] = []

    def say(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines() or [""]:
            print(line, flush=True)
            self.file.write(line + "\n")
            self.text.append(line)
        self.file.flush()

    def heading(self, text: str) -> None:
        self.say(f"\n==== {text}")


# apt's and pip's progress: kept in the full log, folded into a count in the record.
NOISE = re.compile(
    r"^(Get:|Hit:|Ign:|Fetched |Selecting |Preparing |Unpacking |Setting up |Processing triggers |"
    r"\(Reading database|Reading package lists|Building dependency tree|Reading state information|"
    r"  Downloading |  Using cached |Collecting |Downloading |  Preparing metadata|  Getting requirements|"
    r"  Installing build|  Building wheel|  Created wheel|  Stored in|Building wheels|Installing collected|"
    r"debconf: |  Attempting uninstall|    Found existing|    Uninstalling|      Successfully uninstalled|"
    r"Requirement already satisfied|   [a-z0-9.+-]+ \(|  [a-z0-9.+-]+ [a-z0-9.+-]+ |"
    r"\s+━|  (\| )?[a-z0-9][a-z0-9.+:-]*(\s{2,}|$))"
)


def record(lines: list[str]) -> str:
    """The run's log for LAST-RUN.md: every line but apt's and pip's progress, which become a count."""
    out: list[str] = []
    folded = 0
    for line in lines:
        if NOISE.match(line):
            folded += 1
            continue
        if folded:
            out.append(f"[... apt/pip progress: {folded} lines ...]")
            folded = 0
        out.append(line)
    if folded:
        out.append(f"[... apt/pip progress: {folded} lines ...]")
    return "\n".join(out) + "\n"


def write_record(path: Path, lines: list[str]) -> None:
    path.write_text(
        "# production-check: the last run\n\n"
        "The log of `sudo python3 contrib/production-check/run.py [--reuse-base] --record LAST-RUN.md`:\n"
        'every `sh` block of README "Running in production" run in order on a clean Debian root, with the\n'
        "site's part and the checks between them. apt's and pip's progress lines are folded into counts.\n\n"
        "```\n" + record(lines) + "```\n",
        encoding="utf-8",
    )


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str, log: Log) -> None:
    log.say(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        raise CheckFailed(what)
