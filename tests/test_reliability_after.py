"""After-the-post faults, a few cells of each kind (all of them: ``python -m benchmarks.reliability``).

Each cell lets the platform act, then loses or garbles its answer, on one publishing step: the post,
the image upload, an X thread's second part, Telegram's album. The delivery must end ``sent`` with
exactly what one clean publish makes (nothing twice, its own remote id), or ``unknown`` with the reason
where the platform cannot be asked (Telegram), never a resend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.reliability import after
from benchmarks.reliability.common import BLIND, World

STEPS = {s.name: s for s in after.STEPS}
FAULTS = {name: fields for name, fields, _fast in after.FAULTS}
CELLS = [
    ("the post", "503 after"),
    ("the post", "drop after"),
    ("the image upload", "500 after"),
    ("the alt text", "garbage after"),
    ("thread part 2", "502 after"),
    ("thread part 3", "drop after"),
    ("the album", "504 after"),
    ("the text after the album", "500 after"),
]


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[World, dict[str, dict[str, int]]]]:
    with World("after-test", main={"request_timeout": "2s"}) as w:
        yield w, after.baselines(w)


@pytest.mark.parametrize(("step", "fault"), CELLS)
def test_after_the_post_fault(world: tuple[World, dict[str, dict[str, int]]], step: str, fault: str) -> None:
    w, base = world
    result = after.run_cell(w, STEPS[step], fault, FAULTS[fault], base)
    assert sorted(c.platform for c in result.counts) == sorted(STEPS[step].paths)
    assert result.wrong() == []
    for c in result.counts:
        assert c.duplicates == 0 and not c.false_sent and not c.lost, c.why
        if c.platform in BLIND:
            assert c.status == "unknown" and "resolve" in c.error and result.tries[c.account] == 1
        else:
            assert c.status == "sent"


def test_the_counts_catch_a_duplicate_and_a_false_sent() -> None:
    # The verdicts themselves must be able to fail: a second copy, and a remote id that is not ours.
    from datetime import UTC, datetime

    from benchmarks.reliability.tally import count
    from crosspost.store.records import DeliveryRecord

    now = datetime.now(UTC)
    sent = DeliveryRecord(1, 1, "t", "vk", "vk", "sent", 1, "7", None, None, now, now, None)
    assert count(sent, [{"id": 7}, {"id": 8}], 1).duplicates == 1
    assert count(sent, [{"id": 8}], 1).false_sent
    assert count(sent, [], 1).lost
    failed = sent._replace(status="failed", error="refused", remote_id=None)
    assert count(failed, [{"id": 8}], 1).lost  # failed while its post is public
    assert count(failed, [], 1).ok


def test_nothing_crosspost_wrote_holds_a_secret(world: tuple[World, dict[str, dict[str, int]]]) -> None:
    assert world[0].scan() == []
