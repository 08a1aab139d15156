"""A Telegram channel as crosspost sees it: config keys, UTF-16 limits, the Bot API host.

Telegram counts text in UTF-16 code units (an emoji outside the Basic
Multilingual Plane counts 2): 4,096 for a message, 1,024 for a caption. A post
with images is one album; its caption is the text when the text fits a
caption, else the album is followed by the text as a message of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crosspost.images.limits import MB, ImageLimits
from crosspost.platforms.spec import Fail, PlatformSpec

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.model import Draft

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_IMAGES = 10
# A public channel's @username (5-32 letters, digits, _), or a numeric chat id (channels: -100...).
_CHAT_ID = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d+")


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class TelegramSpec(PlatformSpec):
    name = "telegram"
    display = "Telegram"
    url_form = "https://t.me/<username>/<message-id> (a private channel: https://t.me/c/<id>/<message-id>)"
    url_pattern = r"https://t\.me/(?:c/\d+|[A-Za-z][A-Za-z0-9_]+)/(?P<id>\d+)/?"
    adapter = "crosspost.platforms.telegram.adapter:TelegramAdapter"
    emulator = "crosspost.platforms.telegram.emulator:TelegramEmulator"
    sandbox_credentials = {"bot_token": "1000000004:AAsandbox-bot-token-for-the-channel", "chat_id": "@sandbox_channel"}
    can_look_up = False  # no idempotency key, and a bot cannot read a channel's history
    separate_uploads = False  # the photos travel in the request that posts them
    refuses_duplicates = False
    publish_path = r"^/bot[^/]+/send(Message|Photo|MediaGroup)$"
    hosts = ("api.telegram.org",)
    credentials = ("bot_token",)
    required = ("chat_id",)
    hints = {
        "bot_token": 'bot_token = "${TELEGRAM_BOT_TOKEN}" (from @BotFather; the bot must be an admin of the channel)',
        "chat_id": 'chat_id = "@channel_username" (or the numeric id, -100...)',
    }
    default_limit = TEXT_LIMIT
    length_unit = "UTF-16 code units, as Telegram counts them"
    max_images = MAX_IMAGES
    post_noun = "a Telegram album"
    shows_alt_text = False
    # Images (Bot API sendPhoto): at most 10 MB; width + height <= 10000; ratio at most 20. An album takes
    # photos, not animations: no animated GIF.
    image_limits = ImageLimits(frozenset({"JPEG", "PNG"}), 10 * MB, max_sides_sum=10000, max_ratio=20.0)

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        chat = table["chat_id"]
        if isinstance(chat, int) and not isinstance(chat, bool):
            chat = str(chat)
        if not isinstance(chat, str) or not _CHAT_ID.fullmatch(chat.strip()):
            raise fail(
                f"{prefix}.chat_id", f"must be the channel's @username or numeric id; write {self.hints['chat_id']}"
            )
        return {"chat_id": chat.strip()}

    def length(self, text: str) -> int:
        return utf16_length(text)

    def shape(self, draft: Draft) -> str:
        if not draft.images:
            return "one message"
        album = "one photo" if len(draft.images) == 1 else f"an album of {len(draft.images)}"
        if utf16_length(draft.text) <= CAPTION_LIMIT:
            return f"{album} with the text as its caption"
        return f"{album}, then the text as a second message (over the {CAPTION_LIMIT:,}-unit caption limit)"

    def target(self, account: AccountConfig) -> str:
        return str(account.chat_id)

    def profile_url(self, account: AccountConfig) -> str:
        chat = str(account.chat_id)
        return f"https://t.me/{chat[1:]}" if chat.startswith("@") else super().profile_url(account)

    def secret_patterns(self) -> tuple[str, ...]:
        # A bot token (``123456:AA...``) travels in every Bot API URL path: /bot<token>/sendMessage.
        return (r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{20,}",)


SPEC = TelegramSpec()
