"""Platform adapters. Import them through :func:`adapter_for` so the platform
libraries load only when a command really talks to a platform."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crosspost.adapters.base import Adapter
    from crosspost.config import AccountConfig

_CLASSES = {
    "twitter": ("crosspost.adapters.twitter", "TwitterAdapter"),
    "facebook": ("crosspost.adapters.facebook", "FacebookAdapter"),
    "vk": ("crosspost.adapters.vk", "VkAdapter"),
}


def adapter_for(account: AccountConfig, timeout: float) -> Adapter:
    """A ready adapter for ``account``: its library's session fitted with api_base and ``timeout``."""
    from crosspost.adapters.transport import new_session

    module, name = _CLASSES[account.platform]
    cls = getattr(import_module(module), name)
    return cls(account, new_session(account.platform, account.api_base, timeout))  # type: ignore[no-any-return]
