"""An emulator of the Telegram Bot API for one channel, as documented at core.telegram.org/bots/api.

Requests go to ``/bot<token>/<method>``; parameters arrive as a query, a form,
a multipart body or JSON, as the Bot API allows. Answers are the documented
envelope: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
"description": "..."}`` with the HTTP status equal to ``error_code``, and a 429
carrying ``parameters.retry_after``. Lengths are checked in UTF-16 code units,
as Telegram counts them. It does not import the adapter: it is an independent
check of what the adapter sends.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from crosspost.sandbox.core import Emulator, SandboxRequest, SandboxResponse, WallImage, WallPost, render_wall

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")


class BotApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Photo:
    sha256: str
    data: bytes
    mime: str


@dataclass
class _Post:
    """One send: a text message, a photo, or an album (its messages' ids, in order)."""

    message_ids: list[int]
    text: str
    photos: list[_Photo] = field(default_factory=list)
    date: int = 0
    url: str = ""


class TelegramEmulator(Emulator):
    """One channel (``chat_id``: its @username, or -100... for a private one) with one admin bot."""

    name = "telegram"
    title = "Telegram channel"

    def __init__(self, *, bot_token: str, chat_id: str) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.bot_id = int(bot_token.split(":", 1)[0]) if bot_token.split(":", 1)[0].isdigit() else 1000000004
        if chat_id.startswith("@"):
            self.username: str | None = chat_id[1:]
            self.channel_id = -1001000000005
        else:
            self.username = None
            self.channel_id = int(chat_id)
        self.bot_status = "administrator"  # tests set "member" or "left"
        self.can_post = True
        self.reset()

    # ------------------------------------------------------------ Emulator

    def owns(self, path: str) -> bool:
        return _PATH.match(path) is not None

    def reset(self) -> None:
        with self.lock:
            self.posts: list[_Post] = []
            self.next_id = 1

    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        match = _PATH.match(request.path)
        assert match is not None
        try:
            if match.group("token") != self.bot_token:
                raise BotApiError(401, "Unauthorized")
            handler = _METHODS.get(match.group("method"))
            if handler is None:
                raise BotApiError(404, "Not Found")
            with self.lock:
                return SandboxResponse.json({"ok": True, "result": handler(self, _params(request), request)})
        except BotApiError as exc:
            return _error(exc)

    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        if kind == "auth":
            exc = BotApiError(401, "Unauthorized")
        elif kind == "permission":
            exc = BotApiError(403, "Forbidden: bot is not a member of the channel chat")
        elif kind == "rate_limit":
            wait = max(1, reset_in)
            exc = BotApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        elif kind == "server":
            exc = BotApiError(500, "Internal Server Error")
        else:  # "bad_request", and "duplicate": Telegram has no duplicate-content refusal, a 400 is the nearest
            exc = BotApiError(400, "Bad Request: message text is empty")
        return _error(exc)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "posts": [
                    {
                        "id": str(p.message_ids[0]),
                        "message_ids": list(p.message_ids),
                        "text": p.text,
                        "images": [{"sha256": ph.sha256, "alt": None} for ph in p.photos],
                        "link": None,
                        "reply_to": None,
                        "created_at": p.date,
                        "url": p.url,
                    }
                    for p in self.posts
                ]
            }

    def render_html(self) -> str:
        with self.lock:
            posts = list(self.posts)
        return render_wall(
            WallPost(post.text, post.date, post.url, images=[WallImage(ph.mime, ph.data) for ph in post.photos])
            for post in posts
        )

    # ------------------------------------------------------------ methods

    def get_me(self, params: dict[str, Any], request: SandboxRequest) -> dict[str, Any]:
        return self._bot()

    def get_chat(self, params: dict[str, Any], request: SandboxRequest) -> dict[str, Any]:
        self._chat(params)
        return self._chat_json()

    def get_chat_member(self, params: dict[str, Any], request: SandboxRequest) -> dict[str, Any]:
        self._chat(params)
        if str(params.get("user_id", "")) != str(self.bot_id):
            raise BotApiError(400, "Bad Request: PARTICIPANT_ID_INVALID")
        member: dict[str, Any] = {"status": self.bot_status, "user": self._bot()}
        if self.bot_status == "administrator":
            member.update(can_post_messages=self.can_post, can_edit_messages=True, can_be_edited=False)
        return member

    def send_message(self, params: dict[str, Any], request: SandboxRequest) -> dict[str, Any]:
        self._may_post(params)
        text = str(params.get("text", ""))
        if not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if _utf16(text) > TEXT_LIMIT:
            raise BotApiError(400, "Bad Request: message is too long")
        [message] = self._publish(text, [], 1)
        return {**message, "text": text}

    def send_photo(self, params: dict[str, Any], request: SandboxRequest) -> dict[str, Any]:
        self._may_post(params)
        caption = self._caption(params.get("caption"))
        photo = self._photo(request, "photo")
        [message] = self._publish(caption, [photo], 1)
        return {**message, **_photo_fields(photo), **({"caption": caption} if caption else {})}

    def send_media_group(self, params: dict[str, Any], request: SandboxRequest) -> list[dict[str, Any]]:
        self._may_post(params)
        try:
            media = json.loads(params["media"]) if isinstance(params.get("media"), str) else params.get("media")
        except (KeyError, ValueError):
            raise BotApiError(400, "Bad Request: can't parse media JSON object") from None
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise BotApiError(400, "Bad Request: wrong number of media items in the album (2 to 10)")
        photos, caption = [], ""
        for n, item in enumerate(media):
            if not isinstance(item, dict) or item.get("type") != "photo":
                raise BotApiError(400, "Bad Request: only photos are accepted in this album")
            ref = str(item.get("media", ""))
            if not ref.startswith("attach://"):
                raise BotApiError(400, "Bad Request: wrong remote file identifier specified")
            photos.append(self._photo(request, ref[len("attach://") :]))
            if item.get("caption"):
                if n:
                    raise BotApiError(400, "Bad Request: a caption on any item but the first is not shown")
                caption = self._caption(item["caption"])
        group = str(self.next_id * 1000 + 7)
        messages = self._publish(caption, photos, len(photos))
        out = []
        for n, (message, photo) in enumerate(zip(messages, photos, strict=True)):
            extra = {"caption": caption} if caption and n == 0 else {}
            out.append({**message, **_photo_fields(photo), "media_group_id": group, **extra})
        return out

    # ------------------------------------------------------------ helpers

    def _bot(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "crosspost sandbox bot",
            "username": "crosspost_sandbox_bot",
        }

    def _chat_json(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.channel_id, "title": "crosspost sandbox channel", "type": "channel"}
        if self.username:
            chat["username"] = self.username
        return chat

    def _chat(self, params: dict[str, Any]) -> None:
        chat = str(params.get("chat_id", ""))
        if chat not in (str(self.channel_id), f"@{self.username}" if self.username else str(self.channel_id)):
            raise BotApiError(400, "Bad Request: chat not found")

    def _may_post(self, params: dict[str, Any]) -> None:
        self._chat(params)
        if self.bot_status not in ("administrator", "creator"):
            raise BotApiError(403, "Forbidden: bot is not a member of the channel chat")
        if not self.can_post:
            raise BotApiError(400, "Bad Request: need administrator rights in the channel chat")

    def _caption(self, caption: Any) -> str:
        text = "" if caption is None else str(caption)
        if _utf16(text) > CAPTION_LIMIT:
            raise BotApiError(400, "Bad Request: message caption is too long")
        return text

    def _photo(self, request: SandboxRequest, field_name: str) -> _Photo:
        for upload in request.files():
            if upload.name == field_name:
                if not upload.data:
                    raise BotApiError(400, "Bad Request: file must be non-empty")
                if not upload.data.startswith((b"\xff\xd8", b"\x89PNG", b"RIFF", b"GIF8")):
                    raise BotApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
                mime = upload.content_type or "image/jpeg"
                return _Photo(hashlib.sha256(upload.data).hexdigest(), upload.data, mime)
        raise BotApiError(400, "Bad Request: there is no photo in the request")

    def _publish(self, text: str, photos: list[_Photo], count: int) -> list[dict[str, Any]]:
        now = int(time.time())
        ids = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        self.posts.append(_Post(ids, text, photos, now, self._url(ids[0])))
        return [
            {"message_id": i, "sender_chat": self._chat_json(), "chat": self._chat_json(), "date": now} for i in ids
        ]

    def _url(self, message_id: int) -> str:
        if self.username:
            return f"https://t.me/{self.username}/{message_id}"
        return f"https://t.me/c/{str(self.channel_id).removeprefix('-100')}/{message_id}"


def _photo_fields(photo: _Photo) -> dict[str, Any]:
    file_id = "AgAC" + photo.sha256[:24]
    return {"photo": [{"file_id": file_id, "file_unique_id": photo.sha256[:16], "width": 64, "height": 48}]}


def _params(request: SandboxRequest) -> dict[str, Any]:
    """The Bot API takes parameters in the query string, a form, a multipart body or JSON."""
    params: dict[str, Any] = dict(request.params())
    if request.content_type.startswith("application/json") and request.body:
        try:
            body = request.json()
        except ValueError:
            raise BotApiError(400, "Bad Request: can't parse JSON") from None
        if isinstance(body, dict):
            params.update(body)
    return params


def _error(exc: BotApiError) -> SandboxResponse:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return SandboxResponse.json(body, status=exc.code)


_METHODS = {
    "getMe": TelegramEmulator.get_me,
    "getChat": TelegramEmulator.get_chat,
    "getChatMember": TelegramEmulator.get_chat_member,
    "sendMessage": TelegramEmulator.send_message,
    "sendPhoto": TelegramEmulator.send_photo,
    "sendMediaGroup": TelegramEmulator.send_media_group,
}
