"""Local emulators of the X, Graph and VK APIs, for the demo and the tests.

``build_sandbox()`` returns a :class:`~crosspost.sandbox.core.Sandbox` with the
three emulators, each accepting the credentials in :data:`CREDENTIALS`.
"""

from __future__ import annotations

from crosspost.sandbox.core import Fault, Sandbox

# The credentials the emulators accept by default (the demo's config uses them).
CREDENTIALS: dict[str, dict[str, str]] = {
    "twitter": {
        "consumer_key": "sandbox-consumer-key",
        "consumer_secret": "sandbox-consumer-secret",
        "access_token": "1000000001-sandboxaccesstoken",
        "access_token_secret": "sandbox-access-token-secret",
    },
    "facebook": {"page_id": "1000000002", "page_access_token": "EAAsandboxpagetoken"},
    "vk": {"group_id": "1000003", "access_token": "vk1.a.sandboxusertoken"},
}


def build_sandbox(credentials: dict[str, dict[str, str]] | None = None) -> Sandbox:
    """The three emulators behind one server; ``credentials`` overrides :data:`CREDENTIALS`."""
    from crosspost.sandbox.facebook import FacebookEmulator
    from crosspost.sandbox.twitter import TwitterEmulator
    from crosspost.sandbox.vk import VkEmulator

    creds = {**CREDENTIALS, **(credentials or {})}
    return Sandbox(
        [TwitterEmulator(**creds["twitter"]), FacebookEmulator(**creds["facebook"]), VkEmulator(**creds["vk"])]
    )


__all__ = ["CREDENTIALS", "Fault", "Sandbox", "build_sandbox"]
