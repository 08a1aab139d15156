"""One contract suite over every registered platform (crosspost.platforms), plugins included.

Each test runs the real platform library (tweepy, facebook-sdk, vk_api; the
Bot API over requests) over real HTTP against the bundled emulators, reached
through ``api_base``. What a platform cannot do (threads, look-ups, separate
uploads, duplicate refusals) is read from its spec, so a new platform gets the
suite for free. The credentials are distinctive so that any leak into an
error message shows.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    LookupUnavailable,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image, Progress
from crosspost.platforms import names, spec_for
from crosspost.sandbox import Fault, Sandbox, build_sandbox

PLATFORMS = tuple(p for p in names() if spec_for(p).emulator)

DISTINCTIVE = {
    "twitter": {
        "consumer_key": "TWCK-7f3e9a1c5b",
        "consumer_secret": "TWCS-secret-4d2b8e6f0a1c3e5g",
        "access_token": "2244668800-TWAT-9c1e3a5b7d",
        "access_token_secret": "TWATS-secret-1a2b3c4d5e6f7g",
    },
    "facebook": {"page_id": "424242424242", "page_access_token": "EAAFBTOKEN-contract-5e7a9c1b3d"},
    "vk": {"group_id": "777001", "access_token": "vk1.a.VKTOKEN-contract-8b6d4f2a0c"},
    "telegram": {"bot_token": "7700112233:AAtgTOKEN-contract-3f5a7c9e1b", "chat_id": "@contract_channel"},
}
CREDENTIALS = {p: DISTINCTIVE.get(p, dict(spec_for(p).sandbox_credentials)) for p in PLATFORMS}
SECRETS = [v for p in PLATFORMS for k, v in CREDENTIALS[p].items() if k in spec_for(p).credentials]
PUBLISH_PATH = {p: spec_for(p).publish_path for p in PLATFORMS}


@pytest.fixture(scope="module")
def sandbox():
    box = build_sandbox(credentials=CREDENTIALS)
    box.start()
    yield box
    box.stop()


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox) -> None:
    sandbox.reset()


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def account_for(platform: str, base: str, **credentials: str) -> AccountConfig:
    """The account as config.py would build it from the table, through the platform's own checks."""
    spec = spec_for(platform)
    table = CREDENTIALS[platform]
    creds = {k: v for k, v in table.items() if k in spec.credentials}
    creds.update(credentials)
    plain = spec.read_options(table, f"accounts.main-{platform}", lambda key, message: ValueError(key, message))
    own = {"page_id", "group_id", "graph_version", "api_version"}
    fields = {k: v for k, v in plain.items() if k in own}
    options = {k: v for k, v in plain.items() if k not in own}
    return AccountConfig(
        name=f"main-{platform}", platform=platform, credentials=creds, api_base=base, options=options, **fields
    )


def token_key(platform: str) -> str:
    """The credential that is a token (every platform has one)."""
    return next(k for k in spec_for(platform).credentials if "token" in k and "secret" not in k)


def adapter(
    platform: str, sandbox: Sandbox, *, timeout: float = 5.0, credentials: dict[str, str] | None = None
) -> Adapter:
    return adapter_for(account_for(platform, sandbox.url, **(credentials or {})), timeout)


def draft(platform: str, *parts: str, images: tuple[Image, ...] = (), link: str | None = None) -> Draft:
    return Draft(
        account=f"main-{platform}",
        platform=platform,
        parts=parts,
        images=images,
        link=link,
        key=f"crosspost-1-main-{platform}",
    )


def posts(sandbox: Sandbox, platform: str) -> list[dict]:
    return list(sandbox.state()[platform]["posts"])


def make_image(folder: Path, name: str, colour: tuple[int, int, int]) -> Image:
    import hashlib

    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return Image(
        path=path, alt=f"alt for {name}", sha256=hashlib.sha256(buffer.getvalue()).hexdigest(), mime="image/jpeg"
    )


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def assert_no_secret(error: BaseException) -> None:
    text = f"{error} {error!r} {getattr(error, 'message', '')}"
    for secret in SECRETS:
        assert secret not in text


# ---------------------------------------------------------------- publishing


def test_text_post(platform: str, sandbox: Sandbox) -> None:
    receipt = adapter(platform, sandbox).publish(
        draft(platform, "Press release: the embassy opens on Monday."), Progress()
    )
    [post] = posts(sandbox, platform)
    assert post["text"].startswith("Press release: the embassy opens on Monday.")
    assert receipt.remote_id == post["id"]
    assert receipt.url.startswith("https://")
    assert receipt.url == post["url"]
    assert spec_for(platform).remote_id(receipt.url) == receipt.remote_id  # the spec's URL form reads it back


@pytest.mark.parametrize(
    "text",
    ["Посольство России поздравляет с праздником! Подробнее — на сайте.", "日本語のテキストと中文 🎉 mixed"],
    ids=["cyrillic", "cjk-emoji"],
)
def test_unicode_text_arrives_intact(platform: str, sandbox: Sandbox, text: str) -> None:
    adapter(platform, sandbox).publish(draft(platform, text), Progress())
    [post] = posts(sandbox, platform)
    assert post["text"] == text


def test_link(platform: str, sandbox: Sandbox) -> None:
    link = "https://example.org/news/75"
    adapter(platform, sandbox).publish(draft(platform, f"Read more: {link}", link=link), Progress())
    [post] = posts(sandbox, platform)
    assert link in post["text"] or post["link"] == link


def test_images_with_alt(platform: str, sandbox: Sandbox, tmp_path: Path) -> None:
    images = (make_image(tmp_path, "a.jpg", (200, 30, 30)), make_image(tmp_path, "b.jpg", (30, 30, 200)))
    progress = Progress()
    adapter(platform, sandbox).publish(draft(platform, "Two photos from the ceremony.", images=images), progress)
    [post] = posts(sandbox, platform)
    assert [i["sha256"] for i in post["images"]] == [i.sha256 for i in images]
    if spec_for(platform).shows_alt_text:
        assert [i["alt"] for i in post["images"]] == [i.alt for i in images]
    if spec_for(platform).separate_uploads:
        assert set(progress.media) == {i.sha256 for i in images}


def test_multi_part_text(platform: str, sandbox: Sandbox) -> None:
    parts = ("First part of the statement. 1/3", "Second part of it. 2/3", "Last part. 3/3")
    progress = Progress()
    receipt = adapter(platform, sandbox).publish(draft(platform, *parts), progress)
    published = posts(sandbox, platform)
    if spec_for(platform).threads:
        assert [p["text"] for p in published] == list(parts)
        assert [p["reply_to"] for p in published] == [None, published[0]["id"], published[1]["id"]]
        assert progress.parts == [p["id"] for p in published]
        assert receipt.remote_id == published[0]["id"]
    else:  # one post on platforms without threads
        assert len(published) == 1
        assert all(part in published[0]["text"] for part in parts)


def test_thread_resumes_after_last_published_part(sandbox: Sandbox) -> None:
    parts = ("Opening words. 1/3", "The middle. 2/3", "The end. 3/3")
    twitter = adapter("twitter", sandbox)
    first = twitter.publish(draft("twitter", parts[0]), Progress())
    progress = Progress(parts=[first.remote_id])
    receipt = twitter.publish(draft("twitter", *parts), progress)
    published = posts(sandbox, "twitter")
    assert [p["text"] for p in published] == list(parts)
    assert receipt.remote_id == first.remote_id
    assert published[1]["reply_to"] == first.remote_id


def test_uploaded_media_is_reused_on_retry(platform: str, sandbox: Sandbox, tmp_path: Path) -> None:
    if not spec_for(platform).separate_uploads:
        pytest.skip("the images travel in the request that posts them")
    image = make_image(tmp_path, "c.jpg", (10, 160, 10))
    progress = Progress()
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], error="rate_limit")])
    with pytest.raises(RateLimited):
        adapter(platform, sandbox).publish(draft(platform, "With a photo.", images=(image,)), progress)
    assert image.sha256 in progress.media
    uploads_before = _upload_requests(sandbox)
    adapter(platform, sandbox).publish(draft(platform, "With a photo.", images=(image,)), progress)
    assert _upload_requests(sandbox) == uploads_before
    assert len(posts(sandbox, platform)) == 1


def _upload_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if "upload" in r["path"] or r["path"].endswith("/photos"))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("auth", AuthError),
        ("permission", AuthError),
        ("rate_limit", RateLimited),
        ("server", Ambiguous),
        ("bad_request", Rejected),
    ],
)
def test_platform_errors_are_classified(platform: str, sandbox: Sandbox, kind: str, expected: type) -> None:
    if platform == "vk" and kind == "server":
        expected = Transient  # VK's own error 10 comes in an HTTP 200 body: a clear answer, not a gateway's
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], error=kind)])
    with pytest.raises(PlatformError) as caught:
        adapter(platform, sandbox).publish(draft(platform, f"Testing {kind}."), Progress())
    assert isinstance(caught.value, expected)
    if kind == "server":
        assert not isinstance(caught.value, RateLimited)
    assert caught.value.message
    assert_no_secret(caught.value)
    assert posts(sandbox, platform) == []


def test_rate_limit_says_when(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], error="rate_limit", reset_in=120)])
    with pytest.raises(RateLimited) as caught:
        adapter(platform, sandbox).publish(draft(platform, "Rate limited."), Progress())
    error = caught.value
    assert error.reset_at is not None or error.retry_after is not None
    if platform == "twitter":  # X gives the reset time in x-rate-limit-reset
        assert error.reset_at is not None
        assert abs((error.reset_at - datetime.now(UTC)).total_seconds() - 120) < 10


def test_duplicate_is_rejected_as_duplicate(platform: str, sandbox: Sandbox) -> None:
    if not spec_for(platform).refuses_duplicates:
        pytest.skip("the platform takes a resend as a new post")
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], error="duplicate")])
    with pytest.raises(Rejected) as caught:
        adapter(platform, sandbox).publish(draft(platform, "Said twice."), Progress())
    assert caught.value.duplicate
    assert_no_secret(caught.value)


def test_bad_token_is_an_auth_error_without_the_token(platform: str, sandbox: Sandbox) -> None:
    key = token_key(platform)
    bad = "WRONG-token-" + platform + "-0123456789abcdef"
    with pytest.raises(AuthError) as caught:
        adapter(platform, sandbox, credentials={key: bad}).publish(draft(platform, "Should not post."), Progress())
    assert bad not in str(caught.value) and bad not in repr(caught.value)
    assert_no_secret(caught.value)
    assert posts(sandbox, platform) == []


def test_html_error_page_is_ambiguous(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], status=502, body="<html><h1>502 Bad Gateway</h1></html>")])
    with pytest.raises(Ambiguous) as caught:
        adapter(platform, sandbox).publish(draft(platform, "Gateway trouble."), Progress())
    assert_no_secret(caught.value)


def test_connection_refused_is_transient(platform: str) -> None:
    with socket_closed_port() as port:
        account = account_for(platform, f"http://127.0.0.1:{port}")
        with pytest.raises(Transient) as caught:
            adapter_for(account, 2.0).publish(draft(platform, "Nobody listens."), Progress())
    assert not isinstance(caught.value, RateLimited)
    assert_no_secret(caught.value)


def test_read_timeout_is_ambiguous_and_find_settles_it(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], delay=1.5)])
    text = "Slow platform today."
    with pytest.raises(Ambiguous) as caught:
        adapter(platform, sandbox, timeout=0.5).publish(draft(platform, text), Progress())
    assert_no_secret(caught.value)
    _wait_for_posts(sandbox, platform, 1)
    if not assert_can_look_up(platform, sandbox, text):
        return
    found = adapter(platform, sandbox).find(draft(platform, text), Progress(), since())
    assert found is not None
    assert found.remote_id == posts(sandbox, platform)[0]["id"]


def test_dropped_after_post_is_ambiguous_and_found(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], drop="after")])
    text = "The connection drops after this is posted."
    with pytest.raises(Ambiguous):
        adapter(platform, sandbox).publish(draft(platform, text), Progress())
    [post] = posts(sandbox, platform)
    if not assert_can_look_up(platform, sandbox, text):
        return
    found = adapter(platform, sandbox).find(draft(platform, text), Progress(), since())
    assert found is not None and found.remote_id == post["id"] and found.url == post["url"]


def test_dropped_before_post_is_ambiguous_and_absent(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], drop="before")])
    text = "The connection drops before this is posted."
    with pytest.raises(Ambiguous):
        adapter(platform, sandbox).publish(draft(platform, text), Progress())
    assert posts(sandbox, platform) == []
    if assert_can_look_up(platform, sandbox, text):
        assert adapter(platform, sandbox).find(draft(platform, text), Progress(), since()) is None


def test_garbled_success_body_is_ambiguous(platform: str, sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=PUBLISH_PATH[platform], garbage=True)])
    with pytest.raises(Ambiguous):
        adapter(platform, sandbox).publish(draft(platform, "Garbled answer."), Progress())
    assert len(posts(sandbox, platform)) == 1


def test_find_ignores_other_posts(platform: str, sandbox: Sandbox) -> None:
    adapter(platform, sandbox).publish(draft(platform, "Something else entirely."), Progress())
    if assert_can_look_up(platform, sandbox, "The post we look for."):
        assert adapter(platform, sandbox).find(draft(platform, "The post we look for."), Progress(), since()) is None


# ---------------------------------------------------------------- credentials check


def test_verify_names_the_account(platform: str, sandbox: Sandbox) -> None:
    who = adapter(platform, sandbox).verify()
    assert isinstance(who, str) and who
    for secret in SECRETS:
        assert secret not in who


def test_verify_with_a_bad_token_fails_readably(platform: str, sandbox: Sandbox) -> None:
    key = token_key(platform)
    with pytest.raises(AuthError) as caught:
        adapter(platform, sandbox, credentials={key: "EXPIRED-token-abcdef0123456789"}).verify()
    assert "EXPIRED-token-abcdef0123456789" not in str(caught.value)
    assert_no_secret(caught.value)


# ---------------------------------------------------------------- helpers


def assert_can_look_up(platform: str, sandbox: Sandbox, text: str) -> bool:
    """True when the platform can look posts up; else proves that ``find`` says so (never a guess)."""
    if spec_for(platform).can_look_up:
        return True
    with pytest.raises(LookupUnavailable) as caught:
        adapter(platform, sandbox).find(draft(platform, text), Progress(), since())
    assert caught.value.message
    return False


class socket_closed_port:
    """A loopback port with nothing listening (bound then closed)."""

    def __enter__(self) -> int:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return int(self.port)

    def __exit__(self, *exc: object) -> None:
        return None


def _wait_for_posts(sandbox: Sandbox, platform: str, count: int, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(posts(sandbox, platform)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{platform}: expected {count} posts, have {len(posts(sandbox, platform))}")
