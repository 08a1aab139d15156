"""Telegram channels: the Bot API adapter against the bundled emulator, and the UTF-16 text rules.

Real ``requests`` over real HTTP on 127.0.0.1; the emulator answers as the
Bot API documents (envelope, error codes, ``parameters.retry_after``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter, Ambiguous, AuthError, LookupUnavailable, RateLimited, Rejected
from crosspost.config import AccountConfig
from crosspost.model import Content, Draft, Image, Progress
from crosspost.platforms.telegram.emulator import TelegramEmulator
from crosspost.platforms.telegram.spec import CAPTION_LIMIT, SPEC, utf16_length
from crosspost.render import check_draft, measure, render_draft
from crosspost.sandbox import Fault, Sandbox

TOKEN = "5566778899:AAtelegram-test-token-9d7b5f3a1c"
SEND = r"^/bot[^/]+/sendMessage$"


@pytest.fixture
def emulator() -> TelegramEmulator:
    return TelegramEmulator(bot_token=TOKEN, chat_id="@embassy_channel")


@pytest.fixture
def box(emulator: TelegramEmulator) -> Iterator[Sandbox]:
    sandbox = Sandbox([emulator])
    sandbox.start()
    yield sandbox
    sandbox.stop()


def account(base: str, chat_id: str = "@embassy_channel", token: str = TOKEN) -> AccountConfig:
    return AccountConfig(
        name="tg", platform="telegram", credentials={"bot_token": token}, api_base=base, options={"chat_id": chat_id}
    )


def telegram(box: Sandbox, **kw: str) -> Adapter:
    return adapter_for(account(box.url, **kw), 2.0)


def draft(text: str, images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account="tg", platform="telegram", parts=(text,), images=images, key="crosspost-1-tg")


def image(folder: Path, name: str, colour: tuple[int, int, int]) -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 24), colour).save(buffer, "JPEG")
    (folder / name).write_bytes(buffer.getvalue())
    return Image(folder / name, "alt", hashlib.sha256(buffer.getvalue()).hexdigest(), "image/jpeg")


def posts(box: Sandbox) -> list[dict]:
    return list(box.state()["telegram"]["posts"])


# ---------------------------------------------------------------- publishing


def test_text_message_url_is_the_channels_public_link(box: Sandbox) -> None:
    receipt = telegram(box).publish(draft("Приём по случаю Дня России 🇷🇺"), Progress())
    [post] = posts(box)
    assert post["text"] == "Приём по случаю Дня России 🇷🇺"
    assert receipt.url == f"https://t.me/embassy_channel/{post['id']}" == post["url"]


def test_private_channel_url_drops_the_minus_100(tmp_path: Path) -> None:
    emulator = TelegramEmulator(bot_token=TOKEN, chat_id="-1001234567890")
    sandbox = Sandbox([emulator])
    sandbox.start()
    try:
        receipt = adapter_for(account(sandbox.url, chat_id="-1001234567890"), 2.0).publish(draft("Hi"), Progress())
    finally:
        sandbox.stop()
    assert receipt.url == f"https://t.me/c/1234567890/{receipt.remote_id}"


def test_album_carries_the_text_as_caption_when_it_fits(box: Sandbox, tmp_path: Path) -> None:
    images = (image(tmp_path, "a.jpg", (200, 0, 0)), image(tmp_path, "b.jpg", (0, 0, 200)))
    progress = Progress()
    receipt = telegram(box).publish(draft("Two photos.", images), progress)
    [album] = posts(box)
    assert album["text"] == "Two photos." and len(album["message_ids"]) == 2
    assert [i["sha256"] for i in album["images"]] == [i.sha256 for i in images]
    assert progress.parts == [album["id"]] == [receipt.remote_id]


def test_one_image_goes_as_a_photo(box: Sandbox, tmp_path: Path) -> None:
    telegram(box).publish(draft("One photo.", (image(tmp_path, "a.jpg", (1, 2, 3)),)), Progress())
    assert any(r["path"].endswith("/sendPhoto") for r in box.requests)
    assert posts(box)[0]["text"] == "One photo."


def test_text_too_long_for_a_caption_follows_the_album(box: Sandbox, tmp_path: Path) -> None:
    text = "🎉" * (CAPTION_LIMIT // 2 + 1)  # 1,026 UTF-16 units, only 513 characters
    assert len(text) < CAPTION_LIMIT < utf16_length(text)
    progress = Progress()
    receipt = telegram(box).publish(draft(text, (image(tmp_path, "a.jpg", (9, 9, 9)),)), progress)
    album, message = posts(box)
    assert album["text"] == "" and message["text"] == text
    assert progress.parts == [album["id"], message["id"]] and receipt.part_ids == tuple(progress.parts)
    assert receipt.remote_id == album["id"]


def test_a_retry_resumes_with_the_text_message_and_never_resends_the_album(box: Sandbox, tmp_path: Path) -> None:
    text = "x" * (CAPTION_LIMIT + 1)
    images = (image(tmp_path, "a.jpg", (5, 5, 5)),)
    box.add_faults([Fault(path=SEND, error="server")])
    progress = Progress()
    with pytest.raises(Ambiguous):  # a 5xx on a send is no clear refusal: the message may exist
        telegram(box).publish(draft(text, images), progress)
    assert len(progress.parts) == 1 and len(posts(box)) == 1
    receipt = telegram(box).publish(draft(text, images), progress)
    album, message = posts(box)
    assert message["text"] == text and receipt.part_ids == (album["id"], message["id"])


def test_checkpoint_runs_before_every_publishing_request(box: Sandbox, tmp_path: Path) -> None:
    class Lost(Exception):
        pass

    @dataclass
    class Fenced(Progress):
        allowed: int = 1

        def checkpoint(self) -> None:
            if self.allowed == 0:
                raise Lost
            self.allowed -= 1

    progress = Fenced()
    with pytest.raises(Lost):
        telegram(box).publish(draft("y" * (CAPTION_LIMIT + 1), (image(tmp_path, "a.jpg", (7, 7, 7)),)), progress)
    assert len(posts(box)) == 1  # the album went; the text message did not, once the claim was lost


# ---------------------------------------------------------------- errors


def test_429_honours_retry_after(box: Sandbox) -> None:
    box.add_faults([Fault(path=SEND, error="rate_limit", reset_in=17)])
    with pytest.raises(RateLimited) as caught:
        telegram(box).publish(draft("Later."), Progress())
    assert caught.value.retry_after == 17
    assert posts(box) == []


def test_wrong_token_is_an_auth_error_without_the_token(box: Sandbox) -> None:
    bad = "1234567:AAwrong-token-abcdefghijklmnop"
    with pytest.raises(AuthError) as caught:
        telegram(box, token=bad).publish(draft("No."), Progress())
    assert bad not in str(caught.value) and TOKEN not in str(caught.value)


def test_dropped_connection_is_ambiguous_and_names_no_token(box: Sandbox) -> None:
    box.add_faults([Fault(path=SEND, drop="after")])
    with pytest.raises(Ambiguous) as caught:
        telegram(box).publish(draft("Dropped."), Progress())
    assert TOKEN not in f"{caught.value} {caught.value!r}"
    assert len(posts(box)) == 1


def test_a_message_over_4096_utf16_units_is_refused_by_telegram(box: Sandbox) -> None:
    with pytest.raises(Rejected):
        telegram(box).publish(draft("😀" * 2049), Progress())  # 2,049 characters, 4,098 units
    assert posts(box) == []


def test_find_cannot_settle_and_says_why(box: Sandbox) -> None:
    from datetime import UTC, datetime

    with pytest.raises(LookupUnavailable) as caught:
        telegram(box).find(draft("?"), Progress(), datetime.now(UTC))
    assert "history" in caught.value.message and "resolve" in caught.value.message


# ---------------------------------------------------------------- verify


def test_verify_names_the_bot_and_the_channel(box: Sandbox) -> None:
    who = telegram(box).verify()
    assert who.startswith("@crosspost_sandbox_bot, admin of @embassy_channel (")
    assert "becomes unknown" in who


@pytest.mark.parametrize(
    ("status", "can_post", "words"),
    [("member", True, "not an administrator"), ("administrator", False, "may not post")],
)
def test_verify_refuses_a_bot_that_cannot_post(
    box: Sandbox, emulator: TelegramEmulator, status: str, can_post: bool, words: str
) -> None:
    emulator.bot_status, emulator.can_post = status, can_post
    with pytest.raises(AuthError) as caught:
        telegram(box).verify()
    assert words in caught.value.message


def test_verify_of_a_wrong_channel_is_an_auth_error(box: Sandbox) -> None:
    with pytest.raises(AuthError) as caught:
        telegram(box, chat_id="@someone_else").verify()
    assert "chat not found" in caught.value.message


# ---------------------------------------------------------------- text rules (offline)


def test_length_is_counted_in_utf16_units_against_4096() -> None:
    acct = account("http://127.0.0.1:1")
    over = render_draft(acct, Content(body="😀" * 2049))
    assert measure(acct, over) == [(4098, 4096)]
    assert any("4098 characters, over its limit of 4096" in m for m in check_draft(acct, over))
    assert check_draft(acct, render_draft(acct, Content(body="😀" * 2048))) == []


def test_at_most_ten_images(tmp_path: Path) -> None:
    acct = account("http://127.0.0.1:1")
    images = tuple(Image(tmp_path / f"{n}.jpg") for n in range(11))
    [problem] = check_draft(acct, Draft("tg", "telegram", ("Text",), images))
    assert "a Telegram album takes at most 10" in problem


def test_spec_masks_a_bot_token_in_any_text() -> None:
    from crosspost.redact import redact

    assert "AAsome" not in redact("GET /bot123456789:AAsomething-secret-and-long/getMe failed")
    assert SPEC.name == "telegram"


def test_preview_says_how_the_post_goes_out(tmp_path: Path) -> None:
    from crosspost.output import preview_lines

    acct = account("http://127.0.0.1:1")
    photo = (Image(tmp_path / "a.jpg"),)
    short, long_ = Draft("tg", "telegram", ("Short.",), photo), Draft("tg", "telegram", ("x" * 1100,), photo)
    assert preview_lines(acct, short, measure(acct, short), tmp_path)[0] == (
        "tg (telegram), one photo with the text as its caption"
    )
    assert "then the text as a second message" in preview_lines(acct, long_, measure(acct, long_), tmp_path)[0]
    assert "5/4096 UTF-16 code units" in "\n".join(
        preview_lines(acct, draft("Hello"), measure(acct, draft("Hello")), tmp_path)
    )
