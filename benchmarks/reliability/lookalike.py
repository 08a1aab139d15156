"""Part 2c, look-ups among look-alikes: an ambiguous try settled on a wall holding posts much like ours.

Before the try, the sandbox's seed control (``POST /_sandbox/seed``, in-process here) puts on each wall
what an ordinary day leaves there: yesterday's post with the same text and another link, an earlier
photo post with no text, a visitor's photo post with our text (Facebook and VK walls take visitors'
posts). Then our post's publish request is dropped, either before the platform acted (nothing of ours
exists: the look-up must say absent and crosspost publish it, or say it cannot settle) or after (ours
exists beside the look-alike: the look-up must find ours, not the other one).

Counted as everywhere (:mod:`benchmarks.reliability.tally`): a ``sent`` whose remote id is a look-alike's
is a false sent, the failure this part exists to catch. ``unknown`` is allowed, with its reason (a
look-up that cannot tell two posts apart must not guess), and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from benchmarks.reliability.common import PUBLISH_PATH, World, has_traceback
from benchmarks.reliability.tally import Count, Snapshot, report, tally

LINK, OTHER = "https://example.org/brief/{stamp}/today", "https://example.org/brief/{stamp}/yesterday"


@dataclass(frozen=True)
class Case:
    name: str
    platforms: tuple[str, ...]
    body: str  # our post's body ("" for image only)
    image: bool
    link: bool
    seed: Callable[[str, str, str], dict[str, Any]]  # (platform, our rendered text, stamp) -> the look-alike's seed
    quick: bool = False


def _other_link(platform: str, text: str, stamp: str) -> dict[str, Any]:
    link, other = LINK.format(stamp=stamp), OTHER.format(stamp=stamp)
    if platform == "facebook":  # without images the link is Graph's link field; the message is the same
        return {"text": text, "link": other}
    return {"text": text.replace(link, other)}


CASES: tuple[Case, ...] = (
    Case("two posts differing only in their link", ("twitter", "facebook", "vk"), "Today's brief {stamp}.",
         False, True, _other_link, quick=True),
    # X refuses a post without text (2026), so a text-less photo post goes to the walls that take one.
    Case("two photo posts in a row (no text)", ("facebook", "vk"), "", True, False,
         lambda platform, text, stamp: {"text": "", "images": 1}, quick=True),
    Case("a visitor's photo post with our text", ("facebook", "vk"), "Photos of the exhibition {stamp}.", True,
         False, lambda platform, text, stamp: {"text": text, "images": 1, "visitor": True}),
)  # fmt: skip
DROPS = ("before", "after")


@dataclass
class Result:
    case: str
    drop: str
    counts: list[Count]
    history: dict[str, list[str]]
    traceback: bool


def run_case(world: World, case: Case, drop: str) -> Result:
    from benchmarks.reliability.soak import png

    stamp = f"{drop}{time.time_ns()}"
    extra = "to = [" + ", ".join(f'"{p}"' for p in case.platforms) + "]\n"
    if case.link:
        extra += f'link = "{LINK.format(stamp=stamp)}"\n'
    if case.image:
        (world.folder / "posts" / "media").mkdir(exist_ok=True)
        png(world.folder / "posts" / "media" / f"{stamp}.png", len(stamp) * 7)
        extra += f'images = [{{ path = "media/{stamp}.png", alt = "A photo" }}]\n'
    path = world.write_post(case.body.format(stamp=stamp), title=f"look-alike {stamp}", extra=extra)
    world.sandbox.reset()  # only the look-alikes on the walls (X's look-up reads at most 50 posts)
    (post_id,) = world.queue_inprocess([(path, datetime.now(UTC))])  # nothing runs until the daemon does
    with world.store() as store:
        for d in store.get_post(post_id).deliveries:
            draft, _ = store.draft_of(d.id)
            world.sandbox.seed(d.platform, case.seed(d.platform, draft.parts[0], stamp))
    before = Snapshot.take(world)
    for platform in case.platforms:
        world.fault(path=PUBLISH_PATH[platform], method="POST", drop=drop)
    runs = world.settle(max_runs=6)
    world.sandbox.clear_faults()
    counts = tally(world, post_id, before, {})
    with world.store() as store:
        history = {d.account: [a.outcome for a in d.history] for d in store.get_post(post_id).deliveries}
    return Result(case.name, drop, counts, history, any(has_traceback(r.stderr) for r in runs))


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    results: list[Result] = []
    with World("lookalike", main={"request_timeout": "2s"}) as world:
        for case in CASES:
            if quick and not case.quick:
                continue
            for drop in DROPS:
                r = run_case(world, case, drop)
                results.append(r)
                for c in r.counts:
                    verdict = "; ".join(c.why) or "ok"
                    out(f"  {case.name:<40} drop {drop:<6} {c.platform:<9} {c.status:<8} "
                        f"{'/'.join(r.history[c.account])}  {verdict}")  # fmt: skip
        counts = [c for r in results for c in r.counts]
        wrong = [f"{r.case}, drop {r.drop}: {c.account}: {'; '.join(c.why)}" for r in results for c in r.counts
                 if not c.ok]  # fmt: skip
        wrong += [f"{r.case}, drop {r.drop}: TRACEBACK" for r in results if r.traceback]
        summary = report(world, counts, wrong, started)
    rows = [{"case": r.case, "drop": r.drop, "history": r.history, "traceback": r.traceback,
             "counts": [c.__dict__ for c in r.counts]} for r in results]  # fmt: skip
    return {"results": rows, **summary}
