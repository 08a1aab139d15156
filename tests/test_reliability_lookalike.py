"""Look-ups among look-alikes, through ``crosspost daemon --once`` (all cases: ``python -m benchmarks.reliability``).

Yesterday's post with the same text and another link, an earlier photo post with no text, a visitor's
photo post with our text: seeded on the walls before our post's publish request is dropped, before
or after the platform acted. A look-up must never take the look-alike for ours (a false ``sent``),
and nothing may go out twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.reliability import lookalike
from benchmarks.reliability.common import World

CASES = {c.name: c for c in lookalike.CASES}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World("lookalike-test", main={"request_timeout": "2s"}) as w:
        yield w


@pytest.mark.parametrize("drop", lookalike.DROPS)
@pytest.mark.parametrize("case", list(CASES))
def test_a_lookalike_is_never_taken_for_our_post(world: World, case: str, drop: str) -> None:
    result = lookalike.run_case(world, CASES[case], drop)
    assert not result.traceback
    for c in result.counts:
        assert c.ok, (c.platform, c.why, result.history[c.account])
        assert c.status in ("sent", "unknown"), (c.platform, c.status, c.error)
        if c.status == "unknown":
            assert c.error  # says why: a look-up that cannot tell the posts apart does not guess
        if drop == "after" and c.status == "sent":
            assert result.history[c.account][-1] == "found"  # ours, found: not published again
