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
    from importlib.metadata import entry_points

    found: dict[str, PlatformSpec] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        if point.name in found:
            continue  # the same distribution seen twice on sys.path (an editable install beside a wheel)
        spec = point.load()
        if not isinstance(spec, PlatformSpec) or spec.name != point.name:
            raise PluginError(
                f"entry point {point.name} = {point.value} in {GROUP} must name a PlatformSpec whose name is "
                f"{point.name!r}; fix that package"
            )
        found[point.name] = spec
    return found


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


__all__ = ["GROUP", "PlatformSpec", "PluginError", "display_name", "load", "names", "spec_for", "specs"]
