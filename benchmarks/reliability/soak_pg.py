"""Part 1b, the crash soak on PostgreSQL: three daemons on one database, a random one SIGKILLed again and again.

Three ``crosspost daemon`` processes share one PostgreSQL database (a schema of
its own, on the server that ``CROSSPOST_TEST_POSTGRES`` or ``--database-url``
names). Posts are queued all through the run (a batch before each kill, due
within seconds, as staff queue them while the daemons run), to the four
sandbox accounts, with images and X threads as in the SQLite soak (part 1);
a few are left overdue (``missed``) and now and then a platform refuses one
(``failed``). The sandbox delays some publish requests by 0.5 to 8 s (some longer
than a claim's lease, all under ``request_timeout``) and some uploads, and every
other kill waits for a moment when the victim holds a claim whose account has a request in flight at the sandbox: with
one request in flight per account, that request is the victim's, so the kill
lands mid-request. The first kill lands at the start of a publish delayed
beyond the lease, so that the take-over's wait is put to the test every run.
Each killed daemon is restarted at once. Then the faults are cleared, the three
daemons settle everything, and each stops on SIGTERM.

Checked afterwards, from the sandbox's own records: no text twice on any
account (duplicates); every ``sent`` delivery on the platform at its remote id,
and every delivery settled (lost); what the store says beside what the
platform shows, for every delivery (``sent`` exactly when on the platform;
``unknown`` only with its reason); and no request to one account begun while
another to the same account was being served, across the daemons, killed ones
included (overlaps). With ``notify``, the notices as in part 1.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from benchmarks.reliability.common import PLATFORMS, PUBLISH_PATH, TERMINAL, World
from benchmarks.reliability.receiver import Receiver
from benchmarks.reliability.soak import (
    arm_delays,
    check_notices,
    closing_figures,
    held_notices,
    make_overdue,
    queued_notices,
    verify,
    write_soak_post,
)
from benchmarks.reliability.tally import overlaps
from crosspost.notify.sender import GROUP_WINDOW, lease_for
from crosspost.store.tables import deliveries

DAEMONS = 3
# A publish delayed longer than a claim's lease (crosspost.daemon.presence.LEASE_SECONDS, 6 s) is still
# on its way when a killed owner's lease lapses: only the take-over's wait for request_timeout keeps the
# new owner's look-up from missing it (and resending). Delays stay under request_timeout, so that
# every delay is one the daemon waits out rather than a timeout.
REQUEST_TIMEOUT = 10
LONGEST_DELAY = 8.0
NO_DATABASE = (
    "the PostgreSQL soak needs a server: set CROSSPOST_TEST_POSTGRES or pass --database-url "
    "(.ci/with-postgres starts a throwaway one)"
)


def database_url(given: str | None = None) -> str:
    """The server to soak on: ``given``, else CROSSPOST_TEST_POSTGRES; one clear error without either."""
    url = given or os.environ.get("CROSSPOST_TEST_POSTGRES", "")
    if not url.startswith("postgresql"):
        raise ValueError(NO_DATABASE if not url else f"{NO_DATABASE}; a {url.split(':', 1)[0]}: URL is not PostgreSQL")
    return url


def run(
    posts: int = 300,
    kills: int = 40,
    seed: int = 1950,
    *,
    database: str | None = None,
    pause: tuple[float, float] = (1.0, 8.0),
    notify: bool = True,
    settle_seconds: float = 300,
    request_timeout: int = REQUEST_TIMEOUT,
    longest: float = LONGEST_DELAY,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Queue ``posts`` over ``kills`` kills ``pause`` seconds apart (uniform), settle, check. Publish
    delays go up to ``longest`` seconds, under ``request_timeout``: keep it above the lease (6 s)."""
    url = database_url(database)
    rng = random.Random(seed)
    started = time.monotonic()
    main = {"max_attempts": 20, "request_timeout": f"{request_timeout}s"}
    with World("soakpg", main=main, postgres=url) as world, Receiver() as hook:
        if notify:
            text = world.config.read_text(encoding="utf-8") + f'\n[notify]\nurls = ["{hook.url}"]\n'
            world.config.write_text(text, encoding="utf-8")
        with world.store():  # the schema, made once before three daemons race for it
            pass
        stamp = time.strftime("%H%M%S")
        # A fifth due at once (a few of them made overdue before any daemon can claim them), the rest in
        # one batch before each kill, written while the daemons start.
        first = max(1, posts // 5)
        post_ids = world.queue_inprocess([(write_soak_post(world, i, stamp), datetime.now(UTC)) for i in range(first)])
        overdue = make_overdue(world, post_ids[1::7][: max(1, posts // 50)])
        daemons = [world.daemon() for _ in range(DAEMONS)]
        rest = [write_soak_post(world, i, stamp) for i in range(first, posts)]
        batches = [rest[k * len(rest) // kills : (k + 1) * len(rest) // kills] for k in range(kills)]
        out(f"  {DAEMONS} daemons on PostgreSQL; {posts} posts x {len(PLATFORMS)} accounts queued over the run "
            f"({len(overdue)} overdue); {kills} kills")  # fmt: skip
        wait_live(world, DAEMONS)  # the first kill then finds three daemons at work, not three starting
        live_after = round(time.monotonic() - started, 1)
        kill_log: list[dict[str, Any]] = []
        refusals = 0
        for k in range(kills):
            now = datetime.now(UTC)
            post_ids += world.queue_inprocess(
                (p, now + timedelta(seconds=rng.uniform(0, pause[1]))) for p in batches[k]
            )
            if k == 0:
                arm_long(world, longest)  # and no pause: the kill waits for one of those to begin
            elif k % 3 == 0:
                refusals += arm_delays(world, rng, refuse=k % 9 == 0, longest=longest)
            time.sleep(rng.uniform(*pause) if k else 0)
            slot, moment = pick_victim(world, daemons, rng, mid_request=k % 2 == 0, fresh=k == 0, wait=longest)
            victim = daemons[slot]
            early = victim.poll()
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            daemons[slot] = world.daemon()  # restarted at once, as systemd's Restart= would
            kill_log.append({**moment, "exited_early": early})
            if (k + 1) % 10 == 0:
                done = sum(1 for d in world.deliveries() if d.status in TERMINAL)
                out(f"  {k + 1} kills; {done} of {len(post_ids) * len(PLATFORMS)} deliveries settled")

        world.sandbox.clear_faults()
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and not all(d.status in TERMINAL for d in world.deliveries()):
            time.sleep(0.5)
        settled_after = round(time.monotonic() - started, 1)
        held = held_notices(world) if notify else 0
        # A notice group a killed daemon had claimed waits for that claim's lease (minutes).
        notice_deadline = time.monotonic() + (lease_for(1) + GROUP_WINDOW).total_seconds() + 30
        while notify and time.monotonic() < notice_deadline and queued_notices(world):
            time.sleep(0.5)
        for proc in daemons:
            proc.send_signal(signal.SIGTERM)
        exits = [proc.wait(60) for proc in daemons]
        result = verify(world, post_ids)
        if notify:
            result["notices"] = check_notices(world, hook) | {"held_by_a_killed_sender": held}
        result.update(
            requests=overlaps(world),
            posts=len(post_ids),
            deliveries=len(post_ids) * len(PLATFORMS),
            overdue_posts=len(overdue),
            kills_mid_request=sum(1 for k in kill_log if k["mid_request"]),
            kills_holding_claims=sum(1 for k in kill_log if k["claims"]),
            kill_log=kill_log,
            daemons_started=len(world.procs),
            shares=shares(world),
            clean_exits=exits,
            live_after=live_after,
            settled_after=settled_after,
            **closing_figures(world, kill_log, refusals, started, hook if notify else None),
        )
    return result


def wait_live(world: World, count: int, timeout: float = 60) -> None:
    """Until ``count`` daemons hold their presence lock on the database (each is past its start)."""
    from crosspost.store.wake import live_daemons

    deadline = time.monotonic() + timeout
    with world.store() as store:
        while live_daemons(store.engine) < count and time.monotonic() < deadline:
            time.sleep(0.1)


def claims_by_pid(world: World) -> dict[int, set[str]]:
    """The accounts each daemon holds a claim on now (``sending`` under its lease), by pid."""
    with world.store() as store, store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.lease_owner, deliveries.c.account).where(deliveries.c.status == "sending")
        ).all()
    held: dict[int, set[str]] = {}
    for owner, account in rows:
        if owner and owner.startswith("pid "):
            held.setdefault(int(owner.split()[1]), set()).add(account)
    return held


def arm_long(world: World, seconds: float) -> None:
    """Every platform's next two publishing requests take ``seconds`` (longer than a lease): the first
    kill lands at the start of one, so the killed owner's request is still on its way when its lease
    lapses, and a take-over that did not wait for ``request_timeout`` would meet it (an overlap)."""
    world.sandbox.clear_faults()
    for platform in PLATFORMS:
        world.fault(path=PUBLISH_PATH[platform], method="POST", delay=seconds, times=2)


def pick_victim(
    world: World,
    daemons: list[subprocess.Popen[bytes]],
    rng: random.Random,
    *,
    mid_request: bool,
    fresh: bool = False,
    wait: float = 3.0,
) -> tuple[int, dict[str, Any]]:
    """Which daemon to kill now, and what it was doing.

    ``mid_request``: wait (up to ``wait`` s) for a daemon holding a claim whose account has a request in
    flight at the sandbox. Each account has one request in flight at most (the rule :func:`overlaps`
    checks), so that request is the victim's. ``fresh``: a publishing request begun since this call, so
    that the kill lands at its start. Otherwise, or when no such moment comes: any daemon, at once."""
    deadline = time.monotonic() + (wait if mid_request else 0.0)
    with world.sandbox.lock:
        before = Counter(world.publishes_begun)
    while True:
        held, busy = claims_by_pid(world), world.in_flight_by_platform()
        if fresh:
            with world.sandbox.lock:
                begun = world.publishes_begun - before
            busy = {p: n for p, n in busy.items() if begun[p]}
        pids = [p.pid for p in daemons]
        # One account per platform in this world: a platform's requests are its account's.
        hit = [i for i, pid in enumerate(pids) if held.get(pid, set()) & set(busy)]
        if hit or time.monotonic() >= deadline:
            slot = rng.choice(hit) if hit else rng.randrange(len(daemons))
            claims = sorted(held.get(pids[slot], set()))
            moment = {"claims": claims, "in_flight": busy, "mid_request": bool(set(claims) & set(busy)), "fresh": fresh}
            return slot, moment
        time.sleep(0.02)


def shares(world: World) -> list[int]:
    """Deliveries each daemon process settled as sent (from its log), in start order."""
    return [world.daemon_stderr(p).count("status=sent") for p in world.procs]


def report(r: dict[str, Any], say: Callable[[str], None]) -> bool:
    """Print the figures of :func:`run`; True when every check holds."""
    q, n = r["requests"], r.get("notices")
    say(
        f"  kills {r['kills']} ({r['kills_mid_request']} mid-request, {r['kills_holding_claims']} holding a claim), "
        f"{r['daemons_started']} daemon processes, sent per process {r['shares']}; "
        f"posts {r['posts']}, deliveries {r['deliveries']}: {r['statuses']}; "
        f"duplicates {r['duplicates']}, lost {r['lost']}, overlaps {q['overlaps']} in {sum(q['requests'].values())} "
        f"requests; unknown {len(r['unknown'])}; exits {r['clean_exits']}; settled after {r['settled_after']} s, "
        f"{r['seconds']} s in all"
    )
    say(f"  store beside platform: {r['store_vs_platform']}; a try cut off by a kill: {r['interrupted_by_status']}")
    for (account, shown, reason), count in unknown_reasons(r["unknown"]).most_common():
        say(f"  unknown x{count}: {account}, {shown}: {reason}")
    for line in [*r["wrong_status"], *r["lost_detail"], *q["examples"]]:
        say(f"  WRONG: {line}")
    if n:
        say(f"  notices: {n['finals']} final failed/unknown/missed deliveries {n['by_status']}, "
            f"{n['received']} received, outbox {n['states']}; wrong {len(n['wrong'])}")  # fmt: skip
        for w in n["wrong"]:
            say(f"  NOTICE WRONG: {w}")
    return (
        r["duplicates"] == 0 and r["lost"] == 0 and q["overlaps"] == 0 and not r["wrong_status"]
        and r["tracebacks"] == 0 and r["clean_exits"] == [0] * DAEMONS and not (n and n["wrong"])
        and all("look-up" in (u["error"] or "") or not u["on_platform"] for u in r["unknown"])
    )  # fmt: skip


def unknown_reasons(unknown: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """The unknown deliveries by account, whether the post is public, and reason (times and ids left out)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for u in unknown:
        reason = (u["error"] or "NO REASON").split(": ", 1)[-1].split(";")[0]
        reason = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "the try", reason)
        out[(u["account"], "on the platform" if u["on_platform"] else "not (all) on it", reason)] += 1
    return out
