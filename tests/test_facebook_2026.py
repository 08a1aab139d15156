"""Graph as it stands in December 2026: ``appsecret_proof`` for apps that require it, no WebP photos.

Real facebook-sdk over real HTTP against the Graph emulator, which refuses a call without a valid
proof when its ``app_secret`` is set (Meta's "Require App Secret"), as Graph does.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage

from crosspost.adapters.base import AuthError, LookupUnavailable, Rejected
from crosspost.adapters.transport import new_session
from crosspost.config import AccountConfig, load_config, loose_permissions_warning
from crosspost.model import Draft, Image, Progress
from crosspost.platforms.facebook.adapter import FacebookAdapter, appsecret_proof
from crosspost.platforms.facebook.emulator import FacebookEmulator
from crosspost.sandbox import CREDENTIALS
from crosspost.sandbox.core import Sandbox

PAGE_ID = CREDENTIALS["facebook"]["page_id"]
TOKEN = "EAAproofPageTokenQw12"
APP_SECRET = "5ecret0fTheApp9f3b"
OTHER_SECRET = "n0tTheAppsSecret77"


@pytest.fixture(scope="module")
def emulator() -> FacebookEmulator:
    return FacebookEmulator(page_id=PAGE_ID, page_access_token=TOKEN)


@pytest.fixture(scope="module")
def sandbox(emulator: FacebookEmulator) -> Iterator[Sandbox]:
    box = Sandbox([emulator])
    box.start()
    yield box
    box.stop()


@pytest.fixture(autouse=True)
def _fresh(sandbox: Sandbox, emulator: FacebookEmulator) -> None:
    sandbox.reset()
    emulator.app_secret = APP_SECRET  # the app requires the proof, unless a test says otherwise


def adapter(sandbox: Sandbox, app_secret: str | None = APP_SECRET) -> FacebookAdapter:
    creds = {"page_access_token": TOKEN, **({"app_secret": app_secret} if app_secret else {})}
    account = AccountConfig(name="fb", platform="facebook", credentials=creds, page_id=PAGE_ID, api_base=sandbox.url)
    return FacebookAdapter(account, new_session("facebook", sandbox.url, 5.0))


def draft(text: str = "Proven post", images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account="fb", platform="facebook", parts=(text,), images=images, key="k-proof")


def picture(folder: Path, name: str, fmt: str) -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 6), "green").save(buffer, fmt)
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return Image(path, "A flag", hashlib.sha256(buffer.getvalue()).hexdigest(), f"image/{fmt.lower()}")


def no_secret_in(*texts: str) -> None:
    proof = appsecret_proof(TOKEN, APP_SECRET)
    for text in texts:
        assert APP_SECRET not in text and TOKEN not in text and proof not in text


def test_the_proof_is_graphs_hmac_sha256_in_hex() -> None:
    assert appsecret_proof(TOKEN, APP_SECRET) == hmac.new(APP_SECRET.encode(), TOKEN.encode(), "sha256").hexdigest()


def test_every_call_carries_the_proof(sandbox: Sandbox, tmp_path: Path) -> None:
    """Photo uploads, the post, verify's three reads and find's feed read all pass an app that requires it."""
    fb = adapter(sandbox)
    progress = Progress()
    receipt = fb.publish(draft(images=(picture(tmp_path, "a.png", "PNG"),)), progress)
    assert sandbox.state()["facebook"]["posts"][0]["id"] == receipt.remote_id
    assert fb.verify().endswith(f"(page {PAGE_ID})")
    assert fb.find(draft(images=()), Progress(), datetime.now(UTC) - timedelta(minutes=5)) is None
    assert {r["outcome"] for r in sandbox.requests} == {200}


def test_missing_proof_is_an_auth_error_with_the_fix(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # urllib3 at DEBUG prints every URL, the GET token included (as before)
    with pytest.raises(AuthError) as caught:
        adapter(sandbox, app_secret=None).publish(draft(), Progress())
    message = caught.value.message
    assert caught.value.code == "100" and "appsecret_proof" in message
    assert 'app_secret = "${FACEBOOK_APP_SECRET}"' in message and "[accounts.fb]" in message
    assert sandbox.state()["facebook"]["posts"] == []
    no_secret_in(message, caplog.text)


def test_wrong_app_secret_says_which_secret_to_copy(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # urllib3 at DEBUG prints every URL, the GET token included (as before)
    with pytest.raises(AuthError) as caught:
        adapter(sandbox, app_secret=OTHER_SECRET).verify()
    message = caught.value.message
    assert "is not the secret of the app that issued the Page token" in message
    assert OTHER_SECRET not in message and appsecret_proof(TOKEN, OTHER_SECRET) not in message
    no_secret_in(message, caplog.text)


def test_accounts_check_says_to_add_the_app_secret(sandbox: Sandbox) -> None:
    with pytest.raises(AuthError, match=r'add app_secret = "\$\{FACEBOOK_APP_SECRET\}" to \[accounts\.fb\]'):
        adapter(sandbox, app_secret=None).verify()


def test_a_look_up_refused_for_the_proof_cannot_settle(sandbox: Sandbox) -> None:
    with pytest.raises(LookupUnavailable, match="appsecret_proof"):
        adapter(sandbox, app_secret=None).find(draft(), Progress(), datetime.now(UTC) - timedelta(minutes=5))


def test_an_app_that_does_not_require_it_takes_the_proof_or_none(sandbox: Sandbox, emulator: FacebookEmulator) -> None:
    emulator.app_secret = None
    adapter(sandbox).publish(draft("with proof"), Progress())
    adapter(sandbox, app_secret=None).publish(draft("without"), Progress())
    assert [p["text"] for p in sandbox.state()["facebook"]["posts"]] == ["with proof", "without"]


def test_webp_is_refused_as_graph_documents(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(Rejected) as caught:
        adapter(sandbox).publish(draft(images=(picture(tmp_path, "a.webp", "WEBP"),)), Progress())
    assert caught.value.code == "324" and "JPEG, BMP, PNG, GIF or TIFF" in caught.value.message
    assert sandbox.state()["facebook"]["posts"] == []


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "a.jpg"), ("BMP", "a.bmp"), ("GIF", "a.gif"), ("TIFF", "a.tif")])
def test_documented_formats_are_taken(sandbox: Sandbox, tmp_path: Path, fmt: str, name: str) -> None:
    adapter(sandbox).publish(draft(f"A {fmt}", images=(picture(tmp_path, name, fmt),)), Progress())
    [post] = sandbox.state()["facebook"]["posts"]
    assert len(post["images"]) == 1


def test_expired_graph_versions_are_refused(sandbox: Sandbox) -> None:
    account = AccountConfig(
        name="fb",
        platform="facebook",
        credentials={"page_access_token": TOKEN, "app_secret": APP_SECRET},
        page_id=PAGE_ID,
        graph_version="v20.0",  # expired 2026-09-24
        api_base=sandbox.url,
    )
    with pytest.raises(Rejected, match="graph_version"):
        FacebookAdapter(account, new_session("facebook", sandbox.url, 5.0)).publish(draft(), Progress())


# ------------------------------------------------------------ the config key


def facebook_config(folder: Path, line: str) -> Path:
    config = folder / "crosspost.toml"
    config.write_text(
        f'[accounts.fb]\nplatform = "facebook"\npage_id = "1000000002"\npage_access_token = "${{FB_TOKEN}}"\n{line}\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def test_app_secret_is_an_optional_credential_from_the_environment(tmp_path: Path) -> None:
    env = {"FB_TOKEN": TOKEN, "FB_APP_SECRET": APP_SECRET}
    with_secret = load_config(facebook_config(tmp_path, 'app_secret = "${FB_APP_SECRET}"'), env).accounts["fb"]
    assert with_secret.credentials["app_secret"] == APP_SECRET
    assert APP_SECRET not in repr(with_secret)
    without = load_config(facebook_config(tmp_path, ""), env).accounts["fb"]
    assert "app_secret" not in without.credentials


def test_a_literal_app_secret_in_a_readable_config_is_warned_about(tmp_path: Path) -> None:
    config = facebook_config(tmp_path, f'app_secret = "{APP_SECRET}"')
    config.chmod(0o644)
    warning = loose_permissions_warning(config, tomllib.loads(config.read_text()))
    assert warning is not None and "accounts.fb.app_secret" in warning and APP_SECRET not in warning
