"""The noticeboard adapter: one JSON POST per notice; a look-up by crosspost's delivery key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from crosspost.adapters.base import Adapter, Ambiguous, AuthError, Receipt, Rejected
from crosspost.adapters.transport import network_error
from crosspost.model import Draft, Progress

API = "https://api.noticeboard.example/v1/boards"


class NoticeboardAdapter(Adapter):
    platform = "noticeboard"

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        checkpoint = getattr(progress, "checkpoint", None)
        if checkpoint is not None:
            checkpoint()
        notice = self._call("POST", f"{API}/{self.account.board}/notices", json={"text": draft.text, "key": draft.key})
        progress.add_part(str(notice["id"]))
        return Receipt(str(notice["id"]), str(notice["url"]), (str(notice["id"]),))

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        found = self._call("GET", f"{API}/{self.account.board}/notices", params={"key": draft.key})
        matches = [n for n in found["notices"] if n["text"] == draft.text]
        if len(matches) != 1:
            return None
        return Receipt(str(matches[0]["id"]), str(matches[0]["url"]), (str(matches[0]["id"]),))

    def verify(self) -> str:
        board = self._call("GET", f"{API}/{self.account.board}")
        return f"board {board['name']}"

    def _call(self, method: str, url: str, **kw: Any) -> Any:
        key = self.account.credentials["api_key"]
        try:
            response = self.session.request(method, url, headers={"Authorization": f"Key {key}"}, **kw)
        except requests.RequestException as exc:
            raise network_error(exc, "noticeboard", [key]) from None
        if response.status_code == 401:
            raise AuthError("the noticeboard refused api_key; check it", code=401, platform="noticeboard")
        if response.status_code >= 500:
            raise Ambiguous(f"noticeboard answered HTTP {response.status_code}", platform="noticeboard")
        if response.status_code >= 400:
            raise Rejected(f"noticeboard refused: {response.text[:100]}", platform="noticeboard")
        try:
            return response.json()
        except ValueError:
            raise Ambiguous("noticeboard answered a garbled body", platform="noticeboard") from None
