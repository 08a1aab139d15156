"""Commands inside the root: the booted container (systemd-nspawn --boot) or the chroot fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from production_check import WORK
from production_check.report import CheckFailed, Log


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
