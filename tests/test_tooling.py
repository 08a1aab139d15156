"""The boring tooling, enforced: ruff and mypy pass over the package, the tests and the benchmarks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("crosspost", "tests", "benchmarks", "contrib")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    done = run("ruff", "check", "crosspost", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_changes_nothing() -> None:
    # The Python files only: the test corpus holds Markdown that is not UTF-8 on purpose.
    sources = sorted(str(p.relative_to(REPO)) for d in PACKAGES for p in (REPO / d).rglob("*.py"))
    done = run("ruff", "format", "--check", *sources)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing() -> None:
    done = run("mypy", "crosspost", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
