"""A mini crash soak (the full one: ``python -m benchmarks.reliability``): 5 posts, 5 SIGKILLs, then a clean run.

Notices go to a local webhook; each final failed/unknown/missed delivery must be told exactly once.

The daemon is a real subprocess killed with SIGKILL at random moments while the
sandbox delays some requests; afterwards nothing is on a platform twice and
nothing is lost.
"""

from __future__ import annotations

from benchmarks.reliability import soak  # noqa: E402
from benchmarks.reliability.common import BLIND, PLATFORMS  # noqa: E402


def test_mini_soak_no_duplicate_no_loss() -> None:
    result = soak.run(posts=5, kills=5, seed=7, quick=True, out=lambda _line: None)
    assert result["duplicates"] == 0, result["duplicates_by_platform"]
    assert result["lost"] == 0, result["lost_detail"]
    assert result["wrong_status"] == [], result["wrong_status"]
    # Missed: the posts left overdue past late_limit; failed: a refusal armed on one platform.
    assert set(result["statuses"]) <= {"sent", "unknown", "missed", "failed"}
    assert result["statuses"].get("missed", 0) == len(PLATFORMS) * result["overdue_posts"]
    # The sandbox always answers look-ups here, so nothing should stay unknown, except where no look-up
    # exists (Telegram): there an interrupted send is "unknown" for a person, never resent.
    assert [u for u in result["unknown"] if u["account"] not in BLIND] == [], result["unknown"]
    assert result["clean_exit"] == 0 and result["tracebacks"] == 0
    assert result["leaks"] == []
    # Every final failed/unknown/missed delivery told in exactly one notice, in the outbox and as received.
    assert result["notices"]["wrong"] == [], result["notices"]
    assert result["notices"]["finals"] >= result["statuses"].get("missed", 0) > 0
