"""Importing twitter-text-parser without setuptools' pkg_resources.

twitter_text reads its bundled emoji list with ``pkg_resources.resource_string``
at import time. Importing pkg_resources costs about a quarter of a second
(it scans every installed distribution) and newer setuptools releases drop it.
For the length of that one import we offer a minimal stand-in with the same
call, served by :mod:`importlib.resources`; the real module, if a program has
already imported it, is left alone.
"""

from __future__ import annotations

import sys
import types
from functools import cache
from importlib import resources
from typing import Any


def _resource_string(module_name: str, name: str) -> bytes:
    # pkg_resources takes a module's name and reads beside the module: that is its package's folder.
    module = sys.modules[module_name]
    package = module_name if hasattr(module, "__path__") else module_name.rpartition(".")[0]
    return resources.files(package).joinpath(name).read_bytes()


@cache
def text_library() -> Any:
    """The ``twitter_text`` module (twitter-text-parser: URL, hashtag and weight rules), imported once.

    Imported on first use: it compiles large regexes at import (about 0.3 s), which commands that
    never count a text should not pay."""
    if "twitter_text" in sys.modules or "pkg_resources" in sys.modules:
        import twitter_text as module  # type: ignore[import-untyped]

        return module
    shim = types.ModuleType("pkg_resources")
    shim.resource_string = _resource_string  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        import twitter_text as module
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    return module
