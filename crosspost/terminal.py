"""What the reader's terminal is, and paging long output through ``$PAGER`` as git does.

Asked once at the CLI's edge (:meth:`Terminal.detect`) and passed down, so the table code
never reads the environment itself. A pipe or a file gets everything, unfitted and unpaged:
scripts and ``grep`` see complete lines. A terminal gets tables fitted to its width, relative
times, a default limit on long listings, and a pager when the text is taller than the screen.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PAGER = "less -FRX"  # git's: quit if one screen (-F), keep colours (-R), leave the text on screen (-X)
TTY_LIMIT = 200  # rows of `log` / posts of `list` shown on a terminal unless --limit says otherwise


@dataclass(frozen=True)
class Terminal:
    """``width`` and ``height`` are None when stdout is not a terminal (nothing is fitted or paged)."""

    width: int | None = None
    height: int | None = None
    pager: str | None = None

    @property
    def is_tty(self) -> bool:
        return self.width is not None

    @classmethod
    def detect(cls, environ: Mapping[str, str], *, isatty: bool | None = None) -> Terminal:
        """The terminal of stdout, if it is one: its size (``COLUMNS``/``LINES`` win) and the pager to use.

        ``$CROSSPOST_PAGER``, else ``$PAGER``, else :data:`DEFAULT_PAGER`; an empty value or ``cat``
        means no pager."""
        if not (sys.stdout.isatty() if isatty is None else isatty):
            return cls()
        size = shutil.get_terminal_size()
        pager = environ.get("CROSSPOST_PAGER", environ.get("PAGER", DEFAULT_PAGER)).strip()
        return cls(width=size.columns, height=size.lines, pager=None if pager in ("", "cat") else pager)

    def page(self, text: str, environ: Mapping[str, str]) -> bool:
        """Show ``text`` through the pager when it is taller than the screen; False if it was not paged
        (the caller prints it). A pager that cannot start is no error: the text is printed instead."""
        if self.pager is None or self.height is None or text.count("\n") + 1 < self.height:
            return False
        env = dict(environ)
        env.setdefault("LESS", "FRX")  # as git: also for a $PAGER of plain "less"
        try:
            proc = subprocess.Popen(shlex.split(self.pager), stdin=subprocess.PIPE, env=env)
        except OSError:
            return False
        assert proc.stdin is not None
        try:
            proc.stdin.write((text + "\n").encode("utf-8", "replace"))
            proc.stdin.close()
        except BrokenPipeError:  # the reader quit the pager early (q): nothing more to show
            pass
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C belongs to the pager, as in git
                continue
        return True
