"""The sandbox page shows every platform's wall in one markup (``render_wall``), over real HTTP."""

from __future__ import annotations

import requests
from adapter_world import fresh_fixture, sandbox_fixture  # one sandbox per module, reset before each test

from crosspost.sandbox import CREDENTIALS, Sandbox
from crosspost.sandbox.core import WallImage, WallPost, render_wall

__all__ = ["fresh_fixture", "sandbox_fixture"]  # the fixtures, used by name

TEXT = "Ties <b>& talks</b>"  # must reach the page escaped, never as markup
ESCAPED = "Ties &lt;b&gt;&amp; talks&lt;/b&gt;"


def test_render_wall_escapes_text_and_alt_and_links_the_post() -> None:
    page = render_wall(
        [
            WallPost(
                TEXT, 0, "https://x.example/1?a=1&b=2", label="1", images=[WallImage("image/png", b"\x89P", "<a>")]
            ),
            WallPost("second", 60, "https://x.example/2", byline="@embassy", css="post reply"),
        ]
    )
    first, second = page.split("\n")
    assert first.startswith("<div class='post'><div class='meta'><a href='https://x.example/1?a=1&amp;b=2'>1</a>")
    assert "1970-01-01 00:00:00 UTC" in first and ESCAPED in first
    assert "src='data:image/png;base64,iVA=' alt='&lt;a&gt;' title='&lt;a&gt;'" in first
    assert second.startswith("<div class='post reply'><div class='meta'>@embassy · ")
    assert ">https://x.example/2</a> · 1970-01-01 00:01:00 UTC" in second  # no label: the URL is the link's text


def test_an_empty_wall_says_so() -> None:
    assert render_wall([]) == "<p class='meta'>No posts yet.</p>"
    assert render_wall([], empty="Nothing <yet>") == "<p class='meta'>Nothing &lt;yet&gt;</p>"


def test_every_wall_on_the_page_uses_the_shared_markup(sandbox: Sandbox) -> None:
    for platform in ("twitter", "facebook", "vk"):
        sandbox.seed(platform, {"text": f"{platform}: {TEXT}", "images": 1})
    telegram = CREDENTIALS["telegram"]
    sent = requests.post(
        f"{sandbox.url}/bot{telegram['bot_token']}/sendMessage",
        json={"chat_id": telegram["chat_id"], "text": f"telegram: {TEXT}"},
        timeout=10,
    )
    assert sent.json()["ok"], sent.text
    page = requests.get(sandbox.url + "/", timeout=10).text
    for platform in ("twitter", "facebook", "vk", "telegram"):
        section = page.split(f"<section id='{platform}'>")[1].split("</section>")[0]
        assert section.count("<div class='post'><div class='meta'>") == 1, section
        assert f"{platform}: {ESCAPED}" in section and "<b>" not in section
    assert page.count("src='data:image/png;base64,") == 3  # the seeded photos, inline


def test_a_reset_wall_is_empty_on_the_page(sandbox: Sandbox) -> None:
    page = requests.get(sandbox.url + "/", timeout=10).text
    assert page.count("<p class='meta'>No posts yet.</p>") == 3 and "Nothing posted yet." in page
