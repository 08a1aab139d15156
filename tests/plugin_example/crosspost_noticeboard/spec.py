"""The noticeboard as crosspost sees it (the whole plugin interface: crosspost/platforms/spec.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from crosspost.config import AccountConfig
from crosspost.platforms.spec import Fail, PlatformSpec


class NoticeboardSpec(PlatformSpec):
    name = "noticeboard"
    display = "Noticeboard"
    url_form = "https://noticeboard.example/<board>/<id>"
    adapter = "crosspost_noticeboard.adapter:NoticeboardAdapter"
    emulator = "crosspost_noticeboard.emulator:NoticeboardEmulator"
    sandbox_credentials = {"api_key": "nb-sandbox-key-0123456789", "board": "press"}
    publish_path = r"^/v1/boards/[^/]+/notices$"
    hosts = ("api.noticeboard.example",)
    credentials = ("api_key",)
    required = ("board",)
    hints = {"api_key": 'api_key = "${NOTICEBOARD_KEY}"', "board": 'board = "press" (the board\'s short name)'}
    default_limit = 500
    max_images = 0
    post_noun = "a notice"

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        board = table["board"]
        if not isinstance(board, str) or not re.fullmatch(r"[a-z0-9-]+", board):
            raise fail(f"{prefix}.board", f"must be a board's short name; write {self.hints['board']}")
        return {"board": board}

    def target(self, account: AccountConfig) -> str:
        return str(account.board)


SPEC = NoticeboardSpec()
