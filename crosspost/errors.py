"""The errors crosspost reports to people.

Each carries a message meant to be printed as one line at the CLI's edge.
Platform errors live in :mod:`crosspost.adapters.base`.
"""

from __future__ import annotations


class CrosspostError(Exception):
    """A problem a user can fix; ``str()`` is the one-line message."""


class ConfigError(CrosspostError):
    """The config file is unreadable or wrong. The message names file, key and fix."""


class PostProblem(CrosspostError):
    """One problem in a post file, located at ``file:line``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
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
