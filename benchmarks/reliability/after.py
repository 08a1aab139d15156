"""Part 2b, after-the-post faults: the platform acted, and then the answer was lost, on every publishing step.

A gateway's 5xx after the platform made the post, a garbled body, a connection dropped after the work
was done: the client cannot tell these from a failure, and the platform holds the post (or the upload).
Each cell puts one such fault (the sandbox's ``after``, ``garbage`` and ``drop="after"``) on one
publishing request of every platform that makes it: the image upload, VK's save of the uploaded
photo, X's alt text, the post (plain and with its image), each later part of an X thread (the
sandbox's ``skip``), Telegram's album and the text message after it. Then ``daemon --once`` runs until
the deliveries settle, and :mod:`benchmarks.reliability.tally` counts duplicates, lost, false sent.

Expected: ``sent`` with exactly what one clean publish makes where the platform can look a post up;
``unknown`` (never a resend) where it cannot (Telegram), with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from benchmarks.reliability.common import BLIND, PUBLISH_PATH, UPLOAD_PATH, World
from benchmarks.reliability.faults import NGINX_502
from benchmarks.reliability.tally import Count, Snapshot, report, tally

LONG = (
    "Paragraph {j} of statement {stamp} is long enough that X receives it as a thread of several parts. "
    "It speaks of the anniversary, of the delegations that met, of the agreements they signed and of the "
    "exhibitions that open in both capitals during the year (part {j}, {stamp}). "
)


THREAD_PARTS = 6  # what X makes of the thread shape's text; run() checks it against the clean publish


@dataclass(frozen=True)
class Step:
    """One publishing request: which post shape makes it, and its path on each platform that has it."""

    name: str
    shape: str  # "plain", "image", "thread" (X), "album" (Telegram: two photos and a text over the caption limit)
    paths: dict[str, str]
    skip: int = 0  # let this many matching requests through first (a thread's later part)
    quick: bool = False


STEPS: tuple[Step, ...] = (
    Step("the post", "plain", dict(PUBLISH_PATH), quick=True),
    Step("the image upload", "image", UPLOAD_PATH, quick=True),
    Step("VK saves the uploaded photo", "image", {"vk": r"^/method/photos\.saveWallPhoto$"}),
    Step("the alt text", "image", {"twitter": r"^/2/media/metadata"}),
    Step("the post with its image", "image", {p: PUBLISH_PATH[p] for p in ("twitter", "facebook", "vk")}),
    # The matrix's thread is 6 tweets (see baselines); part 1 is "the post".
    *(
        Step(f"thread part {n}", "thread", {"twitter": PUBLISH_PATH["twitter"]}, skip=n - 1, quick=n == 2)
        for n in range(2, THREAD_PARTS + 1)
    ),
    Step("the album", "album", {"telegram": r"^/bot[^/]+/sendMediaGroup$"}, quick=True),
    Step("the text after the album", "album", {"telegram": r"^/bot[^/]+/sendMessage$"}),
)
FAULTS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    ("500 after", {"status": 500, "body": "Internal Server Error", "headers": {"Content-Type": "text/plain"},
                   "after": True}, True),
    ("502 after", {"status": 502, "body": NGINX_502, "after": True}, False),
    ("503 after", {"status": 503, "body": "", "headers": {"Retry-After": "1"}, "after": True}, False),
    ("504 after", {"status": 504, "body": "<html><body>504 Gateway Time-out</body></html>", "after": True}, False),
    ("garbage after", {"garbage": True}, False),
    ("drop after", {"drop": "after"}, True),
)  # fmt: skip
SHAPES = {step.shape: sorted({p for s in STEPS if s.shape == step.shape for p in s.paths}) for step in STEPS}


def expected(platform: str) -> str:
    return "unknown" if platform in BLIND else "sent"


@dataclass
class Result:
    step: str
    fault: str
    counts: list[Count]
    tries: dict[str, int]
    traceback: bool

    def wrong(self) -> list[str]:
        out = [f"{c.account}: {c.status}, expected {expected(c.platform)} ({c.error[:120]})" for c in self.counts
               if c.status != expected(c.platform)]  # fmt: skip
        out += [f"{c.account}: {'; '.join(c.why)}" for c in self.counts if not c.ok]
        return out + (["TRACEBACK"] if self.traceback else [])


def write(world: World, shape: str, stamp: str) -> Any:
    """A post of ``shape`` whose every part is unique to ``stamp`` (a platform refuses a repeated text)."""
    from benchmarks.reliability.soak import png

    to = "to = [" + ", ".join(f'"{p}"' for p in SHAPES[shape]) + "]\n"
    media = world.folder / "posts" / "media"
    media.mkdir(exist_ok=True)
    images = ""
    if shape in ("image", "album"):
        names = [f"{stamp}-{n}.png" for n in range(2 if shape == "album" else 1)]
        for n, name in enumerate(names):
            png(media / name, hash((stamp, n)) % 1000)
        images = "images = [" + ", ".join(f'{{ path = "media/{x}", alt = "Picture {x}" }}' for x in names) + "]\n"
    body = f"After-the-post cell {stamp}: the press office reports."
    if shape == "thread":
        body = "\n\n".join(LONG.format(j=j, stamp=stamp) for j in range(1, 4))
    elif shape == "album":
        body = "\n\n".join(LONG.format(j=j, stamp=stamp) for j in range(1, 6))  # over the 1,024-unit caption
    return world.write_post(body, title=f"after {stamp}", extra=to + images)


def publish(world: World, shape: str, stamp: str, faults: list[dict[str, Any]]) -> tuple[int, Snapshot, list[Any]]:
    path = write(world, shape, stamp)
    # Each cell on empty walls: X's look-up reads at most 50 posts of its window (minutes wide), and this
    # matrix alone would fill it; a look-up that cannot read its window settles nothing (unknown).
    world.sandbox.reset()
    before = Snapshot.take(world)
    for fields in faults:
        world.fault(**fields)
    (post_id,) = world.queue_inprocess([(path, datetime.now(UTC))])
    runs = world.settle(max_runs=6)
    world.sandbox.clear_faults()
    return post_id, before, runs


def baselines(world: World, shapes: Iterable[str] = SHAPES) -> dict[str, dict[str, int]]:
    """What one clean publish of each shape makes on each platform (a thread: its parts)."""
    out = {}
    for shape in shapes:
        post_id, before, _ = publish(world, shape, f"base-{shape}-{time.time_ns()}", [])
        out[shape] = {c.platform: c.made for c in tally(world, post_id, before, {})}
    return out


def run_cell(world: World, step: Step, fault: str, fields: dict[str, Any], base: dict[str, dict[str, int]]) -> Result:
    from benchmarks.reliability.common import has_traceback

    faults = [{"path": path, "method": "" if "method/" in path else "POST", "skip": step.skip, **fields}
              for path in step.paths.values()]  # fmt: skip
    post_id, before, runs = publish(world, step.shape, f"{fault[:3]}-{time.time_ns()}", faults)
    counts = [c for c in tally(world, post_id, before, base[step.shape]) if c.platform in step.paths]
    with world.store() as store:
        tries = {d.account: d.attempts for d in store.get_post(post_id).deliveries}
    return Result(step.name, fault, counts, tries, any(has_traceback(r.stderr) for r in runs))


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    results: list[Result] = []
    with World("after", main={"request_timeout": "2s"}) as world:
        base = baselines(world)
        out(f"  one clean publish makes: {base}")
        if base["thread"]["twitter"] != THREAD_PARTS:
            raise RuntimeError(f"the thread is {base['thread']['twitter']} tweets, not {THREAD_PARTS}: fix the text")
        for step in STEPS:
            if quick and not step.quick:
                continue
            for fault, fields, fast in FAULTS:
                if quick and not fast:
                    continue
                r = run_cell(world, step, fault, fields, base)
                results.append(r)
                cells = ", ".join(f"{c.platform} {c.status} ({r.tries[c.account]})" for c in r.counts)
                out(f"  {step.name:<28} {fault:<14} {cells}  {'; '.join(r.wrong()) or 'ok'}")
        counts = [c for r in results for c in r.counts]
        wrong = [f"{r.step}, {r.fault}: {w}" for r in results for w in r.wrong()]
        summary = report(world, counts, wrong, started)
    rows = [{"step": r.step, "fault": r.fault, "tries": r.tries, "wrong": r.wrong(),
             "counts": [c.__dict__ for c in r.counts]} for r in results]  # fmt: skip
    return {"baseline": base, "cells": len(results), "results": rows, **summary}
