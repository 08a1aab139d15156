"""The noticeboard's sandbox emulator (it imports no adapter: an independent check)."""

from __future__ import annotations

import html
import re
from typing import Any

from crosspost.sandbox.core import Emulator, SandboxRequest, SandboxResponse

_BOARD = re.compile(r"^/v1/boards/(?P<board>[^/]+)(?P<notices>/notices)?$")


class NoticeboardEmulator(Emulator):
    name = "noticeboard"
    title = "Noticeboard"

    def __init__(self, *, api_key: str, board: str) -> None:
        super().__init__()
        self.api_key, self.board = api_key, board
        self.reset()

    def owns(self, path: str) -> bool:
        return path.startswith("/v1/boards/")

    def reset(self) -> None:
        with self.lock:
            self.notices: list[dict[str, Any]] = []

    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        match = _BOARD.match(request.path)
        if match is None or match.group("board") != self.board:
            return None
        if request.headers.get("authorization") != f"Key {self.api_key}":
            return SandboxResponse.json({"error": "bad key"}, status=401)
        with self.lock:
            if not match.group("notices"):
                return SandboxResponse.json({"name": self.board})
            if request.method == "GET":
                key = request.query.get("key", [""])[0]
                return SandboxResponse.json({"notices": [n for n in self.notices if n["key"] == key]})
            body = request.json()
            if len(body["text"]) > 500:
                return SandboxResponse.json({"error": "too long"}, status=400)
            notice = {"id": str(len(self.notices) + 1), "text": body["text"], "key": body["key"]}
            notice["url"] = f"https://noticeboard.example/{self.board}/{notice['id']}"
            self.notices.append(notice)
            return SandboxResponse.json(notice, status=201)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"posts": [dict(n, images=[], link=None, reply_to=None) for n in self.notices]}

    def render_html(self) -> str:
        with self.lock:
            return "".join(f"<div class='post'>{html.escape(n['text'])}</div>" for n in self.notices) or "<p>None.</p>"

    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        status = {"auth": 401, "permission": 403, "rate_limit": 429, "server": 500}.get(kind, 400)
        return SandboxResponse.json({"error": kind}, status=status)
