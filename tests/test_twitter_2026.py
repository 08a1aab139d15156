"""X as it stands in December 2026, through tweepy and our media upload against the X emulator.

Each rule here is one the emulator enforces as X documents it (OpenAPI 2.167, the changelog, the
pricing page): the one-shot upload's fields, a required text, 402 and the monthly usage cap, the
24-hour posting caps, refused thread replies, api.x.com, and an account that leaves links out.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import test_twitter_adapter
import tweepy
from click.testing import CliRunner
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import AuthError, LookupUnavailable, RateLimited, Rejected
from crosspost.adapters.transport import new_session
from crosspost.cli import cli
from crosspost.config import AccountConfig, load_config
from crosspost.demo import demo_config
from crosspost.model import Content, Draft, Image, Progress
from crosspost.platforms.twitter.adapter import TwitterAdapter
from crosspost.platforms.twitter.emulator import TwitterEmulator
from crosspost.platforms.twitter.emulator_oauth import OAuthVerifier
from crosspost.platforms.twitter.errors import NO_CREDITS
from crosspost.platforms.twitter.spec import SPEC
from crosspost.sandbox import CREDENTIALS, Fault, Sandbox
from crosspost.sandbox.core import SandboxRequest

CREDS = CREDENTIALS["twitter"]
TWEETS = r"^/2/tweets$"
# The X adapter tests' fixtures: one emulator and sandbox for the module, reset before each test.
emulator, sandbox, _fresh = test_twitter_adapter.emulator, test_twitter_adapter.sandbox, test_twitter_adapter._fresh


def adapter(sandbox: Sandbox, **options: object) -> TwitterAdapter:
    account = AccountConfig(name="x", platform="twitter", credentials=CREDS, api_base=sandbox.url, options=options)
    made = adapter_for(account, 5.0)
    assert isinstance(made, TwitterAdapter)
    return made


def draft(*parts: str, images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account="x", platform="twitter", parts=parts, images=images, key="crosspost-9-x")


def picture(folder: Path, name: str = "a.png") -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 6), "navy").save(buffer, "PNG")
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return Image(path, "", "", "image/png")


def signed_session(sandbox: Sandbox) -> tuple[requests.Session, Any]:
    return new_session("twitter", sandbox.url, 5.0), tweepy.OAuth1UserHandler(*CREDS.values()).apply_auth()


def posts(emulator: TwitterEmulator) -> list[dict[str, object]]:
    return list(emulator.state()["posts"])


# ---------------------------------------------------------------- the one-shot upload


def test_the_one_shot_upload_refuses_a_field_the_schema_does_not_list(sandbox: Sandbox) -> None:
    session, auth = signed_session(sandbox)
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(buffer, "PNG")
    files = {"media": ("image", buffer.getvalue(), "image/png")}
    refused = session.post(
        "https://api.x.com/2/media/upload",
        files=files,
        data={"media_category": "tweet_image", "media_type": "image/png"},
        auth=auth,
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["parameters"] == {"media_type": [""]}
    taken = session.post(
        "https://api.x.com/2/media/upload", files=files, data={"media_category": "tweet_image"}, auth=auth
    )
    assert taken.status_code == 200 and taken.json()["data"]["id"]


def test_the_adapter_uploads_with_the_listed_fields_only(
    sandbox: Sandbox, emulator: TwitterEmulator, tmp_path: Path
) -> None:
    adapter(sandbox).publish(draft("With a photo.", images=(picture(tmp_path),)), Progress())
    [post] = posts(emulator)
    assert post["text"] == "With a photo." and len(post["images"]) == 1  # type: ignore[arg-type]


# ---------------------------------------------------------------- text is required


def test_the_emulator_refuses_a_tweet_without_text(sandbox: Sandbox, tmp_path: Path) -> None:
    session, auth = signed_session(sandbox)
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4)).save(buffer, "PNG")
    upload = session.post(
        "https://api.x.com/2/media/upload",
        files={"media": ("image", buffer.getvalue(), "image/png")},
        data={"media_category": "tweet_image"},
        auth=auth,
    )
    media_id = upload.json()["data"]["id"]
    refused = session.post("https://api.x.com/2/tweets", json={"media": {"media_ids": [media_id]}}, auth=auth)
    assert refused.status_code == 400 and "text" in refused.json()["errors"][0]["parameters"]


def test_an_image_only_post_is_refused_before_anything_is_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(Rejected, match="X refuses a post without text"):
        adapter(sandbox).publish(draft("", images=(picture(tmp_path),)), Progress())
    assert sandbox.requests == []  # not even the upload: it would cost credits for nothing


def write_config(folder: Path, extra: str = "") -> Path:
    config = folder / "crosspost.toml"
    text = demo_config("http://127.0.0.1:9").replace(
        '[accounts.twitter]\nplatform = "twitter"\n', '[accounts.twitter]\nplatform = "twitter"\n' + extra
    )
    config.write_text(text, encoding="utf-8")
    config.chmod(0o600)
    (folder / "posts" / "media").mkdir(parents=True)
    return config


def validate(folder: Path, config: Path, post: str) -> tuple[int, str]:
    path = folder / "posts" / "p.md"
    path.write_text(post, encoding="utf-8")
    PILImage.new("RGB", (8, 6)).save(folder / "posts" / "media" / "a.png")
    result = CliRunner().invoke(cli, ["--config", str(config), "validate", str(path)])
    return result.exit_code, result.output


def test_validate_says_an_image_only_x_post_needs_text(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, output = validate(
        tmp_path, config, '+++\nto = ["twitter"]\nimages = [{ path = "media/a.png", alt = "A flag" }]\n+++\n'
    )
    assert code == 1
    line = next(line for line in output.splitlines() if "images only" in line)
    assert line.startswith(f"{tmp_path / 'posts' / 'p.md'}:") and 'account "twitter" needs a text' in line


# ---------------------------------------------------------------- billing and caps


def test_no_credits_fails_at_once_with_the_fix(sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=TWEETS, method="POST", error="no_credits")])
    with pytest.raises(AuthError) as caught:
        adapter(sandbox).publish(draft("Paid for?"), Progress())
    assert caught.value.message.startswith(NO_CREDITS) and caught.value.code == "402"
    assert NO_CREDITS == (
        "X: no API credits left on this account (HTTP 402): add credits in the developer console, "
        "then `crosspost retry ID`"
    )


def test_the_monthly_usage_cap_is_lasting_not_a_rate_limit(sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=TWEETS, method="POST", error="usage_cap")])
    with pytest.raises(AuthError) as caught:
        adapter(sandbox).publish(draft("Capped?"), Progress())
    assert not isinstance(caught.value, RateLimited)
    assert "usage cap is used up" in caught.value.message and "Monthly" in caught.value.message


def test_a_spent_24_hour_cap_waits_for_its_reset_not_the_15_minute_one(sandbox: Sandbox) -> None:
    sandbox.add_faults([Fault(path=TWEETS, method="POST", error="daily_cap", reset_in=60)])
    with pytest.raises(RateLimited) as caught:
        adapter(sandbox).publish(draft("Too many today"), Progress())
    assert caught.value.reset_at is not None
    assert caught.value.reset_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_24_hour_cap_with_room_left_does_not_hold_the_post_back(sandbox: Sandbox) -> None:
    soon = int(time.time()) + 60
    headers = {
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(soon),
        "x-user-limit-24hour-remaining": "12",
        "x-user-limit-24hour-reset": str(soon + 86000),
    }
    sandbox.add_faults(
        [Fault(path=TWEETS, method="POST", status=429, headers=headers, body='{"title":"Too Many Requests"}')]
    )
    with pytest.raises(RateLimited) as caught:
        adapter(sandbox).publish(draft("Too many now"), Progress())
    assert caught.value.reset_at == datetime.fromtimestamp(soon, UTC)


# ---------------------------------------------------------------- refused thread replies


def test_a_refused_reply_stops_the_thread_and_says_what_is_public(sandbox: Sandbox, emulator: TwitterEmulator) -> None:
    emulator.replies_allowed = False
    progress = Progress()
    with pytest.raises(Rejected) as caught:
        adapter(sandbox).publish(draft("One. 1/3", "Two. 2/3", "Three. 3/3"), progress)
    [first] = posts(emulator)
    message = caught.value.message
    assert progress.parts == [first["id"]]
    assert "the thread stopped" in message and "part 1 is already on X and public" in message
    assert f"https://x.com/sandbox_press/status/{first['id']}" in message
    assert "parts 2-3 of 3 not" in message and "2026-02-23" in message and "mentioned or quoted" in message


def test_a_refused_last_reply_names_that_part(sandbox: Sandbox, emulator: TwitterEmulator) -> None:
    sandbox.add_faults([Fault(path=TWEETS, method="POST", error="reply_refused", skip=2)])
    with pytest.raises(Rejected, match=r"parts 1-2 are already on X and public .*part 3 of 3 not"):
        adapter(sandbox).publish(draft("One. 1/3", "Two. 2/3", "Three. 3/3"), Progress())
    assert len(posts(emulator)) == 2


def test_accounts_check_warns_that_threads_may_be_refused(sandbox: Sandbox) -> None:
    assert "X may refuse thread replies" in adapter(sandbox).verify()
    assert "omit_links" not in adapter(sandbox).verify()
    assert "links are left out of its posts (omit_links)" in adapter(sandbox, omit_links=True).verify()


# ---------------------------------------------------------------- api.x.com and its signatures


def test_every_call_goes_to_api_x_com_signed_for_it(sandbox: Sandbox, tmp_path: Path) -> None:
    made = adapter(sandbox)
    hosts: list[str] = []
    made.session.hooks["response"].append(lambda r, *a, **k: hosts.append(r.request.headers["X-Forwarded-Host"]))
    made.publish(draft("Long thread part. 1/2", "And its end. 2/2", images=(picture(tmp_path),)), Progress())
    made.verify()
    made.find(draft("absent"), Progress(), datetime.now(UTC) - timedelta(minutes=1))
    assert len(hosts) >= 5 and set(hosts) == {"api.x.com"}


def request_to(host: str, signed_for: str) -> SandboxRequest:
    auth = tweepy.OAuth1UserHandler(*CREDS.values()).apply_auth()
    prepared = requests.Request("GET", f"https://{signed_for}/2/users/me", auth=auth).prepare()
    return SandboxRequest(
        "GET",
        "/2/users/me",
        {},
        {"authorization": str(prepared.headers["Authorization"]), "host": "127.0.0.1:8080", "x-forwarded-host": host},
        b"",
        "127.0.0.1:8080",
    )


def test_the_emulator_checks_the_signature_for_the_host_it_received() -> None:
    verifier = OAuthVerifier(*CREDS.values())
    assert verifier.check(request_to("api.x.com", "api.x.com")) is None
    assert verifier.check(request_to("api.twitter.com", "api.twitter.com")) is None
    assert "signature mismatch" in str(verifier.check(request_to("api.x.com", "api.twitter.com")))
    assert "not one of X's" in str(verifier.check(request_to("", "api.x.com")))  # Host 127.0.0.1:8080 then


# ---------------------------------------------------------------- omit_links


def account(**options: object) -> AccountConfig:
    return AccountConfig(name="x", platform="twitter", credentials=CREDS, options=options)


def test_omit_links_leaves_the_posts_link_out() -> None:
    content = Content(body="The agreement turns 75.", link="https://example.org/news/75", tags=("DPRK",))
    assert SPEC.render_parts(account(), content) == ["The agreement turns 75.\n\nhttps://example.org/news/75 #DPRK"]
    assert SPEC.render_parts(account(omit_links=True), content) == ["The agreement turns 75. #DPRK"]


def test_omit_links_makes_a_link_in_the_text_a_validate_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "omit_links = true\n")
    post = '+++\nto = ["twitter"]\nlink = "https://example.org/a"\n+++\nRead https://example.org/b today.\n'
    code, output = validate(tmp_path, config, post)
    assert code == 1
    assert "omit_links = true, but its text shows https://example.org/b" in output
    assert "https://example.org/a" not in output  # the post's link is left out, not reported
    fine = '+++\nto = ["twitter"]\nlink = "https://example.org/a"\n+++\nRead it today.\n'
    assert validate(tmp_path, config, fine)[0] == 0


def test_omit_links_must_be_a_boolean(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'omit_links = "yes"\n')
    with pytest.raises(Exception, match=r"accounts\.twitter\.omit_links: must be true or false"):
        load_config(config, {})


@pytest.mark.parametrize("error", ["no_credits", "usage_cap"])
def test_a_look_up_refused_for_billing_cannot_settle(sandbox: Sandbox, error: str) -> None:
    sandbox.add_faults([Fault(path=r"^/2/users/\d+/tweets$", method="GET", error=error)])
    with pytest.raises(LookupUnavailable, match="no API credits left, or the usage cap is used up"):
        adapter(sandbox).find(draft("Was it posted?"), Progress(), datetime.now(UTC) - timedelta(minutes=1))
