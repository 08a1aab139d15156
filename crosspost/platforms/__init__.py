"""The platform registry: every platform crosspost knows, built-in or from a plugin.

Platforms come from the entry point group :data:`GROUP`; each entry point
names a :class:`~crosspost.platforms.spec.PlatformSpec` instance (see
``spec.py`` for the interface). The built-ins in this folder register through
the same group, in crosspost's own ``pyproject.toml``, so a third-party package
is a peer of them.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Any

from crosspost.platforms.spec import PlatformSpec

GROUP = "crosspost.platforms"


class PluginError(Exception):
    """An entry point in :data:`GROUP` does not name a usable platform spec."""


@lru_cache(maxsize=1)
def specs() -> dict[str, PlatformSpec]:
    """Every registered platform by name, in name order (read once per process)."""
    found: dict[str, PlatformSpec] = {}
    for name, value in sorted(entry_points()):
        if name in found:
            continue  # two distributions claim one name: the first on sys.path wins, as for importlib.metadata
        spec = load(value)
        if not isinstance(spec, PlatformSpec) or spec.name != name:
            raise PluginError(
                f"entry point {name} = {value} in {GROUP} must name a PlatformSpec whose name is {name!r}; "
                "fix that package"
            )
        found[name] = spec
    return found


def entry_points() -> list[tuple[str, str]]:
    """``(name, "module:attr")`` of each entry point in :data:`GROUP`, as ``importlib.metadata`` lists them.

    Read straight from each distribution's ``entry_points.txt`` (packaging's entry points
    specification: an INI file) in the folders of ``sys.path``, the first distribution of a name
    winning. Importing ``importlib.metadata`` costs about 50 ms (email, zipfile, csv): a tenth of
    ``validate``, which must answer at once. tests/test_registry.py checks both agree.
    """
    import configparser
    import os
    import re
    import sys

    seen: set[str] = set()
    points: list[tuple[str, str]] = []
    for folder in sys.path:
        try:
            entries = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for entry in entries:
            if not entry.endswith((".dist-info", ".egg-info")):
                continue
            dist = re.sub(r"[-_.]+", "_", entry.rsplit(".", 1)[0].split("-", 1)[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder or ".", entry, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]  # names are case-sensitive
            try:
                parser.read_string(text)
            except configparser.Error as exc:
                raise PluginError(f"{entry}/entry_points.txt is not readable ({exc}); reinstall that package") from None
            if parser.has_section(GROUP):
                points += [(name, value.strip()) for name, value in parser.items(GROUP)]
    return points


def names() -> tuple[str, ...]:
    """The registered platform names."""
    return tuple(specs())


def spec_for(platform: str) -> PlatformSpec:
    """The spec of ``platform``; KeyError when no package registers it."""
    return specs()[platform]


def display_name(platform: str) -> str:
    """The platform as people call it ("X"), or its config name when it is not registered."""
    spec = specs().get(platform)
    return spec.display if spec is not None else platform


def load(reference: str) -> Any:
    """The object a ``"module:attr"`` reference names (an adapter or emulator class)."""
    module, _, attr = reference.partition(":")
    return getattr(import_module(module), attr)


__all__ = ["GROUP", "PlatformSpec", "PluginError", "display_name", "entry_points", "load", "names", "spec_for", "specs"]
