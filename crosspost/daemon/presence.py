"""The daemon's presence: the slot on the database, and the heartbeat that keeps it.

The heartbeat also renews the lease of every claim this daemon holds, each under
its own fence (owner and token): a claim another daemon took over is not renewed.

SQLite: one daemon per database. Its writers take turns on one file lock, so a
second daemon would add no throughput, and the wake-up nudge is a socket on this
host. When the slot was taken over (this daemon looked dead: it was frozen), the
daemon stops claiming at once.

PostgreSQL: any number of daemons, on any hosts. Claims are serialized by the
database (an advisory lock, ``SKIP LOCKED``) and each account's live lease keeps
its one request in flight, whichever daemon holds it; fencing stops a frozen one.
The slot row then only records the latest daemon seen (for the "daemon was down"
notice and ``status``): taking it never refuses, and losing it stops nobody.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from crosspost.delivery import LogFn, log_line
from crosspost.errors import DaemonRunning
from crosspost.redact import redact
from crosspost.store.records import Fence
from crosspost.store.sql import SqlStore

HEARTBEAT_SECONDS = 2.0
STALE_AFTER = 15.0  # a daemon silent this long (another host, or a hung process) has lost its slot
LEASE_SECONDS = 6.0  # renewed every heartbeat while a request runs; expires soon after a crash

Clock = Callable[[], datetime]


class Presence:
    """Holds the slot for ``owner`` while :meth:`held` runs, beating every HEARTBEAT_SECONDS."""

    def __init__(
        self,
        store: SqlStore,
        owner: str,
        *,
        clock: Clock,
        exclusive: bool = True,
        log: LogFn,
        secrets: frozenset[str],
        held_claims: Callable[[], list[Fence]],
        on_lost: Callable[[], None],
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self.log = log
        self.secrets = secrets
        self.held_claims = held_claims
        self.on_lost = on_lost
        self.exclusive = exclusive  # one daemon per database (SQLite); False: shared (PostgreSQL)
        self.last_seen: datetime | None = None
        self.leaving = threading.Event()  # set while held() frees the slot: the heartbeat stops

    @contextmanager
    def held(self, accounts: str) -> Iterator[None]:
        """Take the slot (or raise DaemonRunning), beat while the body runs, free the slot after.

        ``last_seen`` keeps the previous daemon's last heartbeat, read before taking the slot overwrites
        it: the "daemon was down" notice says how long."""
        self.last_seen = self.store.daemon_last_seen()
        self.acquire()
        self.log(log_line("info", self.secrets, event="start", owner=self.owner, accounts=accounts))
        self.leaving.clear()
        beater = threading.Thread(target=self._beat_until, name="heartbeat", daemon=True)
        beater.start()
        try:
            yield
        finally:
            # A beat under way when the slot is freed would find it gone and report a take-over that never
            # happened (an error line at every clean stop that lost the race): wait for it (bounded: a beat
            # stuck on a locked database must not hold the stop), and have any later one say nothing.
            self.leaving.set()
            beater.join(HEARTBEAT_SECONDS)
            self.store.release_daemon(owner=self.owner)
            self.log(log_line("info", self.secrets, event="stop", owner=self.owner))

    def acquire(self) -> None:
        now = self.clock()
        if not self.exclusive:
            self.store.acquire_daemon(owner=self.owner, now=now, stale_after=0.0)  # records us; never refused
            return
        stale_after = STALE_AFTER
        status = self.store.daemon_status()
        if status is not None and _dead_here(status[0]):
            # The holder was on this host and its process is gone (killed): take over now, without
            # waiting for its heartbeat to go stale. Half its heartbeat's age still makes the take-over
            # a compare-and-swap: of two daemons starting together, the second sees a fresh heartbeat.
            stale_after = max(0.0, (now - status[1]).total_seconds() / 2)
        if self.store.acquire_daemon(owner=self.owner, now=now, stale_after=stale_after):
            return
        status = self.store.daemon_status()
        holder, since = (status[0], status[2]) if status else ("unknown", "unknown")
        raise DaemonRunning(
            f"another crosspost daemon ({holder}) is running on this database since {since}; stop it first"
        )

    def beat(self) -> None:
        """Keep the slot, and the lease of every claim this daemon holds."""
        now = self.clock()
        try:
            if not self.exclusive:
                self.store.acquire_daemon(owner=self.owner, now=now, stale_after=0.0)  # the latest seen
            else:
                self.store.heartbeat(owner=self.owner, now=now)
            holder = self.store.daemon_status()
            if self.leaving.is_set():
                return  # this daemon is stopping: the slot is being freed by its own hand
            if self.exclusive and (holder is None or holder[0] != self.owner):
                reason = "another daemon took the database over; stopping"
                self.log(log_line("error", self.secrets, event="heartbeat", reason=reason))
                self.on_lost()
                return
            # One write for every claim held (fifty accounts made fifty write transactions every beat). A lease
            # not extended was just settled by its worker, or taken over: either way its worker finds out at
            # its next write or request (the fence), so there is nothing to do here.
            self.store.extend_leases(self.held_claims(), until=now + timedelta(seconds=LEASE_SECONDS))
        except Exception as exc:  # noqa: BLE001 - a locked database now is no reason to die; the next beat retries
            self.log(log_line("warning", self.secrets, event="heartbeat", reason=redact(str(exc), self.secrets)))

    def _beat_until(self) -> None:
        while not self.leaving.wait(HEARTBEAT_SECONDS):
            self.beat()


def owner_name() -> str:
    return f"pid {os.getpid()} on host {socket.gethostname()}"


def _dead_here(owner: str) -> bool:
    """Whether ``owner`` ("pid N on host H") was a process on this host that no longer exists."""
    match = re.fullmatch(r"pid (\d+) on host (.+)", owner)
    if not match or match.group(2) != socket.gethostname():
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return True  # our own stale row, from a process that had our pid before
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
