"""The Facebook adapter: the real facebook-sdk over real HTTP against the Graph emulator."""

from __future__ import annotations

import hashlib
import io
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from crosspost.adapters.base import (
    Ambiguous,
    AuthError,
    LookupUnavailable,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from crosspost.adapters.facebook import FacebookAdapter
from crosspost.adapters.transport import new_session
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image, Progress
from crosspost.sandbox import CREDENTIALS
from crosspost.sandbox.core import Fault, Sandbox
from crosspost.sandbox.facebook import FacebookEmulator

PAGE_ID = CREDENTIALS["facebook"]["page_id"]
TOKEN = "EAAtestDistinctivePageTokenZq81"
OTHER_TOKEN = "EAAwrongDistinctiveTokenXy77"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox([FacebookEmulator(page_id=PAGE_ID, page_access_token=TOKEN)])
    box.start()
    yield box
    box.stop()


@pytest.fixture(autouse=True)
def clean(sandbox: Sandbox) -> None:
    sandbox.reset()


def make_adapter(base: str, *, token: str = TOKEN, version: str = "v24.0", timeout: float = 5.0) -> FacebookAdapter:
    account = AccountConfig(
        name="fb",
        platform="facebook",
        credentials={"page_access_token": token},
        page_id=PAGE_ID,
        graph_version=version,
        api_base=base,
    )
    return FacebookAdapter(account, new_session("facebook", base, timeout))


@pytest.fixture
def adapter(sandbox: Sandbox) -> FacebookAdapter:
    return make_adapter(sandbox.url)


def draft(text: str = "Hello from the embassy", *, link: str | None = None, images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account="fb", platform="facebook", parts=(text,), images=images, link=link, key="k1")


def image(tmp_path: Path, name: str, color: str, alt: str = "") -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 6), color).save(buffer, "PNG")
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return Image(path, alt, hashlib.sha256(buffer.getvalue()).hexdigest(), "image/png")


def posts(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.state()["facebook"]["posts"]


def paths(sandbox: Sandbox, method: str = "") -> list[str]:
    return [r["path"] for r in sandbox.requests if not method or r["method"] == method]


# ------------------------------------------------------------ publishing


def test_text_post(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    progress = Progress()
    receipt = adapter.publish(draft(), progress)
    [post] = posts(sandbox)
    assert receipt.remote_id == post["id"] and receipt.remote_id.startswith(f"{PAGE_ID}_")
    assert receipt.url == f"https://www.facebook.com/{receipt.remote_id}" == post["url"]
    assert post["text"] == "Hello from the embassy" and post["link"] is None and post["images"] == []
    assert progress.parts == [receipt.remote_id]
    assert paths(sandbox) == [f"/v24.0/{PAGE_ID}/feed"]


def test_link_goes_in_graph_link(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    adapter.publish(draft("News: https://example.org/news/75", link="https://example.org/news/75"), Progress())
    assert posts(sandbox)[0]["link"] == "https://example.org/news/75"


def test_images_with_alt_in_one_post(sandbox: Sandbox, adapter: FacebookAdapter, tmp_path: Path) -> None:
    a = image(tmp_path, "a.png", "red", "The signing in Moscow, 1949")
    b = image(tmp_path, "b.png", "blue")
    progress = Progress()
    receipt = adapter.publish(
        draft("Two photos https://example.org", link="https://example.org", images=(a, b)), progress
    )
    [post] = posts(sandbox)
    assert post["id"] == receipt.remote_id
    assert post["images"] == [
        {"sha256": a.sha256, "alt": "The signing in Moscow, 1949"},
        {"sha256": b.sha256, "alt": None},
    ]
    # With photos the link stays in the text: a feed post cannot carry both.
    assert post["link"] is None and "https://example.org" in post["text"]
    assert set(progress.media) == {a.sha256, b.sha256}


def test_retry_reuses_uploaded_photos(sandbox: Sandbox, adapter: FacebookAdapter, tmp_path: Path) -> None:
    a = image(tmp_path, "a.png", "green", "alt")
    progress = Progress()
    sandbox.add_faults([Fault(path=r"/feed$", method="POST", error="rate_limit")])
    with pytest.raises(RateLimited):
        adapter.publish(draft(images=(a,)), progress)
    assert list(progress.media) == [a.sha256] and posts(sandbox) == []
    adapter.publish(draft(images=(a,)), progress)
    assert paths(sandbox).count(f"/v24.0/{PAGE_ID}/photos") == 1
    assert posts(sandbox)[0]["images"] == [{"sha256": a.sha256, "alt": "alt"}]


def test_published_progress_is_not_posted_again(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    receipt = adapter.publish(draft(), Progress(parts=[f"{PAGE_ID}_42"]))
    assert receipt.remote_id == f"{PAGE_ID}_42" and sandbox.requests == []


@pytest.mark.parametrize(
    "text", ["Посольство России: встреча в 10:00", "中朝友好条约 75周年 🎉", "한국어 텍스트\n\nсмешанный"]
)
def test_unicode_text(sandbox: Sandbox, adapter: FacebookAdapter, text: str) -> None:
    adapter.publish(draft(text), Progress())
    assert posts(sandbox)[0]["text"] == text


def test_photo_upload_with_unknown_outcome_is_ambiguous(
    sandbox: Sandbox, adapter: FacebookAdapter, tmp_path: Path
) -> None:
    a = image(tmp_path, "a.png", "red")
    sandbox.add_faults([Fault(path=r"/photos$", drop="after")])
    with pytest.raises(Ambiguous):  # the post depends on the upload: look before resending
        adapter.publish(draft(images=(a,)), Progress())
    assert posts(sandbox) == []


def test_not_an_image_is_rejected(sandbox: Sandbox, adapter: FacebookAdapter, tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"not an image at all")
    with pytest.raises(Rejected) as caught:
        adapter.publish(draft(images=(Image(path, "", "abc", "image/jpeg"),)), Progress())
    assert caught.value.code == "324"


# ------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kind", "error_type", "code"),
    [
        ("auth", AuthError, "190"),
        ("permission", AuthError, "200"),
        ("duplicate", Rejected, "506"),
        ("server", Ambiguous, "2"),
        ("bad_request", Rejected, "100"),
    ],
)
def test_error_kinds(
    sandbox: Sandbox, adapter: FacebookAdapter, kind: str, error_type: type[PlatformError], code: str
) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", error=kind)])
    with pytest.raises(error_type) as caught:
        adapter.publish(draft(), Progress())
    assert type(caught.value) is error_type and caught.value.code == code
    assert TOKEN not in str(caught.value)
    if kind == "duplicate":
        assert isinstance(caught.value, Rejected) and caught.value.duplicate
    if kind == "permission":
        assert "pages_manage_posts" in str(caught.value)


def test_rate_limit_carries_reset_time(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", error="rate_limit", reset_in=600)])
    with pytest.raises(RateLimited) as caught:
        adapter.publish(draft(), Progress())
    assert caught.value.code == "80001" and caught.value.reset_at is not None
    assert timedelta(minutes=9) < caught.value.reset_at - datetime.now(UTC) <= timedelta(minutes=10)


def test_real_duplicate_is_reported(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    adapter.publish(draft("Same words"), Progress())
    with pytest.raises(Rejected) as caught:
        adapter.publish(draft("Same words"), Progress())
    assert caught.value.duplicate and len(posts(sandbox)) == 1


def test_temporary_block_waits_long(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    body = json.dumps(
        {
            "error": {
                "message": "It looks like you were misusing this feature",
                "type": "OAuthException",
                "code": 368,
                "fbtrace_id": "x",
            }
        }
    )
    sandbox.add_faults([Fault(path=r"/feed$", status=400, body=body, headers={"Content-Type": "application/json"})])
    with pytest.raises(Transient) as caught:
        adapter.publish(draft(), Progress())
    assert caught.value.code == "368" and caught.value.retry_after == 3600


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type"),
    [
        (502, "<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"}, Ambiguous),
        (500, '{"oops": true}', {"Content-Type": "application/json"}, Ambiguous),
        (403, "<html>Forbidden</html>", {"Content-Type": "text/html"}, AuthError),
        (200, "<html>a proxy page</html>", {"Content-Type": "text/html"}, Ambiguous),
        (200, '{"id": "1"}', {"X-No-Content-Type": "1"}, Ambiguous),
    ],
)
def test_replies_that_are_not_graph_json(
    sandbox: Sandbox,
    adapter: FacebookAdapter,
    status: int,
    body: str,
    headers: dict[str, str],
    error_type: type[PlatformError],
) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", status=status, body=body, headers=headers)])
    with pytest.raises(error_type):
        adapter.publish(draft(), Progress())


def test_old_graph_version_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(Rejected) as caught:
        make_adapter(sandbox.url, version="v17.0").publish(draft(), Progress())
    assert caught.value.code == "2635" and "graph_version" in str(caught.value)


def test_invalid_token(sandbox: Sandbox) -> None:
    with pytest.raises(AuthError) as caught:
        make_adapter(sandbox.url, token=OTHER_TOKEN).publish(draft(), Progress())
    assert caught.value.code == "190" and OTHER_TOKEN not in str(caught.value)


# ------------------------------------------------------------ ambiguity and find()


def test_read_timeout_is_ambiguous(sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", delay=1.0)])
    with pytest.raises(Ambiguous):
        make_adapter(sandbox.url, timeout=0.3).publish(draft(), Progress())


def test_drop_before_is_ambiguous_and_nothing_posted(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", drop="before")])
    since = datetime.now(UTC)
    with pytest.raises(Ambiguous):
        adapter.publish(draft(), Progress())
    assert posts(sandbox) == [] and adapter.find(draft(), Progress(), since) is None


@pytest.mark.parametrize(
    "fault", [Fault(path=r"/feed$", method="POST", drop="after"), Fault(path=r"/feed$", method="POST", garbage=True)]
)
def test_lost_answer_is_ambiguous_and_found(sandbox: Sandbox, adapter: FacebookAdapter, fault: Fault) -> None:
    adapter.publish(draft("An older post"), Progress())
    since = datetime.now(UTC)
    sandbox.add_faults([fault])
    with pytest.raises(Ambiguous) as caught:
        adapter.publish(draft("Посол вручил верительные грамоты"), Progress())
    assert TOKEN not in str(caught.value)
    made = posts(sandbox)[-1]
    found = adapter.find(draft("Посол вручил верительные грамоты"), Progress(), since)
    assert found is not None and found.remote_id == made["id"] and found.url == made["url"]
    assert f"/v24.0/{PAGE_ID}/feed" in paths(sandbox, "GET")


def test_find_returns_none_when_absent(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    adapter.publish(draft("Something else"), Progress())
    assert adapter.find(draft("Not posted"), Progress(), datetime.now(UTC) - timedelta(minutes=5)) is None


def test_find_pages_through_a_busy_feed(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    since = datetime.now(UTC)
    adapter.publish(draft("The one"), Progress())
    for i in range(30):
        adapter.publish(draft(f"Filler {i}"), Progress())
    found = adapter.find(draft("The one"), Progress(), since)
    assert found is not None and found.remote_id == posts(sandbox)[0]["id"]


def test_find_without_read_permission_is_unavailable(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", method="GET", error="permission")])
    with pytest.raises(LookupUnavailable) as caught:
        adapter.find(draft(), Progress(), datetime.now(UTC))
    assert "pages_read_engagement" in str(caught.value)


# ------------------------------------------------------------ verify and secrets


def test_verify_ok(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    assert adapter.verify() == f"crosspost sandbox Page (page {PAGE_ID})"
    assert all(r["method"] == "GET" for r in sandbox.requests)


def test_verify_bad_token(sandbox: Sandbox) -> None:
    with pytest.raises(AuthError) as caught:
        make_adapter(sandbox.url, token=OTHER_TOKEN).verify()
    assert "page_access_token" in str(caught.value) and OTHER_TOKEN not in str(caught.value)


def test_verify_warns_without_feed_permission(sandbox: Sandbox, adapter: FacebookAdapter) -> None:
    sandbox.add_faults([Fault(path=r"/feed$", method="GET", error="permission")])
    assert "pages_read_engagement" in adapter.verify()


def test_connection_refused_is_transient_and_hides_the_token() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = make_adapter(f"http://127.0.0.1:{port}")
    with pytest.raises(Transient) as caught:
        dead.find(draft(), Progress(), datetime.now(UTC))  # a GET: the token rides in the URL
    assert not isinstance(caught.value, Ambiguous) and TOKEN not in str(caught.value)
    with pytest.raises(Transient) as caught:
        dead.verify()
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value.args)
