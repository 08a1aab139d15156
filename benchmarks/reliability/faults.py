"""Part 2, the fault matrix: each fault, on each platform's publish request, through ``crosspost daemon --once``.

One cell is one fault kind. For each cell a fresh post goes to the four
accounts at once (the fault matches only that platform's publish path, so the
platforms do not disturb each other), then ``daemon --once`` runs until the
deliveries settle (bounded). Recorded per platform: the final status, the
tries spent, the message an admin sees (``log --json``'s ``error``, and the
first try's error from ``show --json``), how many copies the sandbox holds,
and whether any run printed a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from benchmarks.reliability.common import (
    BLIND,
    LOOKUP_METHOD,
    LOOKUP_PATH,
    PLATFORMS,
    PUBLISH_PATH,
    World,
    has_traceback,
)

TIMEOUT = 2.0  # the matrix's request_timeout: a read timeout costs this much
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Sorry, something went wrong.</h1></body></html>"
)

FaultsFor = Callable[[str], list[dict[str, Any]]]


def on_publish(**fields: Any) -> FaultsFor:
    return lambda p: [{"path": PUBLISH_PATH[p], "method": "POST", **fields}]


def lookup_refused(p: str) -> list[dict[str, Any]]:
    return [
        {"path": PUBLISH_PATH[p], "method": "POST", "drop": "after"},
        {"path": LOOKUP_PATH[p], "method": LOOKUP_METHOD[p], "error": "permission", "times": 0},
    ]


@dataclass(frozen=True)
class Cell:
    name: str
    faults: FaultsFor
    expected: str  # the final status every platform must reach
    copies: int  # how many copies of the post the platform must hold at the end
    tries: int | None = None  # the tries expected (None: not fixed), noted when it differs
    platforms: tuple[str, ...] = PLATFORMS
    quick: bool = False
    # On a platform that cannot look a post up (BLIND: Telegram), an ambiguous try cannot be settled:
    # (copies on the platform) with status "unknown" and one try, never a resend. None: as everywhere.
    blind: int | None = None

    def expect(self, platform: str) -> tuple[str, int, int | None]:
        """The status, copies and tries expected on ``platform``."""
        if platform in BLIND and self.blind is not None:
            return "unknown", self.blind, 1
        return self.expected, self.copies, self.tries


CELLS: tuple[Cell, ...] = (
    Cell("HTTP 500, plain text", on_publish(status=500, body="Internal Server Error",
         headers={"Content-Type": "text/plain"}), "sent", 1, 2, quick=True, blind=0),
    Cell("HTTP 502, nginx HTML page", on_publish(status=502, body=NGINX_502), "sent", 1, 2, blind=0),
    Cell("HTTP 503, empty, Retry-After: 1", on_publish(status=503, body="", headers={"Retry-After": "1"}),
         "sent", 1, 2, blind=0),
    Cell("the platform's own server error", on_publish(error="server"), "sent", 1, 2, blind=0),
    Cell("429/rate limit with reset info", on_publish(error="rate_limit", reset_in=2), "sent", 1, 2),
    Cell("HTTP 429 without reset headers", on_publish(status=429, body='{"title": "Too Many Requests"}',
         headers={"Content-Type": "application/json"}), "sent", 1, 2),
    Cell("read timeout, nothing made", on_publish(delay=TIMEOUT + 0.5, drop="before"), "sent", 1, 2, blind=0),
    Cell("read timeout, post made late", on_publish(delay=TIMEOUT + 0.3), "sent", 1, blind=1),
    Cell("connection reset before the request ran", on_publish(drop="before"), "sent", 1, 2, blind=0),
    Cell("connection reset after the post was made", on_publish(drop="after"), "sent", 1, 1, quick=True, blind=1),
    Cell("HTTP 200 with an HTML error page", on_publish(status=200, body=ERROR_PAGE), "sent", 1, 2, blind=0),
    Cell("HTTP 200 with an empty body", on_publish(status=200, body="",
         headers={"Content-Type": "application/json"}), "sent", 1, 2, blind=0),
    Cell("garbage body after the post was made", on_publish(garbage=True), "sent", 1, 1, blind=1),
    Cell("auth error (bad token)", on_publish(error="auth"), "failed", 0, 1, quick=True),
    Cell("permission error", on_publish(error="permission"), "failed", 0, 1),
    Cell("duplicate-content refusal", on_publish(error="duplicate"), "failed", 0, 1),
    Cell("bad request (content refused)", on_publish(error="bad_request"), "failed", 0, 1),
    Cell("captcha (error 14)", on_publish(error="captcha"), "failed", 0, 1, platforms=("vk",)),
    Cell("reset after the post was made, look-up refused", lookup_refused, "unknown", 1, 1, quick=True),
)  # fmt: skip


@dataclass
class Result:
    cell: str
    platform: str
    expected: str
    status: str
    tries: int
    copies: int
    copies_expected: int
    tries_expected: int | None
    message: str
    first_error: str
    runs: int
    exit_codes: list[int]
    traceback: bool

    @property
    def ok(self) -> bool:
        return self.status == self.expected and self.copies == self.copies_expected and not self.traceback

    @property
    def note(self) -> str:
        notes = []
        if self.status != self.expected:
            notes.append(f"WRONG STATUS (expected {self.expected})")
        if self.copies != self.copies_expected:
            notes.append(f"{self.copies} copies on the platform (expected {self.copies_expected})")
        if self.traceback:
            notes.append("TRACEBACK")
        if self.tries_expected is not None and self.tries != self.tries_expected:
            notes.append(f"tries {self.tries}, {self.tries_expected} expected")
        return "; ".join(notes)


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    cells = [c for c in CELLS if c.quick or not quick]
    results: list[Result] = []
    started = time.monotonic()
    with World("faults", main={"request_timeout": f"{int(TIMEOUT)}s"}) as world:
        for n, cell in enumerate(cells, 1):
            results += run_cell(world, cell, n)
            for r in results[-len(cell.platforms) :]:
                out(f"  {r.cell:<50} {r.platform:<9} {r.status:<8} tries {r.tries}  {'ok' if r.ok else r.note}")
        leaks = world.scan()
        scanned = world.scanned()
    bad = [r for r in results if not r.ok]
    return {
        "cells": len(cells),
        "results": [r.__dict__ | {"ok": r.ok, "note": r.note} for r in results],
        "mismatches": len(bad),
        "seconds": round(time.monotonic() - started, 1),
        "leaks": leaks,
        "scanned": scanned,
    }


def run_cell(world: World, cell: Cell, n: int) -> list[Result]:
    world.sandbox.clear_faults()
    for platform in cell.platforms:
        for fields in cell.faults(platform):
            world.fault(**fields)
    text = f"Fault matrix cell {n}: {cell.name}. Stamp {time.time_ns()}."
    to = "to = [" + ", ".join(f'"{p}"' for p in cell.platforms) + "]\n"
    path = world.write_post(text, title=f"cell {n}: {cell.name}", extra=to)
    (post_id,) = world.queue_inprocess([(path, datetime.now(UTC))])
    runs = world.settle(max_runs=6)
    world.sandbox.clear_faults()
    codes = [r.returncode for r in runs]
    traceback = any(has_traceback(r.stderr) or has_traceback(r.stdout) for r in runs)
    records = {d["account"]: d for d in world.log_json() if d["post_id"] == post_id}
    shown = {d["account"]: d for d in world.show_json(post_id)["deliveries"]}
    results = []
    for platform in cell.platforms:
        expected, copies_expected, tries_expected = cell.expect(platform)
        record = records[platform]
        tries = [a for a in shown[platform]["history"] if a.get("is_try")]
        first_error = next((a["error"] for a in tries if a.get("error")), "") or ""
        copies = sum(1 for p in world.posts(platform) if text.split(" Stamp")[0] in (p.get("text") or ""))
        results.append(
            Result(
                cell=cell.name,
                platform=platform,
                expected=expected,
                status=record["status"],
                tries=record["attempts"],
                copies=copies,
                copies_expected=copies_expected,
                tries_expected=tries_expected,
                message=record["error"] or "",
                first_error=first_error,
                runs=len(runs),
                exit_codes=codes,
                traceback=traceback,
            )
        )
    return results
