"""Part 4, secrets: a scenario built to tempt leaks, the scans of every other part, the permissions warning.

Every part runs with the distinctive credentials of :mod:`common` and scans
what crosspost wrote (stdout, stderr, daemon logs, the database with its WAL
and SHM files, media copies, JSON and CSV output) for each secret, any 12
characters of one, their URL-encoded forms and every OAuth 1.0a signature the
sandbox received. This part adds a scenario with the secrets written literally
in the config, errors whose texts carry URLs with tokens (Graph GET look-ups
dropped, VK calls refused), ``accounts --check`` failing, ``--debug``
tracebacks, and every output format.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.reliability.common import LOOKUP_PATH, PLATFORMS, PUBLISH_PATH, World


def scenario(out: Callable[[str], None] = print) -> dict[str, Any]:
    with World("secrets", literal=True) as world:
        world.config.chmod(0o600)
        # 1. Publish with an ambiguous drop, then look-ups that break (the Graph GET carries the token in its URL).
        for platform in PLATFORMS:
            world.fault(path=PUBLISH_PATH[platform], method="POST", drop="after")
            world.fault(path=LOOKUP_PATH[platform], method="GET" if platform != "vk" else "", drop="before", times=0)
        post = world.write_post("Secrets scenario: a post whose look-up breaks.")
        post_id = world.queue_cli(post, "--at", "now")
        world.settle(max_runs=2)
        world.sandbox.clear_faults()
        # 2. retry of the unknown ones (a look-up that works now), auth failures, a check of the accounts.
        world.cli("retry", str(post_id))
        world.settle(max_runs=3)
        for platform in PLATFORMS:
            world.fault(path=PUBLISH_PATH[platform], method="POST", error="auth")
        world.queue_cli(world.write_post("Secrets scenario: refused credentials."), "--at", "now")
        world.settle(max_runs=2)
        world.sandbox.clear_faults()
        world.fault(path=r".", error="auth", times=0)
        world.cli("accounts", "--check")
        world.cli("--debug", "accounts", "--check", label="debug accounts")
        world.sandbox.clear_faults()
        # 3. Every output format, and a --debug traceback of a failing command.
        for args in (["log"], ["log", "--json"], ["log", "--csv"], ["list"], ["list", "--json"],
                     ["show", str(post_id)], ["show", str(post_id), "--json"], ["accounts"],
                     ["--debug", "show", "999999"], ["--debug", "queue", "/nonexistent.md", "--at", "now"],
                     ["preview", str(post), "--json"], ["validate", str(post)]):  # fmt: skip
            world.cli(*args)
        leaks = world.scan()
        scanned = world.scanned()
        signatures = len(world.signatures)
        statuses = [d.status for d in world.deliveries()]
    out(f"  literal-secrets scenario: {scanned[0]} outputs/files, {scanned[1]} bytes, {signatures} signatures: "
        f"{len(leaks)} leaks")  # fmt: skip
    return {"leaks": leaks, "scanned": scanned, "signatures": signatures, "statuses": statuses}


def permissions(out: Callable[[str], None] = print) -> dict[str, Any]:
    """``loose_permissions_warning`` on a config with literal secrets at 0644, 0640, 0600, and with ${VAR}."""
    import tomllib

    try:
        from crosspost.config import loose_permissions_warning
    except ImportError:
        return {"implemented": False}
    results: dict[str, Any] = {"implemented": True}
    with World("perms", literal=True) as world:
        raw = tomllib.loads(world.config.read_text("utf-8"))
        for mode in (0o644, 0o640, 0o600):
            world.config.chmod(mode)
            results[oct(mode)] = loose_permissions_warning(world.config, raw)
        # Does the CLI print it? (It should, once wired in: the lead's part.)
        world.config.chmod(0o644)
        done = world.cli("list")
        results["cli_warns"] = b"chmod 600" in done.stderr or b"readable by" in done.stderr
    with World("perms-env") as world:
        world.config.chmod(0o644)
        results["env_0o644"] = loose_permissions_warning(world.config, tomllib.loads(world.config.read_text("utf-8")))
    ok = bool(results["0o644"]) and bool(results["0o640"]) and results["0o600"] is None and results["env_0o644"] is None
    results["ok"] = ok
    out(f"  permissions warning: 0644 -> {results['0o644']!r}; 0600 -> {results['0o600']!r}; ${{VAR}} at 0644 -> "
        f"{results['env_0o644']!r}; printed by the CLI: {results['cli_warns']}")  # fmt: skip
    return results


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    t = time.monotonic()
    result: dict[str, Any] = {"scenario": scenario(out), "permissions": permissions(out)}
    result["seconds"] = round(time.monotonic() - t, 1)
    return result
