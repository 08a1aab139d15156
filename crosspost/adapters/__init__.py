"""Platform adapters. Import them through :func:`adapter_for` so the platform
libraries load only when a command really talks to a platform."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crosspost.adapters.base import Adapter
    from crosspost.config import AccountConfig


def adapter_for(account: AccountConfig, timeout: float) -> Adapter:
    """A ready adapter for ``account``: its library's session fitted with api_base and ``timeout``."""
    from crosspost.adapters.transport import new_session
    from crosspost.platforms import load, spec_for

    account.require_credentials()  # an unset ${VAR} stops here, in one line, not as a KeyError inside a library
    cls = load(spec_for(account.platform).adapter)
    return cls(account, new_session(account.platform, account.api_base, timeout))  # type: ignore[no-any-return]
