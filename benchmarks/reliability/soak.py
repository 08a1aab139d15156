"""Part 1, the crash soak: the daemon killed with SIGKILL at random moments, then a clean run to finish.

Posts go to the three sandbox accounts, due over the soak (some due now, the
rest a little later each). A ``crosspost daemon`` subprocess is started and
killed with SIGKILL after a random lifetime, again and again; the sandbox
delays some publish and upload requests (faults re-armed as the soak goes), so
many kills land while a request is in flight. Some posts carry an image, some
are long enough to be an X thread. Then one daemon runs cleanly until every
delivery is settled, and stops on SIGTERM.

Checked afterwards: every delivery ``sent`` or ``unknown``; no text twice on any
account of the sandbox (duplicates); every sent delivery's text present, at
the remote id it reports (lost); each ``unknown`` is explained by its history.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.reliability.common import PLATFORMS, PUBLISH_PATH, TERMINAL, World, has_traceback

UPLOAD_PATH = {
    "twitter": r"^/2/media/upload",
    "facebook": r"^/v[\d.]+/\d+/photos$",
    "vk": r"^/(method/photos\.|upload)",
    "telegram": r"^/bot[^/]+/send(Photo|MediaGroup)$",
}
LONG = (
    "Statement {i}.{j} is longer, written so that X receives post {i} as a thread of several parts. "
    "Part {j} of post {i} speaks of the anniversary, of the delegations that met, of the agreements they signed "
    "and of the exhibitions that will open in both capitals during the year. "
)


def png(path: Any, seed: int) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)).save(path)


def run(
    posts: int = 100, kills: int = 50, seed: int = 1949, quick: bool = False, out: Callable[[str], None] = print
) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.monotonic()
    with World("soak", main={"max_attempts": 20}) as world:
        stamp = time.strftime("%H%M%S")
        (world.folder / "posts" / "media").mkdir()
        expected_phase = kills * 3.0
        items = []
        for i in range(posts):
            extra = ""
            body = f"Soak post {i} of run {stamp}: the press office reports item number {i}."
            if i % 10 == 3:
                png(world.folder / "posts" / "media" / f"img{i}.png", i)
                extra = f'images = [{{ path = "media/img{i}.png", alt = "Picture {i}" }}]\n'
            if i % 7 == 5:
                body += "\n\n" + "".join(LONG.format(i=i, j=j) for j in range(3))
            path = world.write_post(body, title=f"soak {i}", extra=extra)
            # A third due at once, the rest spread over most of the kill phase.
            offset = 0.0 if i < posts // 3 else rng.uniform(0, expected_phase * 0.8)
            items.append((path, datetime.now(UTC) + timedelta(seconds=offset)))
        post_ids = world.queue_inprocess(items)
        out(f"  queued {len(post_ids)} posts x 3 accounts; {kills} kills to come")

        kill_log: list[dict[str, Any]] = []
        for k in range(kills):
            if k % 3 == 0:
                arm_delays(world, rng)
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
                out(f"  {k + 1} kills; {done} of {posts * 3} deliveries settled")

        world.sandbox.clear_faults()
        clean = world.daemon()
        final_deadline = time.monotonic() + (60 if quick else 180)
        while time.monotonic() < final_deadline:
            if all(d.status in TERMINAL for d in world.deliveries()):
                break
            time.sleep(0.5)
        clean.send_signal(signal.SIGTERM)
        clean_code = clean.wait(60)
        clean_err = world.daemon_stderr(clean)
        result = verify(world, post_ids)
        result.update(
            posts=posts,
            deliveries=posts * 3,
            kills=len(kill_log),
            kills_mid_request=sum(1 for k in kill_log if k["in_flight"]),
            kills_with_sending_rows=sum(1 for k in kill_log if k["sending"]),
            kills_exited_early=sum(1 for k in kill_log if k["exited_early"] is not None),
            clean_exit=clean_code,
            clean_traceback=has_traceback(clean_err),
            tracebacks=sum(1 for p in world.procs if has_traceback(world.daemon_stderr(p))),
            seconds=round(time.monotonic() - started, 1),
            sandbox_requests=len(world.sandbox.requests),
            leaks=world.scan(),
            scanned=world.scanned(),
        )
    return result


def arm_delays(world: World, rng: random.Random) -> None:
    """Slow some publish and upload requests (0.5 to 3 s), so kills land mid-request."""
    world.sandbox.clear_faults()
    for platform in PLATFORMS:
        world.fault(path=PUBLISH_PATH[platform], method="POST", delay=rng.uniform(0.5, 3.0), times=rng.randint(1, 3))
        if rng.random() < 0.5:
            world.fault(path=UPLOAD_PATH[platform], delay=rng.uniform(0.5, 2.0), times=1)


def _norm(text: str) -> str:
    return " ".join(text.split())


def verify(world: World, post_ids: list[int]) -> dict[str, Any]:
    state = world.sandbox.state()
    texts = {p: Counter(_norm(x.get("text") or "") for x in state[p]["posts"]) for p in PLATFORMS}
    ids = {p: {str(x["id"]): _norm(x.get("text") or "") for x in state[p]["posts"]} for p in PLATFORMS}
    duplicates = {p: sum(c - 1 for t, c in texts[p].items() if c > 1) for p in PLATFORMS}
    statuses: Counter[str] = Counter()
    lost: list[str] = []
    unknown: list[dict[str, Any]] = []
    wrong: list[str] = []
    with world.store() as store:
        for post_id in post_ids:
            post = store.get_post(post_id)
            for d in post.deliveries:
                statuses[d.status] += 1
                draft, _progress = store.draft_of(d.id)
                parts = [_norm(t) for t in draft.parts]
                on_platform = [t for t in parts if texts[d.platform][t]]
                if d.status == "sent":
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
                else:
                    wrong.append(f"post {post_id} {d.account}: {d.status} ({d.error})")
                    if not on_platform:
                        lost.append(f"post {post_id} {d.account}: {d.status}, not on the platform")
    return {
        "statuses": dict(statuses),
        "duplicates": sum(duplicates.values()),
        "duplicates_by_platform": duplicates,
        "lost": len(lost),
        "lost_detail": lost[:20],
        "unknown": unknown,
        "wrong_status": wrong[:20],
        "platform_posts": {p: len(state[p]["posts"]) for p in PLATFORMS},
    }
