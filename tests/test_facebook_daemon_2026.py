"""A Page whose app requires ``appsecret_proof``, through the real daemon: posted with the proof, and
neither the app secret, the Page token nor the proof in the daemon's output, the log or the database."""

from __future__ import annotations

import test_daemon_e2e
from test_daemon_e2e import World

from crosspost.platforms.facebook.adapter import appsecret_proof
from crosspost.platforms.facebook.emulator import FacebookEmulator

world = test_daemon_e2e.world  # the fixture: a sandbox, a config on it, real CLI and daemon processes
APP_SECRET = "daemonAppSecret4f1e9"
TOKEN = "EAAsandboxpagetoken"  # the demo config's Page token


def require_proof(world: World, *, configured: bool) -> None:
    emulator = next(e for e in world.sandbox.emulators if isinstance(e, FacebookEmulator))
    emulator.app_secret = APP_SECRET
    if configured:
        text = world.config.read_text(encoding="utf-8")
        marker = 'page_access_token = "EAAsandboxpagetoken"\n'
        world.config.write_text(text.replace(marker, marker + f'app_secret = "{APP_SECRET}"\n'), encoding="utf-8")


def everything_written(world: World, *outputs: str) -> str:
    database = (world.tmp / "crosspost.db").read_bytes().decode("latin-1")
    log = world.cli("log").stdout + world.cli("log", "--json").stdout
    return "\n".join((*outputs, database, log))


def test_the_daemon_posts_with_the_proof_and_writes_no_secret(world: World) -> None:
    require_proof(world, configured=True)
    post = world.queue("facebook")
    done = world.daemon("--once")
    out, err = done.communicate(timeout=30)
    fb = world.deliveries(post)["facebook"]
    assert (fb.status, fb.attempts) == ("sent", 1) and len(world.posts("facebook")) == 1
    written = everything_written(world, out, err)
    assert APP_SECRET not in written and appsecret_proof(TOKEN, APP_SECRET) not in written


def test_without_app_secret_the_delivery_fails_at_once_with_the_fix(world: World) -> None:
    require_proof(world, configured=False)
    post = world.queue("facebook")
    out, err = world.daemon("--once").communicate(timeout=30)
    fb = world.deliveries(post)["facebook"]
    assert (fb.status, fb.attempts) == ("failed", 1)
    assert "appsecret_proof" in (fb.error or "") and 'app_secret = "${FACEBOOK_APP_SECRET}"' in (fb.error or "")
    assert world.posts("facebook") == []
    assert TOKEN not in everything_written(world, out, err)
