"""contrib/production-check: README "Running in production" followed on a clean Debian root.

steps: the README's blocks and where the site's part comes in; root: the clean root and the site's
people and files; inside: commands run in the booted container or the chroot; edits: the admin's
edits of the config and secrets; report: the log and its record. run.py puts them in order.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
WORK = Path("/var/tmp/crosspost-production-check")
ADMIN, STAFF = "admin", "alice"  # alice: the README's own staffer
README = REPO / "README.md"
