"""The errors crosspost reports to people.

Each carries a message meant to be printed as one line at the CLI's edge.
Platform errors live in :mod:`crosspost.adapters.base`.
"""

from __future__ import annotations

import re

# Characters that would break a one-line message (line ends, other controls, Unicode line separators).
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character and line break written as an escape (``\\n``, ``\\x00``)."""
    return _BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


class CrosspostError(Exception):
    """A problem a user can fix; ``str()`` is the one-line message."""


class ConfigError(CrosspostError):
    """The config file is unreadable or wrong. The message names file, key and fix."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class PostProblem(CrosspostError):
    """One problem in a post file, located at ``file:line``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        message = one_line(message)  # a value quoted from the file may hold a line break
        super().__init__(f"{one_line(file)}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


class PostError(CrosspostError):
    """A post file has one or more problems; ``problems`` lists them in file order."""

    def __init__(self, problems: list[PostProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class TimeFormatError(CrosspostError, ValueError):
    """A WHEN or duration string is not in a form crosspost understands."""


class NotFound(CrosspostError):
    """A post id (or account) named on the command line does not exist."""


class DaemonRunning(CrosspostError):
    """Another daemon already holds the database."""


class AlreadyQueued(CrosspostError):
    """``queue``: the same post file, with the same content, is already a post that is not cancelled."""

    def __init__(self, post_id: int, status: str, delivery_statuses: tuple[str, ...] = ()) -> None:
        super().__init__(f"the same file with the same content is already post {post_id} ({status})")
        self.post_id = post_id
        self.status = status
        self.delivery_statuses = delivery_statuses
