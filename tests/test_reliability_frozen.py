"""A daemon frozen (SIGSTOP) during the image upload on all four platforms at once, then resumed after a
second daemon took over (the post and a thread part: ``python -m benchmarks.reliability``;
``tests/test_frozen_daemon.py`` covers X at each step). Slow by nature: the slot goes stale after 15 s.
"""

from __future__ import annotations

from benchmarks.reliability import frozen
from benchmarks.reliability.common import BLIND, PLATFORMS


def test_a_daemon_frozen_during_the_uploads_publishes_nothing_once_resumed() -> None:
    result = frozen.run(quick=True, out=lambda _line: None)
    [r] = result["results"]
    assert r["held"] == sorted(PLATFORMS)  # every platform's upload was in flight at the freeze
    assert r["fenced"], r["history"]
    assert result["wrong"] == [] and result["totals"]["problems"] == []
    assert result["totals"]["duplicates"] == 0 and result["totals"]["false_sent"] == 0
    assert {c["platform"]: c["status"] for c in r["counts"]} == {
        p: "unknown" if p in BLIND else "sent" for p in PLATFORMS
    }
    assert not r["traceback"] and result["leaks"] == []
