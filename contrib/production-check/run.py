#!/usr/bin/env python3
"""Follow README "Running in production" on a clean Debian root, step by step, and check the result.

Run as root on a Debian host that reaches deb.debian.org and PyPI:

    sudo python3 contrib/production-check/run.py [--reuse-base] [--chroot] [--log FILE] [--record FILE]

It builds a clean trixie root with mmdebstrap under /var/tmp/crosspost-production-check (the
pristine root is kept there and reused with --reuse-base), copies it, boots the copy with
`systemd-nspawn --boot` (so the unit runs under systemd with its sandboxing), and runs every `sh`
block of the README's production section in order, as the README's reader would: blocks with
`sudo` as an admin in a copy of this checkout, the staffer's blocks as alice in her home. The
README is the script: nothing here restates a README command, so the two cannot drift.
(production_check/: steps reads the README, root makes the root, inside runs commands in it,
edits makes the admin's edits, report keeps the log.) What
this script adds is only what the README leaves to the reader (marked "the site's part"): the
people (an admin with sudo, the staffer alice and her post files), the edit of the config and
of the secrets file, a sandbox to publish to, and the checks.

Where nspawn cannot boot the root (no cgroups, an old host), --chroot (or the fallback) runs the
same blocks in a chroot, with `systemctl start/stop crosspost` carried out by running the unit's
ExecStart as its User, with its EnvironmentFile, UMask and WorkingDirectory; `systemd-analyze
verify` checks the unit in both cases.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from production_check import ADMIN, README, STAFF, WORK
from production_check.edits import edit_config, free_port, rewrite, sandbox_credentials, sandbox_state
from production_check.inside import Booted, Chrooted, Inside
from production_check.report import CheckFailed, Log, check, write_record
from production_check.root import base_root, fresh_copy, host_tools, the_site
from production_check.steps import (
    DAEMON_STARTED,
    RESTARTED,
    RESTORE,
    SECRETS_FILE,
    STAFF_QUEUED,
    UPGRADE,
    Block,
    production_blocks,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse-base", action="store_true", help="reuse the cached pristine root")
    parser.add_argument("--chroot", action="store_true", help="do not try systemd-nspawn --boot")
    parser.add_argument("--log", type=Path, default=WORK / "run.log")
    parser.add_argument("--record", type=Path, help="also write the log, apt/pip progress folded, here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("production-check: run it as root (it builds and enters a Debian root)")
    log = Log(args.log)
    blocks = production_blocks(README.read_text(encoding="utf-8"))
    log.say(
        f"production-check {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; host "
        f"{Path('/etc/debian_version').read_text().strip()}, load {os.getloadavg()[0]:.2f}, "
        f"{os.cpu_count()} cores; {len(blocks)} README blocks"
    )
    host_tools(log)
    root = fresh_copy(base_root(args.reuse_base, log), log)
    the_site(root, log)
    inside: Inside
    if args.chroot:
        inside = Chrooted(root, log)
    else:
        try:
            inside = Booted(root, log)
        except CheckFailed as e:
            log.say(f"nspawn --boot failed ({e}); falling back to a chroot")
            inside = Chrooted(root, log)
    try:
        follow(blocks, inside, root, log)
        log.heading(
            f"PASSED: every README step ran on Debian {(root / 'etc/debian_version').read_text().strip()}, "
            f"under {inside.mode}"
        )
        return 0
    except CheckFailed as e:
        log.heading(f"FAILED: {e}")
        return 1
    finally:
        inside.close()
        if args.record:
            write_record(args.record, log.text)


def follow(blocks: list[Block], inside: Inside, root: Path, log: Log) -> None:
    port = free_port()
    secrets: dict[str, str] = {}
    for block in blocks:
        user = STAFF if block.as_staff else ADMIN
        cwd = "~" if block.as_staff else "~/crosspost"
        log.heading(f"README line {block.line}, step {block.step} ({block.title}), as {user}")
        before_block(block, inside, log)
        inside.run(user, block.code, cwd=cwd, what=f"the block at README line {block.line}")
        if SECRETS_FILE in block.code:
            secrets = site_edits(inside, root, port, log)
            log.heading(f'the site\'s part: README "The sandbox", crosspost sandbox --port {port}, as {ADMIN}')
            inside.background(ADMIN, f"crosspost sandbox --port {port}", WORK / "sandbox.log")
            wait_for(lambda: sandbox_state(port) is not None, "the sandbox answers", log)
        after_block(block, inside, port, log)
    final_checks(inside, root, port, secrets, log)


def site_edits(inside: Inside, root: Path, port: int, log: Log) -> dict[str, str]:
    log.heading("the site's part: the admin edits the config and the secrets file (README steps 3 and 4)")
    config = root / "etc/crosspost/crosspost.toml"
    text, secrets = edit_config(config.read_text(encoding="utf-8"), port, sandbox_credentials(inside))
    rewrite(config, text)
    rewrite(root / "etc/crosspost/env", "".join(f"{k}={v}\n" for k, v in secrets.items()))
    log.say(
        f"config: database in /var/lib/crosspost, every account's api_base at 127.0.0.1:{port}; "
        f"env: {', '.join(secrets)} (values not shown)"
    )
    modes = inside.run(
        "root", "stat -c '%a %U:%G %n' /etc/crosspost/crosspost.toml /etc/crosspost/env", quiet=True
    ).split("\n")
    check(
        modes[0].startswith("640 root:crosspost") and modes[1].startswith("600 root:root"),
        f"config 0640 root:crosspost, env 0600 root:root ({'; '.join(filter(None, modes))})",
        log,
    )
    return secrets


def before_block(block: Block, inside: Inside, log: Log) -> None:
    if RESTORE in block.code:
        # A post queued after the backup: the restore must take the database back to before it.
        inside.run(STAFF, "crosspost queue posts/national-day-reception-ru.md --at +1d", quiet=True)
        check(len(posts_of(inside)) == 2, "alice queued a second post after the backup", log)
    if UPGRADE in block.code:
        # A new release to upgrade to: one more commit in the admin's checkout.
        inside.run(
            ADMIN,
            "echo '- production-check: the release upgraded to' >> CHANGELOG.md && "
            "git -c user.name=admin -c user.email=admin@localhost commit -qam 'the next release'",
            cwd="~/crosspost",
            quiet=True,
        )
        log.say("the site's part: the checkout has one new commit to pull")


def after_block(block: Block, inside: Inside, port: int, log: Log) -> None:
    if DAEMON_STARTED in block.code:
        wait_for(lambda: is_active(inside), "the daemon is active", log)
        if isinstance(inside, Booted):
            props = inside.run(
                "root",
                "systemctl show crosspost -p User -p UMask -p ProtectHome -p "
                "ProtectSystem -p NoNewPrivileges -p MainPID",
                quiet=True,
            )
            log.say(props)
            exposure = inside.run(
                "root", "systemd-analyze security crosspost 2>&1 | tail -n 1", check=False, quiet=True
            )
            log.say(f"systemd-analyze security: {exposure.strip()}")
        verify = inside.run(
            "root", "systemd-analyze verify /etc/systemd/system/crosspost.service 2>&1", check=False, quiet=True
        )
        check("crosspost.service" not in verify, f"systemd-analyze verify: {verify.strip() or 'no complaint'}", log)
    if STAFF_QUEUED in block.code:
        wait_for(lambda: published(port), "the daemon published alice's post, images and all, to every wall", log)
        modes = inside.run(
            ADMIN,
            "sudo sh -c \"stat -c '%a %U:%G %n' /var/lib/crosspost/crosspost.db "
            '/var/lib/crosspost/media /var/lib/crosspost/media/*"',
            quiet=True,
        )
        log.say(modes)
        check(
            all(m.startswith(("660 ", "2770 ")) for m in modes.splitlines()),
            "the database and media are shared with the group (0660 files, 2770 folder)",
            log,
        )
    if RESTORE in block.code:
        check(len(posts_of(inside)) == 1, "the restored database is the backup's: one post, the later one gone", log)
    if RESTARTED in block.code:
        wait_for(lambda: is_active(inside), "the daemon is active again", log)
        rows = json.loads(inside.run(STAFF, "crosspost log --json", quiet=True))
        check(
            bool(rows) and {r["status"] for r in rows} == {"sent"},
            f"alice's log: {len(rows)} deliveries, all sent",
            log,
        )


def posts_of(inside: Inside) -> list[dict]:  # type: ignore[type-arg]
    return list(json.loads(inside.run(STAFF, "crosspost list --json", quiet=True)))


def is_active(inside: Inside) -> bool:
    return inside.run("root", "systemctl is-active crosspost || true", quiet=True).strip() == "active"


def published(port: int) -> bool:
    return all(n == 1 for n in posts_with_images(sandbox_state(port)).values())


def posts_with_images(state: dict) -> dict[str, int]:
    """Per platform, the posts (not thread replies) that carry images, as the sandbox shows them."""
    return {
        platform: sum(1 for post in wall.get("posts", []) if not post.get("reply_to") and post.get("images"))
        for platform, wall in state.items()
    }


def wait_for(test, what: str, log: Log, timeout: float = 180) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if test():
                break
        except (OSError, ValueError, CheckFailed):
            pass
        if time.monotonic() > deadline:
            check(False, f"{what} (waited {timeout:.0f} s)", log)
        time.sleep(1)
    check(True, what, log)


def final_checks(inside: Inside, root: Path, port: int, secrets: dict[str, str], log: Log) -> None:
    log.heading("checks after the last step")
    check(is_active(inside), "the daemon runs after the upgrade", log)
    version = inside.run(STAFF, "crosspost --version", quiet=True).strip()
    log.say(f"alice: crosspost --version: {version}")
    walls = posts_with_images(sandbox_state(port))
    check(len(walls) == 4 and set(walls.values()) == {1}, f"the sandbox shows the post once on each wall: {walls}", log)
    if isinstance(inside, Booted):
        journal_priorities(inside, port, log)
    # Last, so the refusal's error line is searched too (Telegram's token is part of its URLs).
    journal = inside.run("root", "journalctl -u crosspost --no-pager -o cat || true", quiet=True)
    dump = inside.run(
        ADMIN,
        'sudo /opt/crosspost/bin/python -c "import sqlite3; '
        "print('\\n'.join(sqlite3.connect('/var/lib/crosspost/crosspost.db').iterdump()))\"",
        quiet=True,
    )
    daemon_log = root / "var/log/crosspost-check.log"  # chroot mode: the daemon's stderr
    own = daemon_log.read_text(encoding="utf-8", errors="replace") if daemon_log.exists() else ""
    seen = "\n".join([*inside.outputs, journal, dump, own])
    leaked = [k for k, v in secrets.items() if v in seen]
    check(not leaked, f"no secret value in any output, the journal or the database ({len(secrets)} checked)", log)


def journal_priorities(inside: Inside, port: int, log: Log) -> None:
    """A refusal makes an error line: `journalctl -p warning` shows it and leaves the info lines out."""
    journal = inside.run("root", "journalctl -u crosspost --no-pager -o cat || true", quiet=True)
    log.say("journalctl -u crosspost -o cat, the last 12 lines:\n" + "\n".join(journal.splitlines()[-12:]))
    fault = json.dumps({"path": "^/bot[^/]+/send", "error": "permission"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_sandbox/faults", data=fault, method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    inside.run(STAFF, "crosspost queue posts/agreement-anniversary.md --at now", quiet=True)
    command = "journalctl -u crosspost --no-pager -o cat -p warning || true"
    wait_for(lambda: "account=telegram" in inside.run("root", command, quiet=True), "Telegram's refusal logged", log)
    warnings = inside.run("root", command, quiet=True)
    log.say(f"journalctl -u crosspost -p warning -o cat:\n{warnings.rstrip()}")
    check(
        "level=error" in warnings and "level=info" not in warnings,
        "journalctl -p warning shows the error line and no info line (the <N> prefix, SyslogLevelPrefix=yes)",
        log,
    )


if __name__ == "__main__":
    sys.exit(main())
