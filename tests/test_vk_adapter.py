"""VkAdapter against the VK emulator: the real vk_api over real HTTP on 127.0.0.1.

Nothing in the code under test is patched: faults are injected by the sandbox
server (errors in VK's own shape, delays, dropped connections, garbled bodies).
"""

from __future__ import annotations

import hashlib
import io
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import (
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
from crosspost.platforms.vk.adapter import VkAdapter
from crosspost.platforms.vk.emulator import VkEmulator
from crosspost.sandbox import CREDENTIALS
from crosspost.sandbox.core import Fault, Sandbox

TOKEN = "vk1.a.Zq9-DISTINCT-vk-secret-7731"
GROUP = int(CREDENTIALS["vk"]["group_id"])


@dataclass
class Env:
    sandbox: Sandbox
    emulator: VkEmulator
    url: str

    def adapter(self, token: str = TOKEN, timeout: float = 5.0, api_version: str = "5.199") -> VkAdapter:
        account = AccountConfig(
            name="vk",
            platform="vk",
            credentials={"access_token": token},
            group_id=GROUP,
            api_version=api_version,
            api_base=self.url,
        )
        adapter = adapter_for(account, timeout)
        assert isinstance(adapter, VkAdapter)
        return adapter

    def posts(self) -> list[dict]:
        return self.emulator.state()["posts"]

    def hits(self, fragment: str) -> int:
        time.sleep(0.05)  # the server logs a request just after answering it
        return sum(1 for r in self.sandbox.requests if fragment in r["path"])


@pytest.fixture(scope="module")
def server() -> Iterator[Env]:
    emulator = VkEmulator(**{**CREDENTIALS["vk"], "access_token": TOKEN})
    sandbox = Sandbox([emulator])
    url = sandbox.start()
    yield Env(sandbox, emulator, url)
    sandbox.stop()


@pytest.fixture
def env(server: Env) -> Env:
    server.sandbox.reset()
    return server


def settle(done: Callable[[], object]) -> None:
    """Wait until a delayed request has run on the server, so it cannot leak into the next test."""
    for _ in range(200):
        if done():
            return
        time.sleep(0.01)


def make_image(folder: Path, name: str, color: str, alt: str = "") -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (24, 16), color).save(buffer, "PNG")
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return Image(path=path, alt=alt, sha256=hashlib.sha256(buffer.getvalue()).hexdigest(), mime="image/png")


def draft(text: str = "Hello from crosspost", images: tuple[Image, ...] = (), key: str = "d-1") -> Draft:
    return Draft(account="vk", platform="vk", parts=(text,), images=images, key=key)


def no_secret(exc: BaseException) -> None:
    assert TOKEN not in str(exc)
    assert TOKEN not in getattr(exc, "message", "")


# ------------------------------------------------------------ publishing


def test_text_post(env: Env) -> None:
    progress = Progress()
    receipt = env.adapter().publish(draft(), progress)
    assert receipt.remote_id == f"-{GROUP}_1"
    assert receipt.url == f"https://vk.com/wall-{GROUP}_1"
    assert receipt.part_ids == (receipt.remote_id,)
    assert progress.parts == [receipt.remote_id]
    [post] = env.posts()
    assert post["id"] == receipt.remote_id and post["url"] == receipt.url
    assert post["text"] == "Hello from crosspost" and post["images"] == [] and post["reply_to"] is None
    assert post["from_id"] == -GROUP  # as the community


def test_images_one_upload_each_and_alt_dropped(env: Env, tmp_path: Path) -> None:
    images = (make_image(tmp_path, "a.png", "red", "Red square"), make_image(tmp_path, "b.png", "blue", "Blue"))
    progress = Progress()
    started = time.monotonic()
    env.adapter().publish(draft("Two pictures", images), progress)
    assert time.monotonic() - started < 1.0  # five API calls: vk_api's 0.34 s pacing would show
    [post] = env.posts()
    assert [i["sha256"] for i in post["images"]] == [i.sha256 for i in images]
    assert all(i["alt"] is None for i in post["images"])  # VK has no alt text
    assert env.hits("/upload/vk/") == 2
    assert set(progress.media) == {i.sha256 for i in images}
    assert all(v.startswith(f"photo-{GROUP}_") for v in progress.media.values())


def test_retry_reuses_uploaded_photos(env: Env, tmp_path: Path) -> None:
    images = (make_image(tmp_path, "a.png", "red"), make_image(tmp_path, "b.png", "green"))
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="server")])
    progress = Progress()
    adapter = env.adapter()
    with pytest.raises(Transient):
        adapter.publish(draft("Photos", images), progress)
    assert len(progress.media) == 2 and env.posts() == []
    adapter.publish(draft("Photos", images), progress)
    assert env.hits("/upload/vk/") == 2  # not uploaded again
    assert len(env.posts()[0]["images"]) == 2


def test_eleven_images_rejected_before_any_request(env: Env, tmp_path: Path) -> None:
    image = make_image(tmp_path, "a.png", "red")
    with pytest.raises(Rejected):
        env.adapter().publish(draft("Many", (image,) * 11), Progress())
    assert env.sandbox.requests == []


def test_link_cyrillic_and_cjk_text(env: Env) -> None:
    text = "75 лет Соглашению об экономическом и культурном сотрудничестве 🇷🇺\n\n朝鲜 조선\nhttps://example.org/news/75"
    receipt = env.adapter().publish(draft(text), Progress())
    [post] = env.posts()
    assert post["text"] == text and post["id"] == receipt.remote_id


def test_guid_makes_a_resend_idempotent(env: Env) -> None:
    adapter = env.adapter()
    first = adapter.publish(draft(key="same-key"), Progress())
    second = adapter.publish(draft(key="same-key"), Progress())
    assert first == second and len(env.posts()) == 1


def test_progress_with_a_part_is_not_posted_again(env: Env) -> None:
    receipt = env.adapter().publish(draft(), Progress(parts=[f"-{GROUP}_7"]))
    assert receipt.remote_id == f"-{GROUP}_7" and env.sandbox.requests == []


# ------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kind", "error_type", "code"),
    [
        ("auth", AuthError, "5"),
        ("permission", AuthError, "214"),
        ("flood", RateLimited, "9"),
        ("expired", AuthError, "1117"),
        ("rate_limit", RateLimited, "6"),
        ("bad_request", Rejected, "100"),
        ("captcha", AuthError, "14"),
    ],
)
def test_error_kinds(env: Env, kind: str, error_type: type[PlatformError], code: str) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", error=kind, times=0)])
    started = time.monotonic()
    with pytest.raises(error_type) as caught:
        env.adapter().publish(draft(), Progress())
    assert caught.value.code == code and caught.value.platform == "vk"
    assert env.hits("wall.post") == 1  # vk_api retried nothing (error 6 handler removed)
    assert time.monotonic() - started < 2  # and slept nothing
    no_secret(caught.value)


def test_server_error_is_transient_not_rate_limited(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="server")])
    with pytest.raises(Transient) as caught:
        env.adapter().publish(draft(), Progress())
    assert not isinstance(caught.value, RateLimited) and caught.value.code == "10"


def test_rate_limit_says_when_to_retry(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="rate_limit")])
    with pytest.raises(RateLimited) as caught:
        env.adapter().publish(draft(), Progress())
    assert caught.value.retry_after == 1.0


def test_captcha_message_needs_a_person(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="captcha")])
    with pytest.raises(AuthError, match="needs a person"):
        env.adapter().publish(draft(), Progress())


def test_wrong_token_and_old_api_version(env: Env) -> None:
    with pytest.raises(AuthError) as caught:
        env.adapter(token="vk1.a.wrong-token-4411").publish(draft(), Progress())
    assert caught.value.code == "5" and "vk1.a.wrong-token-4411" not in str(caught.value)
    with pytest.raises(Rejected) as old:
        env.adapter(api_version="5.92").publish(draft(), Progress())
    assert old.value.code == "8" and "5.199" in str(old.value)


def test_flood_control_on_a_post_is_a_wait_not_a_duplicate(env: Env) -> None:
    # Error 9 is "flood control": posting too often. VK documents no duplicate error; the guid makes
    # the later resend safe, so the delivery waits instead of failing or being taken for a repeat.
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="flood")])
    with pytest.raises(RateLimited) as caught:
        env.adapter().publish(draft(), Progress())
    assert not getattr(caught.value, "duplicate", False) and caught.value.retry_after == 600.0


def test_expired_token_1117_is_an_auth_error_not_a_refused_post(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", error="expired")])
    with pytest.raises(AuthError) as caught:
        env.adapter().publish(draft(), Progress())
    assert "expired" in caught.value.message and "vk_id_client_id" in caught.value.message


def test_http_5xx_on_wall_post_is_ambiguous_but_not_on_the_upload_address(env: Env, tmp_path: Path) -> None:
    # A gateway error may come after VK made the post; the guid protects a resend for an hour only.
    env.sandbox.add_faults([Fault(path="/method/wall.post", status=502, body="<html>Bad Gateway</html>")])
    with pytest.raises(Ambiguous):
        env.adapter().publish(draft(), Progress())
    # photos.getWallUploadServer only hands out an address: nothing was made.
    env.sandbox.add_faults([Fault(path="/method/photos.getWallUploadServer", status=503)])
    with pytest.raises(Transient) as caught:
        env.adapter().publish(draft(images=(make_image(tmp_path, "a.png", "red"),)), Progress())
    assert not isinstance(caught.value, Ambiguous)


# ------------------------------------------------------------ unknown outcomes


def test_read_timeout_is_ambiguous(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", delay=1.0)])
    with pytest.raises(Ambiguous) as caught:
        env.adapter(timeout=0.3).publish(draft(), Progress())
    no_secret(caught.value)
    settle(env.posts)
    assert len(env.posts()) == 1  # the slow answer did post: hence ambiguous


def test_drop_before_is_ambiguous_and_nothing_posted(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", drop="before")])
    adapter = env.adapter()
    with pytest.raises(Ambiguous):
        adapter.publish(draft(), Progress())
    assert env.posts() == []
    assert adapter.find(draft(), Progress(), datetime.now(UTC) - timedelta(seconds=5)) is None


def test_drop_after_is_ambiguous_and_find_settles_it(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", drop="after")])
    adapter = env.adapter()
    since = datetime.now(UTC)
    with pytest.raises(Ambiguous) as caught:
        adapter.publish(draft("Свежая новость"), Progress())
    no_secret(caught.value)
    [post] = env.posts()
    found = adapter.find(draft("Свежая новость"), Progress(), since)
    assert found is not None and found.remote_id == post["id"] and found.url == post["url"]


def test_garbage_body_on_wall_post_is_ambiguous(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.post", garbage=True)])
    with pytest.raises(Ambiguous):
        env.adapter().publish(draft(), Progress())
    assert len(env.posts()) == 1


def test_garbage_on_the_photo_steps(env: Env, tmp_path: Path) -> None:
    image = make_image(tmp_path, "a.png", "red")
    expected = {
        "/method/photos.getWallUploadServer": Transient,  # a read: nothing made
        "/upload/vk/": Ambiguous,  # the upload and its save are what the post depends on
        "/method/photos.saveWallPhoto": Ambiguous,
    }
    for path, kind in expected.items():
        env.sandbox.add_faults([Fault(path=path, garbage=True)])
        progress = Progress()
        with pytest.raises(PlatformError) as caught:
            env.adapter().publish(draft(images=(image,)), progress)
        assert type(caught.value) is kind and progress.media == {}
    assert env.posts() == []


def test_upload_timeout_is_ambiguous(env: Env, tmp_path: Path) -> None:
    env.sandbox.add_faults([Fault(path="/upload/vk/", delay=1.0)])
    with pytest.raises(Ambiguous):
        env.adapter(timeout=0.3).publish(draft(images=(make_image(tmp_path, "a.png", "red"),)), Progress())
    settle(lambda: env.emulator.uploads)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = AccountConfig("vk", "vk", {"access_token": TOKEN}, group_id=GROUP, api_base=f"http://127.0.0.1:{port}")
    with pytest.raises(Transient) as caught:
        adapter_for(account, 2.0).publish(draft(), Progress())
    assert not isinstance(caught.value, Ambiguous)
    no_secret(caught.value)


# ------------------------------------------------------------ find and verify


def test_find_absent_and_window(env: Env) -> None:
    adapter = env.adapter()
    adapter.publish(draft("Another post", key="k-other"), Progress())
    assert adapter.find(draft("Not posted"), Progress(), datetime.now(UTC) - timedelta(minutes=1)) is None
    # The right text but older than the window does not count.
    assert adapter.find(draft("Another post"), Progress(), datetime.now(UTC) + timedelta(hours=1)) is None
    assert adapter.find(draft("Another post"), Progress(), datetime.now(UTC) - timedelta(minutes=1)) is not None


def test_find_refused_is_lookup_unavailable(env: Env) -> None:
    env.sandbox.add_faults([Fault(path="/method/wall.get", error="permission")])
    with pytest.raises(LookupUnavailable):
        env.adapter().find(draft(), Progress(), datetime.now(UTC))


def test_verify(env: Env) -> None:
    text = env.adapter().verify()
    assert f"(club{GROUP})" in text and "posting as admin" in text and "Sandbox Admin" in text
    with pytest.raises(AuthError) as caught:
        env.adapter(token="vk1.a.expired-token-0001").verify()
    assert "scopes wall, photos, groups, offline" in str(caught.value)
    assert "vk1.a.expired-token-0001" not in str(caught.value)


def test_verify_wrong_group(env: Env) -> None:
    account = AccountConfig("vk", "vk", {"access_token": TOKEN}, group_id=42, api_base=env.url)
    with pytest.raises(AuthError, match="group_id"):
        adapter_for(account, 5.0).verify()


# ------------------------------------------------------------ the emulator itself


def call(env: Env, method: str, **params: object) -> dict:
    data = {"access_token": TOKEN, "v": "5.199", **params}
    return requests.post(f"{env.url}/method/{method}", data=data, timeout=5).json()


def test_emulator_checks_version_token_and_attachments(env: Env) -> None:
    assert call(env, "users.get", v="5.92")["error"]["error_code"] == 8
    assert call(env, "users.get", v="")["error"]["error_code"] == 8
    assert call(env, "users.get", access_token="nope")["error"]["error_code"] == 5
    refused = call(env, "wall.post", owner_id=-GROUP, from_group=1, message="x", attachments=f"photo-{GROUP}_1")
    assert refused["error"]["error_code"] == 100
    assert all(p["key"] != "access_token" for p in refused["error"]["request_params"])
    assert call(env, "wall.post", owner_id=-GROUP, from_group=1)["error"]["error_code"] == 100
    assert call(env, "wall.post", owner_id=-999, message="x")["error"]["error_code"] == 214
    assert call(env, "groups.getById", group_id=GROUP, v="5.131")["response"][0]["id"] == GROUP


def test_emulator_upload_takes_exactly_one_real_image(env: Env, tmp_path: Path) -> None:
    image = make_image(tmp_path, "a.png", "red")
    url = call(env, "photos.getWallUploadServer", group_id=GROUP)["response"]["upload_url"]
    data = image.path.read_bytes()
    two = requests.post(url, files=[("photo", ("a.png", data)), ("photo", ("b.png", data))], timeout=5).json()
    assert two["photo"] == "[]"
    assert "error" in requests.post(url, files={"photo": ("a.png", b"not an image")}, timeout=5).json()
    one = requests.post(url, files={"photo": ("a.png", data)}, timeout=5).json()
    saved = call(env, "photos.saveWallPhoto", group_id=GROUP, **one)["response"]
    assert saved[0]["owner_id"] == -GROUP
    again = call(env, "photos.saveWallPhoto", group_id=GROUP, **one)
    assert again["error"]["error_code"] == 121
    assert "data:image/png;base64," not in env.emulator.render_html()
    call(env, "wall.post", owner_id=-GROUP, from_group=1, attachments=f"photo-{GROUP}_{saved[0]['id']}")
    assert "data:image/png;base64," in env.emulator.render_html()
