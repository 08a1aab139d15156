"""Opt-in live checks against real platform accounts; skipped unless configured.

Set CROSSPOST_LIVE_CONFIG to a crosspost.toml whose accounts are real (and
their ${VAR}s exported). Only read-only calls are made: each account's
credentials check. Publishing for real is left to `crosspost queue` by hand.
The suite blocks every address but loopback; CROSSPOST_LIVE_NETWORK=1 lifts
that guard for a live run:

    CROSSPOST_LIVE_NETWORK=1 CROSSPOST_LIVE_CONFIG=live.toml pytest tests/test_live.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crosspost.config import load_config

LIVE = os.environ.get("CROSSPOST_LIVE_CONFIG")
pytestmark = pytest.mark.skipif(not LIVE, reason="set CROSSPOST_LIVE_CONFIG to check real accounts")


def _accounts() -> list[str]:
    if not LIVE:
        return []
    return list(load_config(Path(LIVE), os.environ).accounts)


@pytest.mark.parametrize("name", _accounts())
def test_live_account_credentials(name: str) -> None:
    from crosspost.adapters import adapter_for

    settings = load_config(Path(str(LIVE)), os.environ)
    who = adapter_for(settings.accounts[name], settings.request_timeout).verify()
    assert who
