#!/usr/bin/env python3
"""Follow README "Running in production" on a clean Debian root, step by step, and check the result.

Run as root on a Debian host that reaches deb.debian.org and PyPI:

    sudo python3 contrib/production-check/run.py [--reuse-base] [--chroot] [--log FILE]

It builds a clean trixie root with mmdebstrap under /var/tmp/crosspost-production-check (the
pristine root is kept there and reused with --reuse-base), copies it, boots the copy with
`systemd-nspawn --boot` (so the unit runs under systemd with its sandboxing), and runs every `sh`
block of the README's production section in order, as the README's reader would: blocks with
`sudo` as an admin in a copy of this checkout, the staffer's blocks as alice in her home. The
README is the script: nothing here restates a README command, so the two cannot drift. What
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
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
WORK = Path("/var/tmp/crosspost-production-check")
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# What a fresh Debian server has after the installer with no root password: the "important"
# packages, systemd as init, and sudo for the first user.
BASE_PACKAGES = "sudo,dbus,systemd-sysv,ca-certificates"
ADMIN, STAFF = "admin", "alice"  # alice: the README's own staffer
SECTION = ("## Running in production", "### Several daemons")
# Where the site's part comes in: after (or before) the block holding this README text.
# tests/test_production.py checks that each is in exactly the blocks meant, so a README edit that
# moves one fails there rather than silently skipping a check here.
SECRETS_FILE = "sudo install -m 0600 /dev/null /etc/crosspost/env"  # then: the edits, the sandbox
DAEMON_STARTED = "sudo systemctl enable --now crosspost"  # then: active, verify
STAFF_QUEUED = "crosspost queue posts/archive-exhibition.md --at now"  # then: published, shared modes
RESTORE = 'install -m 0660 -o crosspost -g crosspost "$backup/crosspost.db"'  # around: a post the backup lacks
UPGRADE = "backup-before-upgrade"  # before: a new commit to pull
RESTARTED = "sudo systemctl start crosspost"  # then: active again, alice's log all sent


# ---------------------------------------------------------------- the README's steps


@dataclass(frozen=True)
class Block:
    step: int  # the numbered item of the section it sits in
    title: str  # that item's bold title, to catch a README that moved on
    line: int  # README line of the opening fence
    code: str

    @property
    def as_staff(self) -> bool:
        """A block with no sudo and only crosspost or sqlite3 commands is a staffer's."""
        lines = [x for x in self.code.splitlines() if x.strip()]
        return all(re.match(r"(crosspost|sqlite3) ", x) for x in lines)


def production_blocks(readme: str) -> list[Block]:
    """Every ```sh block of the production section, in order, with the step it belongs to."""
    start = readme.index(SECTION[0] + "\n")
    end = readme.index(SECTION[1], start)
    first_line = readme.count("\n", 0, start) + 1
    blocks: list[Block] = []
    step, title = 0, ""
    lines = readme[start:end].splitlines()
    i = 0
    while i < len(lines):
        item = re.match(r"^(\d+)\. \*\*(.+?)\*\*", lines[i])
        if item:
            step, title = int(item.group(1)), item.group(2)
        fence = re.match(r"^(\s*)```sh\s*$", lines[i])
        if fence:
            opened = i
            body: list[str] = []
            i += 1
            while not re.match(rf"^{fence.group(1)}```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            code = textwrap.dedent("\n".join(body)) + "\n"
            blocks.append(Block(step, title, first_line + opened, code))
        i += 1
    return blocks


# ---------------------------------------------------------------- output


class Log:
    """Everything the run says, on the terminal and in one file (for LAST-RUN.md)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")
        self.text: list[str] = []

    def say(self, text: str) -> None:
        for line in text.rstrip("\n").splitlines() or [""]:
            print(line, flush=True)
            self.file.write(line + "\n")
            self.text.append(line)
        self.file.flush()

    def heading(self, text: str) -> None:
        self.say(f"\n==== {text}")


# apt's and pip's progress: kept in the full log, folded into a count in the record.
NOISE = re.compile(
    r"^(Get:|Hit:|Ign:|Fetched |Selecting |Preparing |Unpacking |Setting up |Processing triggers |"
    r"\(Reading database|Reading package lists|Building dependency tree|Reading state information|"
    r"  Downloading |  Using cached |Collecting |Downloading |  Preparing metadata|  Getting requirements|"
    r"  Installing build|  Building wheel|  Created wheel|  Stored in|Building wheels|Installing collected|"
    r"debconf: |  Attempting uninstall|    Found existing|    Uninstalling|      Successfully uninstalled|"
    r"Requirement already satisfied|   [a-z0-9.+-]+ \(|  [a-z0-9.+-]+ [a-z0-9.+-]+ |"
    r"\s+━|  (\| )?[a-z0-9][a-z0-9.+:-]*(\s{2,}|$))"
)


def record(lines: list[str]) -> str:
    """The run's log for LAST-RUN.md: every line but apt's and pip's progress, which become a count."""
    out: list[str] = []
    folded = 0
    for line in lines:
        if NOISE.match(line):
            folded += 1
            continue
        if folded:
            out.append(f"[... apt/pip progress: {folded} lines ...]")
            folded = 0
        out.append(line)
    if folded:
        out.append(f"[... apt/pip progress: {folded} lines ...]")
    return "\n".join(out) + "\n"


def write_record(path: Path, lines: list[str]) -> None:
    path.write_text(
        "# production-check: the last run\n\n"
        "The log of `sudo python3 contrib/production-check/run.py --record contrib/production-check/LAST-RUN.md`:\n"
        'every `sh` block of README "Running in production" run in order on a clean Debian root, with the\n'
        "site's part and the checks between them. apt's and pip's progress lines are folded into counts.\n\n"
        "```\n" + record(lines) + "```\n",
        encoding="utf-8",
    )


class CheckFailed(Exception):
    pass


def check(condition: bool, what: str, log: Log) -> None:
    log.say(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        raise CheckFailed(what)


# ---------------------------------------------------------------- the root


def host_tools(log: Log) -> None:
    missing = [
        p
        for p, tool in (("mmdebstrap", "mmdebstrap"), ("systemd-container", "systemd-nspawn"))
        if shutil.which(tool) is None
    ]
    if missing:
        log.say(f"host: apt-get install {' '.join(missing)}")
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True)


def base_root(reuse: bool, log: Log) -> Path:
    base = WORK / f"{SUITE}-base"
    if reuse and (base / "etc" / "debian_version").exists():
        log.say(f"base: reusing {base} (--reuse-base)")
        return base
    shutil.rmtree(base, ignore_errors=True)
    log.say(f"base: mmdebstrap --variant=important --include={BASE_PACKAGES} {SUITE} {base} {MIRROR}")
    started = time.monotonic()
    subprocess.run(
        ["mmdebstrap", "--variant=important", f"--include={BASE_PACKAGES}", SUITE, str(base), MIRROR],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log.say(f"base: made in {time.monotonic() - started:.0f} s")
    return base


def fresh_copy(base: Path, log: Log) -> Path:
    root = WORK / "root"
    running = subprocess.run(["pgrep", "-f", f"systemd-nspawn -D {root} "], capture_output=True, text=True).stdout
    if running.strip():
        raise CheckFailed(f"a container of an earlier run still runs from {root} (PID {running.split()[0]}): end it")
    if root.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)
    subprocess.run(["cp", "-a", str(base), str(root)], check=True)
    log.say(f"root: fresh copy at {root}; Debian {(root / 'etc/debian_version').read_text().strip()}")
    return root


def the_site(root: Path, log: Log) -> None:
    """The site's part: people and files the README assumes (an admin with sudo, alice, a checkout)."""
    log.heading("the site's part: an admin with sudo, the staffer alice, the admin's checkout")
    chroot = ["chroot", str(root)]
    subprocess.run([*chroot, "useradd", "--create-home", "--shell", "/bin/bash", ADMIN], check=True)
    subprocess.run([*chroot, "useradd", "--create-home", "--shell", "/bin/bash", STAFF], check=True)
    # The installer writes the host name into /etc/hosts (sudo looks it up); the root keeps the host's.
    (root / "etc/hostname").write_text(socket.gethostname() + "\n")
    with (root / "etc/hosts").open("a") as hosts:
        hosts.write(f"127.0.1.1\t{socket.gethostname()}\n")
    # This host's egress inspects TLS: its local CAs go into the root, as on any site behind such a proxy.
    local_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    for ca in local_cas:
        shutil.copy(ca, root / "usr/local/share/ca-certificates" / ca.name)
    if local_cas:
        subprocess.run([*chroot, "update-ca-certificates"], check=True, stdout=subprocess.DEVNULL)
        log.say(f"the host's local CAs in the root: {', '.join(ca.name for ca in local_cas)}")
    sudoers = root / "etc/sudoers.d/admin"
    sudoers.write_text(f"{ADMIN} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    # apt asks "Do you want to continue? [Y/n]": this is the admin's Y.
    (root / "etc/apt/apt.conf.d/90production-check").write_text('APT::Get::Assume-Yes "true";\n')
    # The admin's checkout: this working tree as it is (committed or not), as a git repository.
    checkout = root / "home" / ADMIN / "crosspost"
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO / name
        if src.is_file() or src.is_symlink():
            dest = checkout / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest, follow_symlinks=False)
    git = ["git", "-C", str(checkout), "-c", "user.name=admin", "-c", "user.email=admin@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "crosspost as checked"], check=True)
    # alice's own post files (the examples), private to her: crosspost copies what it needs.
    shutil.copytree(REPO / "posts", root / "home" / STAFF / "posts", symlinks=False)
    subprocess.run([*chroot, "chown", "-R", f"{ADMIN}:{ADMIN}", f"/home/{ADMIN}"], check=True)
    subprocess.run([*chroot, "chown", "-R", f"{STAFF}:{STAFF}", f"/home/{STAFF}"], check=True)
    log.say(f"users {ADMIN} (sudo) and {STAFF}; /home/{ADMIN}/crosspost: {len(files) - 1} files, one commit")


# ---------------------------------------------------------------- running inside


class Inside:
    """Runs commands inside the root, as a user with a login shell (so /etc/profile.d applies)."""

    mode = "?"

    def __init__(self, root: Path, log: Log) -> None:
        self.root, self.log = root, log
        self.outputs: list[str] = []  # every command's output, searched for secrets at the end
        self.children: list[subprocess.Popen[bytes]] = []  # background commands, ended by close()

    def prefix(self) -> list[str]:
        raise NotImplementedError

    def run(
        self,
        user: str,
        script: str,
        cwd: str = "~",
        check: bool = True,
        quiet: bool = False,
        what: str = "",
        secret: bool = False,
    ) -> str:
        body = f"set -e\ncd {cwd}\n" + ("" if quiet else "set -x\n") + script
        command = [*self.prefix(), "runuser", "-l", user, "-c", body]
        # A README block's output in order, set -x lines among it; a quiet command's stdout alone, to parse.
        stderr = subprocess.PIPE if quiet else subprocess.STDOUT
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=1800
        )
        out = done.stdout + (done.stderr or "")
        if not secret:  # the one answer that is the secrets (the sandbox's credentials) is not searched
            self.outputs.append(out)
        if not quiet:
            self.log.say(out)
        if check and done.returncode != 0:
            if quiet:
                self.log.say(out)
            raise CheckFailed(f"exit {done.returncode} as {user} in {what or script.strip().splitlines()[0]}")
        return done.stdout

    def background(self, user: str, command: str, output: Path) -> None:
        with output.open("w") as out:
            self.children.append(
                subprocess.Popen(
                    [*self.prefix(), "runuser", "-l", user, "-c", f"exec {command}"],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def close(self) -> None:
        for child in self.children:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


class Booted(Inside):
    """The root booted by systemd-nspawn; commands enter its namespaces (the host has no machined)."""

    mode = "systemd-nspawn --boot"

    def __init__(self, root: Path, log: Log) -> None:
        super().__init__(root, log)
        # Host's cgroups are v1/hybrid, and trixie's systemd 257 boots only on the unified hierarchy.
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        self.console = (WORK / "console.log").open("w")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", str(root), "--boot", "--register=no", "--keep-unit", "-M", "crosspost-check"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.leader = self._leader()
        # Entered too early, the container has no systemctl answer yet: ask until it has booted.
        deadline, state = time.monotonic() + 180, ""
        while state not in ("running", "degraded") and time.monotonic() < deadline:
            time.sleep(1)
            state = self.run("root", "systemctl is-system-running || true", check=False, quiet=True).strip()
        log.say(f"booted: PID 1 of the container is host PID {self.leader}; system {state or 'silent'}")
        if state not in ("running", "degraded"):
            self.close()  # never leave it running under a chroot fallback on the same root
            raise CheckFailed(f"the root did not boot: {state or 'no answer'}")

    def _leader(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise CheckFailed(f"systemd-nspawn exited {self.nspawn.returncode}: see {WORK / 'console.log'}")
            children = subprocess.run(
                ["ps", "-o", "pid=,comm=", "--ppid", str(self.nspawn.pid)], capture_output=True, text=True
            ).stdout.split()
            for pid, comm in zip(children[::2], children[1::2], strict=True):
                if comm == "systemd":
                    return int(pid)
            time.sleep(0.2)
        self.nspawn.terminate()  # no init to halt: nspawn ends the container itself
        raise CheckFailed("the container's systemd did not start within 60 s")

    def prefix(self) -> list[str]:
        return [
            "nsenter",
            "-t",
            str(self.leader),
            "-a",
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "TERM=dumb",
        ]

    def close(self) -> None:
        super().close()
        if self.nspawn.poll() is None:
            self.run("root", "systemctl poweroff", check=False, quiet=True)
            try:
                self.nspawn.wait(180)
            except subprocess.TimeoutExpired:
                os.kill(self.leader, signal.SIGKILL)  # the container's PID 1: its whole PID namespace ends
                self.nspawn.wait(30)
        self.console.close()


SYSTEMCTL_SHIM = """#!/bin/sh
# production-check, chroot mode: no systemd runs here, so start/stop of crosspost.service run its
# ExecStart as the unit's User, with its EnvironmentFile, UMask and WorkingDirectory.
unit=/etc/systemd/system/crosspost.service
pidfile=/run/crosspost-check.pid
setting() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
start() {
    ( set -a; . "$(setting EnvironmentFile)"; set +a; umask "$(setting UMask)"; cd "$(setting WorkingDirectory)"
      exec setpriv --reuid="$(setting User)" --regid="$(setting Group)" --init-groups $(setting ExecStart) \\
        >>/var/log/crosspost-check.log 2>&1 ) &
    echo $! > "$pidfile"
}
stop() {
    [ -f "$pidfile" ] || return 0
    kill -TERM "$(cat "$pidfile")"
    while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.2; done
    rm -f "$pidfile"
}
case "$*" in
    "enable --now crosspost") /usr/bin/systemctl enable crosspost && start ;;
    "start crosspost") start ;;
    "daemon-reload") ;;
    "stop crosspost") stop ;;
    "is-active crosspost") [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" && echo active ;;
    *) exec /usr/bin/systemctl "$@" ;;
esac
"""


class Chrooted(Inside):
    """The fallback: a chroot with /proc, /sys, /dev, /run mounted, and a systemctl for the one unit."""

    mode = "chroot (the unit's ExecStart run as its User, EnvironmentFile, UMask)"

    def __init__(self, root: Path, log: Log) -> None:
        super().__init__(root, log)
        self.mounts = []
        for fs, target, options in (
            ("proc", "proc", []),
            ("sysfs", "sys", []),
            ("/dev", "dev", ["--rbind"]),
            ("tmpfs", "run", []),
            ("/dev/pts", "dev/pts", ["--bind"]),
        ):
            path = root / target
            kind = [] if options else ["-t", fs]
            subprocess.run(["mount", *kind, *options, fs, str(path)], check=True)
            self.mounts.append(path)
        shim = root / "usr/local/sbin/systemctl"
        shim.write_text(SYSTEMCTL_SHIM)
        shim.chmod(0o755)
        log.say("chroot: /proc /sys /dev /run mounted; /usr/local/sbin/systemctl runs the unit's ExecStart")

    def prefix(self) -> list[str]:
        return [
            "chroot",
            str(self.root),
            "env",
            "-i",
            "PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "TERM=dumb",
        ]

    def close(self) -> None:
        super().close()
        subprocess.run([*self.prefix(), "systemctl", "stop", "crosspost"], capture_output=True)
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(path)], capture_output=True)


# ---------------------------------------------------------------- the site's edits


def free_port() -> int:
    with socket.socket() as s:  # the root shares the host's network: take a port nobody holds
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_credentials(inside: Inside) -> dict[str, dict[str, str]]:
    """README "The sandbox": the credentials in each platform's spec.py, read from the installed program."""
    code = (
        "import json; from importlib.metadata import entry_points; "
        "print(json.dumps({e.name: e.load().sandbox_credentials "
        "for e in entry_points(group='crosspost.platforms')}))"
    )
    return json.loads(inside.run(ADMIN, f"/opt/crosspost/bin/python -c {shlex.quote(code)}", quiet=True, secret=True))


def edit_config(text: str, port: int, creds: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    """The admin's edit of README step 3 and 4: the database path, each account on the sandbox.

    Returns the new config and the secrets file's values (what `${VAR}` names, with the sandbox's)."""
    secrets: dict[str, str] = {}
    account, platform, out = None, None, []
    for line in text.splitlines():
        table = re.match(r"^\[(accounts\.[\w-]+|[\w.-]+)\]", line)
        if table:
            account = table.group(1) if table.group(1).startswith("accounts.") else None
            platform = None
        if account:
            if m := re.match(r'^platform = "(\w+)"', line):
                platform = m.group(1)
            key = re.match(r"^(\w+) = (.*)$", line)
            if platform and key and key.group(1) in creds.get(platform, {}):
                value = creds[platform][key.group(1)]
                var = re.fullmatch(r'"\$\{(\w+)\}"', key.group(2))
                if var:
                    secrets[var.group(1)] = value
                else:
                    line = f"{key.group(1)} = {json.dumps(value) if not value.isdigit() else value}"
            if line.startswith("# api_base = "):
                line = f'api_base = "http://127.0.0.1:{port}"'
        if line.startswith("database = "):
            line = 'database = "/var/lib/crosspost/crosspost.db"'
        out.append(line)
    return "\n".join(out) + "\n", secrets


def rewrite(path: Path, text: str) -> None:
    with path.open("r+", encoding="utf-8") as f:  # in place: sudoedit keeps owner, group and mode too
        f.write(text)
        f.truncate()


def sandbox_state(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/state", timeout=10) as answer:
        return json.load(answer)


# ---------------------------------------------------------------- the run


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
