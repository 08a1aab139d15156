"""``python -m benchmarks.reliability [--quick] [--only PART ...] [--database-url URL] [--json PATH]``: run the parts.

Exit status 0 when every check holds (0 duplicates, 0 lost, every fault cell
right, bad input refused cleanly, no secret found, no "database is locked"),
else 1. ``--quick`` runs a smaller version of every part (under ~3 minutes).
``soak-pg`` (three daemons on PostgreSQL) runs on the server that ``--database-url`` or
CROSSPOST_TEST_POSTGRES names (``.ci/with-postgres`` starts one); without either it is skipped,
unless asked for by name with ``--only``: then that is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.reliability import after, badinput, faults, frozen, load, lookalike, secretscan, soak, soak_pg
from benchmarks.reliability.common import PLATFORMS, machine

PARTS = ("soak", "soak-pg", "faults", "after", "lookalike", "frozen", "badinput", "secrets", "load")
# The parts that count duplicates, lost, false sent and unknown (benchmarks.reliability.tally).
COUNTED: dict[str, tuple[Any, str]] = {
    "after": (after, "2b. after-the-post faults: 5xx/garbage/drop after the platform acted, on every publishing step"),
    "lookalike": (lookalike, "2c. look-ups among look-alike posts (seeded), publish dropped before or after"),
    "frozen": (frozen, "2d. frozen daemons: SIGSTOP mid-request, a second daemon takes over, then SIGCONT"),
}


def say(line: str = "") -> None:
    print(line, flush=True)


def counted(t: dict[str, Any]) -> str:
    return (f"{t['deliveries']} deliveries: duplicates {t['duplicates']}, lost {t['lost']}, "
            f"false sent {t['false_sent']}, unknown {t['unknown']}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs of every part")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--database-url", help="soak-pg: a PostgreSQL server (default: $CROSSPOST_TEST_POSTGRES)")
    args = parser.parse_args(argv)
    parts = args.only or PARTS
    quick = args.quick
    try:
        postgres = soak_pg.database_url(args.database_url)
    except ValueError as exc:
        if args.only and "soak-pg" in args.only:
            parser.error(f"soak-pg: {exc}")
        postgres = ""
    info = machine()
    say(f"crosspost reliability ({'quick' if quick else 'full'}): {info}")
    results: dict[str, Any] = {"machine": info, "quick": quick}
    verdicts: dict[str, bool] = {}
    started = time.monotonic()

    if "soak" in parts:
        posts, kills = (20, 10) if quick else (100, 50)
        say(f"\n1. crash soak: {posts} posts x {len(PLATFORMS)} accounts, {kills} SIGKILLs, then a clean run")
        r = soak.run(posts=posts, kills=kills, quick=quick, out=say)
        results["soak"] = r
        say(
            f"  kills {r['kills']} ({r['kills_mid_request']} with a request in flight at the sandbox), "
            f"posts {r['posts']}, deliveries {r['deliveries']}: {r['statuses']}; "
            f"duplicates {r['duplicates']}, lost {r['lost']}, "
            f"unknown {len(r['unknown'])}; clean run exit {r['clean_exit']}; {r['seconds']} s"
        )
        for u in r["unknown"]:
            say(f"  unknown: post {u['post']} {u['account']} on the platform: {u['on_platform']}; {u['error']}")
        for w in r["wrong_status"]:
            say(f"  WRONG: {w}")
        n = r["notices"]
        say(f"  notices: {n['finals']} final failed/unknown/missed deliveries {n['by_status']}, "
            f"{n['received']} notices received, outbox {n['states']}; wrong {len(n['wrong'])}")  # fmt: skip
        for w in n["wrong"]:
            say(f"  NOTICE WRONG: {w}")
        verdicts["soak"] = (
            r["duplicates"] == 0 and r["lost"] == 0 and not r["wrong_status"] and r["tracebacks"] == 0
            and r["clean_exit"] == 0 and not r["notices"]["wrong"]
            and all(not u["on_platform"] or "look-up" in (u["error"] or "") for u in r["unknown"])
        )  # fmt: skip

    if "soak-pg" in parts and not postgres:
        say(f"\n1b. crash soak on PostgreSQL: skipped ({soak_pg.NO_DATABASE})")
        results["soak-pg"] = {"skipped": soak_pg.NO_DATABASE}
    elif "soak-pg" in parts:
        posts, kills = (40, 8) if quick else (300, 40)
        say(f"\n1b. crash soak on PostgreSQL: {soak_pg.DAEMONS} daemons, {posts} posts x {len(PLATFORMS)} accounts "
            f"queued over the run, {kills} SIGKILLs of a random daemon, each restarted")  # fmt: skip
        results["soak-pg"] = r = soak_pg.run(posts=posts, kills=kills, database=postgres, notify=not quick, out=say)
        verdicts["soak-pg"] = soak_pg.report(r, say)

    if "faults" in parts:
        say("\n2. fault matrix: one post per cell to each platform, daemon --once until settled")
        r = faults.run(quick=quick, out=say)
        results["faults"] = r
        say(f"  {len(r['results'])} cells over {r['cells']} faults: {r['mismatches']} mismatches; {r['seconds']} s")
        verdicts["faults"] = r["mismatches"] == 0

    for part, (module, heading) in COUNTED.items():
        if part not in parts:
            continue
        say(f"\n{heading}")
        r = module.run(quick=quick, out=say)
        results[part] = r
        say(f"  {counted(r['totals'])}; wrong {len(r['wrong'])}; {r['seconds']} s")
        for line in r["wrong"]:
            say(f"  WRONG: {line}")
        for reason in r["unknown_reasons"]:
            say(f"  unknown: {reason}")
        verdicts[part] = not r["wrong"]

    if "badinput" in parts:
        say("\n3. bad input: crosspost queue with broken files; hypothesis fuzzing of posts and config")
        r = badinput.run(quick=quick, out=say)
        results["badinput"] = r
        say(f"  {len(r['files'])} bad files, {r['bad']} not refused cleanly; fuzz exit {r['fuzz']['exit']}")
        verdicts["badinput"] = r["bad"] == 0 and r["fuzz"]["exit"] == 0

    if "load" in parts:
        say("\n4. concurrency and load")
        r = load.run(quick=quick, out=say)
        results["load"] = r
        h, two, big, mem = r["hammer"], r["two_daemons"], r["big"], r["memory"]
        filtered = {k: v["wall"] for k, v in big["cli"].items() if "--" in k and k.startswith("log")}
        verdicts["load"] = (
            h["problem_count"] == 0 and h["daemon_locked_lines"] == 0 and not h["daemon_traceback"]
            and h["duplicates"] == 0 and all(v["ok"] for v in h["second_daemon"].values()) and two["ok"]
            and all(v < 0.5 for v in filtered.values()) and not mem["daemon_traceback"]
            and (mem["growth_pct_second_vs_first_half"] or 0) < 15
        )  # fmt: skip
        slowest = max(filtered, key=lambda name: filtered[name])
        say(f"  slowest filtered log: {slowest} {filtered[slowest] * 1000:.0f} ms (limit 500 ms)")

    if "secrets" in parts:
        say("\n5. secrets: distinctive tokens in every scenario; scan of everything crosspost wrote")
        r = secretscan.run(quick=quick, out=say)
        results["secrets"] = r
        scanned_parts = [
            p for p in ("soak", "soak-pg", "faults", *COUNTED, "badinput") if "leaks" in results.get(p, ())
        ]
        others: dict[str, Any] = {p: results[p]["leaks"] for p in scanned_parts}
        if "load" in results:
            others.update({f"load.{k}": results["load"][k]["leaks"] for k in ("hammer", "big", "memory")})
        total = sum(len(v) for v in others.values()) + len(r["scenario"]["leaks"])
        scanned = sum(results[p]["scanned"][1] for p in scanned_parts)
        say(f"  leaks: scenario {len(r['scenario']['leaks'])}, other parts {others}; bytes scanned in other parts "
            f"{scanned}")  # fmt: skip
        for p, leaks in [("scenario", r["scenario"]["leaks"]), *others.items()]:
            for leak in leaks:
                say(f"  LEAK {p}: {leak}")
        verdicts["secrets"] = total == 0 and r["permissions"].get("ok", False)

    results["verdicts"] = verdicts
    results["seconds"] = round(time.monotonic() - started, 1)
    say(f"\nverdicts: {verdicts}; {results['seconds']} s in all")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        say(f"figures written to {args.json}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
