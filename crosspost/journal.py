"""Priorities for journald, line by line, when the daemon's stderr is the journal.

systemd's ``SyslogLevelPrefix=yes`` (its default, set in contrib/crosspost.service) reads a
leading ``<N>`` as the line's syslog priority, so ``journalctl -p warning -u crosspost`` shows
the warnings and errors alone. Only then: a terminal or a log file gets the lines unchanged.
systemd tells a process its stream is the journal through ``$JOURNAL_STREAM`` (``DEVICE:INODE``
of that stream), which is compared with stderr itself, so a child whose stderr was redirected
elsewhere does not prefix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import IO, Any

# syslog(3) priorities of the daemon's ``level=`` field and of the CLI's own lines.
PRIORITY = {"error": 3, "warning": 4, "info": 6, "debug": 7}
_LEVEL = re.compile(r"(?:level=|crosspost: )(error|warning|info|debug)\b")


def is_journal(stream: IO[Any], environ: Mapping[str, str]) -> bool:
    """True if ``stream`` is the one systemd connected to the journal (``$JOURNAL_STREAM``)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError):  # not a real file (a test's captured stream), or closed
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def prefixed(line: str) -> str:
    """``line`` with its ``<N>`` priority: from ``level=...`` or ``crosspost: error:``; info otherwise."""
    match = _LEVEL.match(line)
    return f"<{PRIORITY[match.group(1)] if match else PRIORITY['info']}>{line}"
