"""The four counts every scenario reports, from the sandbox's walls and the delivery log.

A scenario takes a :class:`Snapshot` of the walls before its post goes out (after any look-alike
posts are seeded), then :func:`tally` compares. The sandbox's wall is the truth: what the emulator
made is what the platform would show, whatever crosspost was told.

- **duplicates**: posts a delivery made beyond what one clean publish of the same post makes
  (``baseline``: a thread is several posts, a Telegram album plus its text two messages).
- **lost**: a delivery neither sent nor in a status that says why: still waiting, a final status
  without a reason, ``sent`` with nothing new on the wall, or ``failed`` while its post is public
  (the status then hides a public post).
- **false sent**: ``sent`` with a remote id that is not a post this scenario made (another post's id,
  a look-alike's, a visitor's): the silent loss crosspost exists to prevent.
- **unknown**: each ``unknown`` with its reason, for the report.

:func:`overlaps` reads the sandbox's request log for the rule "never two requests in flight for one
account", whichever daemon (or dead daemon) sent them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.reliability.common import TERMINAL, World, platform_of
from crosspost.store.records import DeliveryRecord


@dataclass(frozen=True)
class Snapshot:
    """The post ids on each platform's wall at one moment."""

    ids: dict[str, frozenset[str]]

    @classmethod
    def take(cls, world: World) -> Snapshot:
        state = world.sandbox.state()
        return cls({p: frozenset(str(x["id"]) for x in s["posts"]) for p, s in state.items()})

    def new(self, world: World, platform: str) -> list[dict[str, Any]]:
        """The posts on ``platform`` made since this snapshot."""
        return [x for x in world.posts(platform) if str(x["id"]) not in self.ids.get(platform, frozenset())]


@dataclass
class Count:
    """One delivery's verdict."""

    account: str
    platform: str
    status: str
    made: int  # posts on the wall made since the snapshot
    baseline: int  # posts one clean publish makes
    remote_id: str | None
    error: str
    duplicates: int = 0
    lost: bool = False
    false_sent: bool = False
    why: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.false_sent)


def count(delivery: DeliveryRecord, made: list[dict[str, Any]], baseline: int) -> Count:
    """The verdict on one delivery, given the posts made on its platform since the snapshot."""
    c = Count(
        account=delivery.account,
        platform=delivery.platform,
        status=delivery.status,
        made=len(made),
        baseline=baseline,
        remote_id=delivery.remote_id,
        error=delivery.error or "",
    )
    c.duplicates = max(0, len(made) - baseline)
    if c.duplicates:
        c.why.append(f"{len(made)} posts made, one publish makes {baseline}")
    made_ids = {str(x["id"]) for x in made}
    if delivery.status == "sent":
        if not made:
            c.lost = True
            c.why.append("sent, but nothing new on the platform")
        elif str(delivery.remote_id) not in made_ids:
            c.false_sent = True
            c.why.append(f"sent as {delivery.remote_id}, which is not the post this delivery made")
    elif delivery.status not in TERMINAL:
        c.lost = True
        c.why.append(f"still {delivery.status}")
    elif not delivery.error and delivery.status != "cancelled":
        c.lost = True
        c.why.append(f"{delivery.status} without a reason")
    elif delivery.status == "failed" and made:
        c.lost = True
        c.why.append("failed, while its post is public")
    return c


def tally(world: World, post_id: int, before: Snapshot, baseline: dict[str, int]) -> list[Count]:
    """The verdict on each delivery of ``post_id``, the only post published since ``before``."""
    with world.store() as store:
        deliveries = store.get_post(post_id).deliveries
    return [count(d, before.new(world, d.platform), baseline.get(d.platform, 1)) for d in deliveries]


def totals(counts: list[Count]) -> dict[str, Any]:
    """Sums over many verdicts, with each unknown's reason."""
    return {
        "deliveries": len(counts),
        "duplicates": sum(c.duplicates for c in counts),
        "lost": sum(1 for c in counts if c.lost),
        "false_sent": sum(1 for c in counts if c.false_sent),
        "unknown": sum(1 for c in counts if c.status == "unknown"),
        "problems": [f"{c.account}: {c.status}; {'; '.join(c.why)}" for c in counts if not c.ok],
    }


def report(world: World, counts: list[Count], wrong: list[str], started: float) -> dict[str, Any]:
    """What every counted part returns besides its own rows: the sums, each unknown's reason, what is
    wrong (empty: the part holds), its time, and the secrets scan of everything crosspost wrote."""
    return {
        "totals": totals(counts),
        "unknown_reasons": sorted({f"{c.platform}: {c.error}" for c in counts if c.status == "unknown"}),
        "wrong": wrong,
        "seconds": round(time.monotonic() - started, 1),
        "leaks": world.scan(),
        "scanned": world.scanned(),
    }


def _bare(path: str) -> str:
    """A request path fit to print: Telegram's carries the bot token."""
    return re.sub(r"^/bot[^/]+/", "/bot…/", path)


def overlaps(world: World) -> dict[str, Any]:
    """For each platform (one account each here): the requests the sandbox served, and those that
    began while another request of the same account was still being served.

    Each request's window is the sandbox's own: from the moment it had read the request (before any
    injected delay) to the moment it had its answer ready (before writing it). That is what the
    platform sees, and a lower bound on what the client sees; a request whose client was killed
    still counts, until the sandbox is done with it.
    """
    with world.sandbox.lock:
        rows = [(platform_of(world.sandbox, r["path"]), r) for r in world.sandbox.requests]
    windows: dict[str, list[tuple[float, float, str]]] = {}
    for platform, r in rows:
        if platform:
            windows.setdefault(platform, []).append((r["at"], r["at"] + r["seconds"], r["path"]))
    counts: dict[str, int] = {}
    examples: list[str] = []
    for platform, spans in windows.items():
        spans.sort()
        counts[platform] = 0
        end, path = float("-inf"), ""
        for start, stop, what in spans:
            if start < end:  # begun before the latest-ending earlier request was answered
                counts[platform] += 1
                ahead = end - start
                examples.append(f"{platform}: {_bare(what)} began {ahead:.3f} s before {_bare(path)} was answered")
            if stop > end:
                end, path = stop, what
    return {
        "requests": {p: len(s) for p, s in windows.items()},
        "overlaps": sum(counts.values()),
        "by_platform": counts,
        "examples": examples[:20],
    }
