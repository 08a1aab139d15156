"""Local emulators of every registered platform's API, for the demo and the tests.

``build_sandbox()`` returns a :class:`~crosspost.sandbox.core.Sandbox` with the
emulator of each platform whose spec names one (``crosspost/platforms/<name>/``),
each accepting the credentials in :data:`CREDENTIALS`.
"""

from __future__ import annotations

from crosspost.platforms import load, specs
from crosspost.sandbox.core import Fault, Sandbox

# The credentials the emulators accept by default (the demo's config uses them), by platform.
CREDENTIALS: dict[str, dict[str, str]] = {
    name: dict(spec.sandbox_credentials) for name, spec in specs().items() if spec.emulator
}


def build_sandbox(credentials: dict[str, dict[str, str]] | None = None) -> Sandbox:
    """Every platform's emulator behind one server; ``credentials`` overrides :data:`CREDENTIALS`."""
    creds = {**CREDENTIALS, **(credentials or {})}
    return Sandbox([load(specs()[name].emulator)(**creds[name]) for name in CREDENTIALS])


__all__ = ["CREDENTIALS", "Fault", "Sandbox", "build_sandbox"]
