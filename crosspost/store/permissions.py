"""The modes of what crosspost creates, so a team shares one database through a group.

Production (README): the daemon runs as ``crosspost`` and staff, members of the ``crosspost``
group, run the CLI as themselves. Both must read and write the SQLite database, its WAL and
SHM files (SQLite gives those the database file's mode) and the media copies, whoever made
them. So crosspost gives what it creates to the group: files 0660, folders 2770 (the setgid
bit makes files made inside belong to the folder's group, not the maker's). A personal setup
loses nothing: Debian's user private groups hold the user alone. Others get nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o660
DIR_MODE = 0o2770


def share_file(path: Path) -> None:
    """Give a file crosspost just created to the group (an owner's chmod; the mode is not umask's)."""
    os.chmod(path, FILE_MODE)


def make_folder(path: Path) -> None:
    """Create ``path`` and any missing parents, each one crosspost creates set to :data:`DIR_MODE`."""
    missing: list[Path] = []
    folder = path.absolute()
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE & 0o777)
        except FileExistsError:  # made meanwhile by another process: its maker set the mode
            continue
        try:
            os.chmod(folder, DIR_MODE)
        except PermissionError:
            # The unit's RestrictSUIDSGID=yes refuses any chmod with the setgid bit; there the folder
            # already has it from its parent (Linux passes it down) and UMask=0007 left it 2770.
            pass
