"""A few cells of the fault matrix per platform (all of it: ``python -m benchmarks.reliability``).

Each cell injects one fault on the publish request of every platform and runs
``crosspost daemon --once`` until the delivery settles; the final status, the
copies on the platform and the absence of tracebacks are checked, and
everything crosspost wrote is scanned for the (distinctive) credentials.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.reliability import faults  # noqa: E402
from benchmarks.reliability.common import PLATFORMS, World  # noqa: E402

CELLS = {c.name: c for c in faults.CELLS}
FAST = (
    "HTTP 500, plain text",
    "connection reset after the post was made",
    "auth error (bad token)",
    "reset after the post was made, look-up refused",
)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World("faults-test", main={"request_timeout": "2s"}) as w:
        yield w


@pytest.mark.parametrize("name", FAST)
def test_fault_cell(world: World, name: str) -> None:
    results = faults.run_cell(world, CELLS[name], FAST.index(name) + 1)
    assert [r.platform for r in results] == list(PLATFORMS)
    for r in results:
        assert r.status == r.expected, f"{r.platform}: {r.status} ({r.message})"
        assert r.copies == r.copies_expected, f"{r.platform}: {r.copies} copies"
        assert not r.traceback
        if r.expected != "sent":
            assert r.message and "\n" not in r.message


def test_nothing_crosspost_wrote_holds_a_secret(world: World) -> None:
    if not world.outputs:
        faults.run_cell(world, CELLS["auth error (bad token)"], 99)
    assert world.scan() == []
