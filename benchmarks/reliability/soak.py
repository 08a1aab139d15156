"""Part 1, the crash soak: the daemon killed with SIGKILL at random moments, then a clean run to finish.

Posts go to the four sandbox accounts (one per platform), due over the soak (some due now, the
rest a little later each). A ``crosspost daemon`` subprocess is started and
killed with SIGKILL after a random lifetime, again and again; the sandbox
delays some publish and upload requests (faults re-armed as the soak goes), so
many kills land while a request is in flight. Some posts carry an image, some
are long enough to be an X thread. Then one daemon runs cleanly until every
delivery is settled, and stops on SIGTERM.

Some deliveries are meant to end otherwise: a few posts are left overdue past ``late_limit`` (as a
daemon that was down would find them: ``missed``), and now and then one platform refuses one post
outright (``failed``). Notices go to a local ``json://`` webhook (``[notify]``), so that the soak also
checks the outbox under kills.

Checked afterwards: every delivery ``sent``, ``unknown`` (Telegram's interrupted sends: no look-up),
``missed`` (the overdue ones) or ``failed`` (a refusal, never while its post is public); no text twice
on any account of the sandbox (duplicates); every sent delivery's text present, at the remote id it
reports (lost); each ``unknown`` is explained by its history; every final ``failed``, ``unknown`` and
``missed`` delivery told in exactly one notice, and none told twice.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from benchmarks.reliability.common import (
    PLATFORMS,
    PUBLISH_PATH,
    TERMINAL,
    UPLOAD_PATH,
    Output,
    World,
    has_traceback,
)
from benchmarks.reliability.receiver import Receiver
from crosspost.notify.sender import GROUP_WINDOW, lease_for
from crosspost.statuses import OUT_INTERRUPTED
from crosspost.store.tables import deliveries, notices

NOTICE_ON = frozenset({"failed", "unknown", "missed"})  # [notify] on's default
REFUSERS = tuple(p for p in PLATFORMS if p != "twitter")
OVERDUE = timedelta(hours=7)  # beyond the default late_limit (6 h): missed

LONG = (
    "Statement {i}.{j} is longer, written so that X receives post {i} as a thread of several parts. "
    "Part {j} of post {i} speaks of the anniversary, of the delegations that met, of the agreements they signed "
    "and of the exhibitions that will open in both capitals during the year. "
)


def png(path: Any, seed: int) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)).save(path)


def write_soak_post(world: World, i: int, stamp: str) -> Any:
    """Soak post ``i``: every tenth (from the 3rd) with an image, every seventh (from the 5th) long
    enough to be an X thread; ``stamp`` keeps the texts of two runs apart."""
    extra = ""
    body = f"Soak post {i} of run {stamp}: the press office reports item number {i}."
    if i % 10 == 3:
        (world.folder / "posts" / "media").mkdir(exist_ok=True)
        png(world.folder / "posts" / "media" / f"img{i}.png", i)
        extra = f'images = [{{ path = "media/img{i}.png", alt = "Picture {i}" }}]\n'
    if i % 7 == 5:
        body += "\n\n" + "".join(LONG.format(i=i, j=j) for j in range(3))
    return world.write_post(body, title=f"soak {i}", extra=extra)


def make_overdue(world: World, post_ids: list[int]) -> list[int]:
    """Move these posts' deliveries past ``late_limit``, as a daemon that was down finds them: missed."""
    with world.store() as store, store.engine.begin() as conn:
        due = datetime.now(UTC) - OVERDUE
        conn.execute(update(deliveries).where(deliveries.c.post_id.in_(post_ids)).values(due_at=due))
    return post_ids


def run(
    posts: int = 100, kills: int = 50, seed: int = 1949, quick: bool = False, out: Callable[[str], None] = print
) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.monotonic()
    with World("soak", main={"max_attempts": 20}) as world, Receiver() as hook:
        notify = f'\n[notify]\nurls = ["{hook.url}"]\n'
        world.config.write_text(world.config.read_text(encoding="utf-8") + notify, encoding="utf-8")
        stamp = time.strftime("%H%M%S")
        expected_phase = kills * 3.0
        items = []
        for i in range(posts):
            path = write_soak_post(world, i, stamp)
            # A third due at once, the rest spread over most of the kill phase.
            offset = 0.0 if i < posts // 3 else rng.uniform(0, expected_phase * 0.8)
            items.append((path, datetime.now(UTC) + timedelta(seconds=offset)))
        post_ids = world.queue_inprocess(items)
        overdue = make_overdue(world, post_ids[1::7][: max(1, posts // 25)])
        out(f"  queued {len(post_ids)} posts x {len(PLATFORMS)} accounts ({len(overdue)} overdue); {kills} kills")

        kill_log: list[dict[str, Any]] = []
        refusals = 0
        for k in range(kills):
            if k % 3 == 0:
                refusals += arm_delays(world, rng, refuse=k % 9 == 0)
            proc = world.daemon()
            life = rng.uniform(0.5, 5.0)
            deadline = time.monotonic() + life
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            early = proc.poll()
            busy = world.in_flight()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            sending = sum(1 for d in world.deliveries() if d.status == "sending")
            kill_log.append({"life": round(life, 2), "in_flight": busy, "sending": sending, "exited_early": early})
            if (k + 1) % 10 == 0:
                done = sum(1 for d in world.deliveries() if d.status in TERMINAL)
                out(f"  {k + 1} kills; {done} of {posts * len(PLATFORMS)} deliveries settled")

        world.sandbox.clear_faults()
        clean = world.daemon()
        final_deadline = time.monotonic() + (60 if quick else 180)
        while time.monotonic() < final_deadline and not all(d.status in TERMINAL for d in world.deliveries()):
            time.sleep(0.5)
        # Then the notices: a post's are gathered for a minute, and a group a killed daemon had claimed
        # waits for that claim's lease (one target: 30 s) before the clean daemon may send it.
        held = held_notices(world)
        notice_deadline = time.monotonic() + (lease_for(1) + GROUP_WINDOW).total_seconds() + 30
        while time.monotonic() < notice_deadline and queued_notices(world):
            time.sleep(0.5)
        clean.send_signal(signal.SIGTERM)
        clean_code = clean.wait(60)
        clean_err = world.daemon_stderr(clean)
        result = verify(world, post_ids)
        result.update(notices=check_notices(world, hook) | {"held_by_a_killed_sender": held})
        result.update(
            posts=posts,
            deliveries=posts * len(PLATFORMS),
            overdue_posts=len(overdue),
            kills_mid_request=sum(1 for k in kill_log if k["in_flight"]),
            kills_with_sending_rows=sum(1 for k in kill_log if k["sending"]),
            clean_exit=clean_code,
            clean_traceback=has_traceback(clean_err),
            **closing_figures(world, kill_log, refusals, started, hook),
        )
    return result


def closing_figures(
    world: World, kill_log: list[dict[str, Any]], refusals: int, started: float, hook: Receiver | None
) -> dict[str, Any]:
    """What every soak reports at its end: kills, tracebacks, time, and the secrets scan of everything
    crosspost wrote (the notices the receiver got included)."""
    if hook is not None:
        world.outputs += [Output(f"notice {i}", json.dumps(b).encode()) for i, b in enumerate(hook.bodies)]
    return {
        "refusals_armed": refusals,
        "kills": len(kill_log),
        "kills_exited_early": sum(1 for k in kill_log if k["exited_early"] is not None),
        "tracebacks": sum(1 for p in world.procs if has_traceback(world.daemon_stderr(p))),
        "seconds": round(time.monotonic() - started, 1),
        "sandbox_requests": len(world.sandbox.requests),
        "leaks": world.scan(),
        "scanned": world.scanned(),
    }


def arm_delays(world: World, rng: random.Random, refuse: bool = False, longest: float = 3.0) -> int:
    """Slow some publish and upload requests (0.5 to ``longest`` s), so kills land mid-request; with ``refuse``,
    one platform also refuses its next post outright (a ``failed`` delivery, and its notice). Returns
    how many refusals were armed."""
    world.sandbox.clear_faults()
    if refuse:
        # Not X: a refusal of a thread's later part leaves a public part 1 (a failure that says so, but
        # not the plain "refused, nothing public" this is meant to produce).
        world.fault(path=PUBLISH_PATH[rng.choice(REFUSERS)], method="POST", error="bad_request", times=1)
    for platform in PLATFORMS:
        delay = rng.uniform(0.5, longest)
        world.fault(path=PUBLISH_PATH[platform], method="POST", delay=delay, times=rng.randint(1, 3))
        if rng.random() < 0.5:
            world.fault(path=UPLOAD_PATH[platform], delay=rng.uniform(0.5, 2.0), times=1)
    return int(refuse)


def queued_notices(world: World) -> int:
    """Notices still waiting in the outbox."""
    with world.store() as store, store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(notices.c.state == "queued")).scalar_one())


def held_notices(world: World) -> int:
    """Queued notices claimed by a sender until later (after the kills: a killed daemon's claim)."""
    now = datetime.now(UTC)
    with world.store() as store, store.engine.connect() as conn:
        rows = conn.execute(select(notices.c.next_try_at).where(notices.c.state == "queued")).all()
    return sum(1 for (at,) in rows if at is not None and at > now + GROUP_WINDOW)


def check_notices(world: World, hook: Receiver) -> dict[str, Any]:
    """Every final failed/unknown/missed delivery told in exactly one notice; nothing told twice.

    Two views that must agree: the outbox (one ``sent`` row per such delivery) and what the webhook
    received (each delivery named once, with its final status)."""
    told = hook.told()
    with world.store() as store, store.engine.connect() as conn:
        rows = conn.execute(select(notices.c.delivery_id, notices.c.state).where(notices.c.kind == "delivery")).all()
        finals = [d for d in store.log() if d.status in NOTICE_ON]
    sent_rows: Counter[int] = Counter(r.delivery_id for r in rows if r.state == "sent")
    wrong = []
    for d in finals:
        heard = told[(d.post_id, d.account, d.status)]
        if sent_rows[d.id] != 1 or heard != 1:
            wrong.append(f"post {d.post_id} {d.account} {d.status}: {sent_rows[d.id]} sent rows, told {heard} times")
    expected = {(d.post_id, d.account, d.status) for d in finals}
    extra = [f"told of {k} {n} times, not a final failed/unknown/missed" for k, n in told.items() if k not in expected]
    return {
        "finals": len(finals),
        "by_status": dict(Counter(d.status for d in finals)),
        "received": len(hook.bodies),
        "wrong": wrong[:20] + extra[:20],
        "states": dict(Counter(r.state for r in rows)),
    }


def _norm(text: str) -> str:
    return " ".join(text.split())


def verify(world: World, post_ids: list[int]) -> dict[str, Any]:
    state = world.sandbox.state()
    texts = {p: Counter(_norm(x.get("text") or "") for x in state[p]["posts"]) for p in PLATFORMS}
    ids = {p: {str(x["id"]): _norm(x.get("text") or "") for x in state[p]["posts"]} for p in PLATFORMS}
    duplicates = {p: sum(c - 1 for t, c in texts[p].items() if c > 1) for p in PLATFORMS}
    statuses: Counter[str] = Counter()
    matrix: Counter[str] = Counter()  # what the store says beside what the platform shows
    interrupted: Counter[str] = Counter()  # deliveries with a try cut off by a kill, by final status
    lost: list[str] = []
    unknown: list[dict[str, Any]] = []
    wrong: list[str] = []
    with world.store() as store:
        for post_id in post_ids:
            post = store.get_post(post_id)
            for d in post.deliveries:
                statuses[d.status] += 1
                if any(a.outcome == OUT_INTERRUPTED for a in d.history):
                    interrupted[d.status] += 1
                draft, _progress = store.draft_of(d.id)
                parts = [_norm(t) for t in draft.parts]
                on_platform = [t for t in parts if texts[d.platform][t]]
                shown = "on" if len(on_platform) == len(parts) else "partly on" if on_platform else "not on"
                matrix[f"{d.status}, {shown} the platform"] += 1
                if d.status not in TERMINAL:
                    lost.append(f"post {post_id} {d.account}: never settled, still {d.status}")
                elif d.status == "sent":
                    if len(on_platform) != len(parts) or ids[d.platform].get(str(d.remote_id)) != parts[0]:
                        lost.append(f"post {post_id} {d.account}: sent as {d.remote_id} but not on the platform")
                elif d.status == "unknown":
                    unknown.append(
                        {
                            "post": post_id,
                            "account": d.account,
                            "on_platform": len(on_platform) == len(parts),
                            "error": d.error,
                            "history": [a.outcome for a in d.history],
                        }
                    )
                elif d.status in ("missed", "failed") and d.error and not on_platform:
                    pass  # overdue past late_limit, or an armed refusal: says why, and nothing is public
                elif d.status == "failed" and on_platform:
                    lost.append(f"post {post_id} {d.account}: failed, while its post is public")
                else:
                    wrong.append(f"post {post_id} {d.account}: {d.status} ({d.error})")
                    if not on_platform:
                        lost.append(f"post {post_id} {d.account}: {d.status}, not on the platform")
    return {
        "statuses": dict(statuses),
        "store_vs_platform": dict(sorted(matrix.items())),
        "interrupted_by_status": dict(interrupted),
        "duplicates": sum(duplicates.values()),
        "duplicates_by_platform": duplicates,
        "lost": len(lost),
        "lost_detail": lost[:20],
        "unknown": unknown,
        "wrong_status": wrong[:20],
        "platform_posts": {p: len(state[p]["posts"]) for p in PLATFORMS},
    }
