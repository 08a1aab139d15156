"""The clean Debian root, and the site's part the README takes as given (people, a checkout)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from production_check import ADMIN, REPO, STAFF, WORK
from production_check.report import CheckFailed, Log

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
# What a fresh Debian server has after the installer with no root password: the "important"
# packages, systemd as init, and sudo for the first user.
BASE_PACKAGES = "sudo,dbus,systemd-sysv,ca-certificates"


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
