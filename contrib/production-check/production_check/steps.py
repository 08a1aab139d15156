"""The README's production section as the check runs it: its ```sh blocks, each with its step."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

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
