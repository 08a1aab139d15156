"""Telegram channels through the Bot API, posting as the channel.

The client is plain ``requests`` on the session crosspost hands the adapter, not
pyTelegramBotAPI: telebot keeps its HTTP session, API URL and proxy in module
globals of ``telebot.apihelper`` (one per process, shared by every account and
thread), so the per-account ``api_base`` seam and timeout could only be had by
patching those globals, and its own retry options would have to be kept off.
The Bot API is a handful of JSON-over-HTTPS methods; ``requests`` does them
with the same session, routing and timeouts as every other adapter.

A post is one to three requests, kept as parts in :class:`Progress` like a
thread: the text (``sendMessage``); or the album (``sendPhoto`` for one image,
``sendMediaGroup`` for several) with the text as its caption when it fits
Telegram's caption limit; or the album without caption followed by the text.
A retry resumes at the first part not yet sent.

Telegram has no idempotency key and a bot cannot read a channel's history, so
:meth:`TelegramAdapter.find` cannot settle an ambiguous send: it raises
LookupUnavailable, and the delivery becomes ``unknown`` for a person; never a resend.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import requests

from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    LookupUnavailable,
    RateLimited,
    Receipt,
    Rejected,
    Transient,
)
from crosspost.adapters.transport import network_error, readable_body
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image, Progress
from crosspost.platforms.telegram.spec import CAPTION_LIMIT, utf16_length
from crosspost.redact import redact

PLATFORM = "telegram"
# 400 refusals that mean the account, not the content, is wrong: lasting, and a person must fix the config or rights.
_ACCOUNT_PROBLEMS = ("chat not found", "rights", "not enough", "bot was kicked", "bot is not a member", "chat_id")


class TelegramAdapter(Adapter):
    """One channel (``chat_id``) posted to by one bot (``bot_token``) that is an admin of it."""

    platform = PLATFORM

    def __init__(self, account: AccountConfig, session: requests.Session) -> None:
        super().__init__(account, session)
        self.token = account.credentials["bot_token"]
        self.chat_id = str(account.chat_id)
        self.secrets = [self.token]
        self.username = self.chat_id[1:] if self.chat_id.startswith("@") else None

    # ------------------------------------------------------------ Adapter

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        for step in self._plan(draft)[len(progress.parts) :]:
            checkpoint = getattr(progress, "checkpoint", None)
            if checkpoint is not None:
                checkpoint()  # a worker that lost its claim must not send (LostClaim propagates)
            progress.add_part(step())
        first = progress.parts[0]
        return Receipt(remote_id=first, url=self.url(first), part_ids=tuple(progress.parts))

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        raise LookupUnavailable(
            "Telegram cannot be asked whether the message was posted (no idempotency key, and a bot cannot read "
            "a channel's history); look at the channel and settle it with crosspost resolve",
            platform=PLATFORM,
        )

    def verify(self) -> str:
        me = self._call("getMe", {}, publishing=False)
        if not isinstance(me, dict) or not me.get("is_bot"):
            raise AuthError("bot_token does not belong to a bot; create one with @BotFather", platform=PLATFORM)
        bot = f"@{me.get('username', me.get('id'))}"
        member = self._call("getChatMember", {"chat_id": self.chat_id, "user_id": me.get("id")}, publishing=False)
        status = member.get("status") if isinstance(member, dict) else None
        if status == "creator" or (status == "administrator" and member.get("can_post_messages")):
            # The warning `accounts --check` owes: what will not work later.
            return f"{bot}, admin of {self.chat_id} (a bot cannot look posts up: an interrupted send becomes unknown)"
        if status == "administrator":
            raise AuthError(
                f"{bot} is an administrator of {self.chat_id} but may not post messages; "
                "give it the right to post messages in the channel's admin settings",
                platform=PLATFORM,
            )
        raise AuthError(
            f"{bot} is not an administrator of {self.chat_id} (status {status}); "
            "add the bot to the channel as an admin allowed to post messages",
            platform=PLATFORM,
        )

    def url(self, message_id: str) -> str:
        """``https://t.me/<username>/<id>``; a private channel's: ``https://t.me/c/<id without -100>/<id>``."""
        if self.username:
            return f"https://t.me/{self.username}/{message_id}"
        return f"https://t.me/c/{self.chat_id.removeprefix('-100')}/{message_id}"

    # ------------------------------------------------------------ the parts of a post

    def _plan(self, draft: Draft) -> list[Any]:
        """The requests that make the post, in order; each returns the id of the message it made."""
        text = draft.text
        if not draft.images:
            return [lambda: self._message(text)]
        if utf16_length(text) <= CAPTION_LIMIT:
            return [lambda: self._album(draft.images, text)]
        return [lambda: self._album(draft.images, ""), lambda: self._message(text)]

    def _message(self, text: str) -> str:
        result = self._call("sendMessage", {"chat_id": self.chat_id, "text": text}, publishing=True)
        return self._message_id(result)

    def _album(self, images: tuple[Image, ...], caption: str) -> str:
        files = {
            f"photo{n}": (image.path.name, _read(image), image.mime or "image/jpeg") for n, image in enumerate(images)
        }
        if len(images) == 1:
            data = {"chat_id": self.chat_id, **({"caption": caption} if caption else {})}
            result = self._call("sendPhoto", data, files={"photo": files["photo0"]}, publishing=True)
            return self._message_id(result)
        media = [
            {"type": "photo", "media": f"attach://photo{n}", **({"caption": caption} if caption and n == 0 else {})}
            for n in range(len(images))
        ]
        data = {"chat_id": self.chat_id, "media": json.dumps(media, ensure_ascii=False)}
        result = self._call("sendMediaGroup", data, files=files, publishing=True)
        if not isinstance(result, list) or not result:
            raise Ambiguous(
                "Telegram answered the album without its messages; it may have been posted", platform=PLATFORM
            )
        return self._message_id(result[0])  # the album is known by its first message

    def _message_id(self, result: Any) -> str:
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise Ambiguous("Telegram answered without the message's id; it may have been posted", platform=PLATFORM)
        chat = result.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("username"), str):
            self.username = chat["username"]  # the public link form, even when chat_id is numeric
        return str(result["message_id"])

    # ------------------------------------------------------------ the wire

    def _call(self, method: str, data: dict[str, Any], *, files: Any = None, publishing: bool) -> Any:
        """One Bot API call; its ``result``, or the error it means.

        ``publishing``: the call may create a message, so an answer that is not a clear
        refusal (a 5xx, a timeout after sending, a dropped connection, a garbled body) is Ambiguous.
        """
        url = f"https://api.telegram.org/bot{self.token}/{method}"
        try:
            if files:
                response = self.session.post(url, data=data, files=files)
            else:
                response = self.session.post(url, json=data)
        except requests.RequestException as exc:
            error = network_error(exc, PLATFORM, self.secrets)
            if isinstance(error, Ambiguous) and not publishing:  # a read cannot have made anything
                raise Transient(error.message, platform=PLATFORM) from None
            raise error from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "ok" not in body:
            if response.status_code == 429:  # a refusal for rate, whoever answered it: nothing was posted
                raise RateLimited(f"Telegram answered {method} with HTTP 429", code=429, platform=PLATFORM)
            words = readable_body(response.text) or "an empty body"
            message = f"Telegram answered {method} with HTTP {response.status_code} and no Bot API answer: {words}"
            if publishing and (response.status_code >= 500 or response.ok):
                raise Ambiguous(
                    f"{message}; the message may have been posted", code=response.status_code, platform=PLATFORM
                )
            if response.status_code >= 500 or response.ok:
                raise Transient(message, code=response.status_code, platform=PLATFORM)
            raise Rejected(message, code=response.status_code, platform=PLATFORM)
        if body.get("ok") is True:
            if publishing and response.status_code >= 300:
                raise Ambiguous(f"Telegram answered {method} with HTTP {response.status_code}", platform=PLATFORM)
            return body.get("result")
        raise self._refusal(method, body, response.status_code, publishing)

    def _refusal(self, method: str, body: dict[str, Any], status: int, publishing: bool) -> Exception:
        code = body.get("error_code", status)
        description = redact(str(body.get("description", "")), self.secrets)
        message = f"{method} answered {code}: {description}"  # the delivery log says "Telegram refused ..."
        if code == 429 or status == 429:
            parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
            retry_after = parameters.get("retry_after") if parameters else None
            wait = float(retry_after) if isinstance(retry_after, (int, float)) else None
            return RateLimited(message, retry_after=wait, code=code, platform=PLATFORM)
        if status >= 500 or (isinstance(code, int) and code >= 500):
            if publishing:
                return Ambiguous(f"{message}; the message may have been posted", code=code, platform=PLATFORM)
            return Transient(message, code=code, platform=PLATFORM)
        if code in (401, 404):
            return AuthError(f"{message}; check bot_token (from @BotFather)", code=code, platform=PLATFORM)
        if code == 403 or any(p in description.lower() for p in _ACCOUNT_PROBLEMS):
            return AuthError(
                f"{message}; check chat_id and that the bot is an admin of the channel allowed to post",
                code=code,
                platform=PLATFORM,
            )
        return Rejected(message, code=code, platform=PLATFORM)


def _read(image: Image) -> bytes:
    try:
        return image.path.read_bytes()
    except OSError as exc:
        raise Rejected(f"cannot read image {image.path.name}: {exc.strerror}", platform=PLATFORM) from None
