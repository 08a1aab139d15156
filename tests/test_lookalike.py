"""Look-ups that do not guess: a look-alike post is never taken for ours.

Look-alikes are seeded on the emulators' walls through the sandbox's seed control
(``POST /_sandbox/seed``, here its in-process form), as if a colleague or an earlier
day had posted them. ``find`` must answer "found" only on an exact match, ``None``
only when nothing matches in a fully read window, and ``Unsettled`` otherwise.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from adapter_world import adapter, draft, fresh_fixture, picture, posts, sandbox_fixture, since

from crosspost.adapters.base import Ambiguous, LookupUnavailable, Transient, Unsettled
from crosspost.model import Progress
from crosspost.sandbox import Fault, Sandbox

__all__ = ["fresh_fixture", "sandbox_fixture"]  # fixtures, used by name
PLATFORMS = ["twitter", "facebook", "vk"]
IMAGE_ONLY = ["facebook", "vk"]  # X refuses a post without text (OpenAPI 2.167; tests/test_twitter_2026.py)


@pytest.mark.parametrize("platform", ["twitter", "vk"])
def test_two_daily_posts_that_differ_only_in_their_link(sandbox: Sandbox, platform: str) -> None:
    sandbox.seed(platform, {"text": "Today's brief: https://example.org/brief/2026-12-01"})
    wanted = draft(platform, "Today's brief: https://example.org/brief/2026-12-02")
    assert adapter(platform, sandbox).find(wanted, Progress(), since()) is None


def test_two_page_posts_that_differ_only_in_their_link_field(sandbox: Sandbox) -> None:
    # On Facebook without images the link is Graph's link field, not in the text: the message is the same.
    sandbox.seed("facebook", {"text": "Today's brief", "link": "https://example.org/brief/2026-12-01"})
    wanted = replace(draft("facebook", "Today's brief"), link="https://example.org/brief/2026-12-02")
    assert adapter("facebook", sandbox).find(wanted, Progress(), since()) is None


def test_a_page_post_without_a_link_preview_cannot_settle_a_link_post(sandbox: Sandbox) -> None:
    sandbox.seed("facebook", {"text": "Today's brief"})  # same message, no link share shown
    wanted = replace(draft("facebook", "Today's brief"), link="https://example.org/brief/2026-12-02")
    with pytest.raises(Unsettled, match="less than all"):
        adapter("facebook", sandbox).find(wanted, Progress(), since())


def test_the_real_post_is_found_among_look_alikes_by_its_link(sandbox: Sandbox) -> None:
    sandbox.seed("twitter", {"text": "Brief: https://example.org/a"})
    sandbox.add_faults([Fault(path=r"^/2/tweets$", status=503, after=True)])
    wanted = draft("twitter", "Brief: https://example.org/b")
    with pytest.raises(Exception):  # noqa: B017 - Ambiguous; what matters is what find says next
        adapter("twitter", sandbox).publish(wanted, Progress())
    ours = posts(sandbox, "twitter")[-1]
    found = adapter("twitter", sandbox).find(wanted, Progress(), since())
    assert found is not None and found.remote_id == ours["id"]


def test_a_link_written_without_its_scheme_is_found(sandbox: Sandbox) -> None:
    # X's expanded_url adds http:// to a link written as a bare domain; the comparison must allow for it.
    text = "Programme of the week on embassy.example.org/week and https://example.org/full"
    sandbox.add_faults([Fault(path=r"^/2/tweets$", status=502, after=True)])
    with pytest.raises(Ambiguous):
        adapter("twitter", sandbox).publish(draft("twitter", text), Progress())
    [made] = posts(sandbox, "twitter")
    found = adapter("twitter", sandbox).find(draft("twitter", text), Progress(), since())
    assert found is not None and found.remote_id == made["id"]
    other = "Programme of the week on embassy.example.org/month and https://example.org/full"
    assert adapter("twitter", sandbox).find(draft("twitter", other), Progress(), since()) is None


@pytest.mark.parametrize("platform", IMAGE_ONLY)
def test_two_photo_posts_in_a_row(sandbox: Sandbox, tmp_path: Path, platform: str) -> None:
    """Yesterday's image-only post is not today's: the media ids tell them apart."""
    sandbox.seed(platform, {"images": 1})
    image = picture(tmp_path, "today.png", "PNG", alt="")
    progress = Progress()
    adapter(platform, sandbox).publish(draft(platform, "", images=(image,)), progress)
    ours = posts(sandbox, platform)[-1]
    found = adapter(platform, sandbox).find(draft(platform, "", images=(image,)), progress, since())
    assert found is not None and found.remote_id == ours["id"]
    # With other media ids recorded (a try whose post never went out), the look-alike is no match.
    other = Progress(media={image.sha256: progress.media[image.sha256] + "9"})
    sandbox.reset()
    sandbox.seed(platform, {"images": 1})
    assert adapter(platform, sandbox).find(draft(platform, "", images=(image,)), other, since()) is None


@pytest.mark.parametrize("platform", PLATFORMS)
def test_empty_text_with_media_ids_never_recorded_cannot_settle(
    sandbox: Sandbox, tmp_path: Path, platform: str
) -> None:
    sandbox.seed(platform, {"images": 1})
    image = picture(tmp_path, "lost.png", "PNG", alt="")
    with pytest.raises(Unsettled) as caught:
        adapter(platform, sandbox).find(draft(platform, "", images=(image,)), Progress(), since())
    assert "never recorded" in caught.value.message


@pytest.mark.parametrize("platform", PLATFORMS)
def test_empty_text_with_media_ids_never_recorded_and_nothing_there_is_absent(
    sandbox: Sandbox, tmp_path: Path, platform: str
) -> None:
    sandbox.seed(platform, {"text": "A text post, no photo."})
    image = picture(tmp_path, "nothing.png", "PNG", alt="")
    assert adapter(platform, sandbox).find(draft(platform, "", images=(image,)), Progress(), since()) is None


def test_a_visitors_photo_post_on_the_page_is_not_ours(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.seed("facebook", {"images": 1, "visitor": True})
    image = picture(tmp_path, "visitor.png", "PNG", alt="")
    assert adapter("facebook", sandbox).find(draft("facebook", "", images=(image,)), Progress(), since()) is None


@pytest.mark.parametrize("platform", ["facebook", "vk"])
def test_two_candidates_settle_nothing(sandbox: Sandbox, platform: str) -> None:
    sandbox.seed(platform, {"text": "Said twice."}, {"text": "Said twice."})
    with pytest.raises(Unsettled) as caught:
        adapter(platform, sandbox).find(draft(platform, "Said twice."), Progress(), since())
    assert "several" in caught.value.message


def test_a_200_that_carries_only_errors_proves_nothing_absent(sandbox: Sandbox) -> None:
    body = json.dumps({"errors": [{"title": "Service Unavailable", "detail": "Timeline is unavailable"}]})
    headers = {"Content-Type": "application/json"}
    sandbox.add_faults([Fault(path=r"^/2/users/\d+/tweets$", status=200, body=body, headers=headers)])
    with pytest.raises(Transient):  # listed nothing: ask again later, never "absent"
        adapter("twitter", sandbox).find(draft("twitter", "Is it there?"), Progress(), since())


def test_a_vk_window_too_long_to_read_is_not_absent(sandbox: Sandbox) -> None:
    sandbox.seed("vk", *({"text": f"Post {n}."} for n in range(101)))
    with pytest.raises(LookupUnavailable):
        adapter("vk", sandbox).find(draft("vk", "Not among them."), Progress(), since())


def test_the_seed_control_endpoint(sandbox: Sandbox) -> None:
    request = urllib.request.Request(
        f"{sandbox.url}/_sandbox/seed",
        data=json.dumps({"platform": "twitter", "posts": [{"text": "Seeded over HTTP."}]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer)["posts"][0]["text"] == "Seeded over HTTP."
    assert [p["text"] for p in posts(sandbox, "twitter")] == ["Seeded over HTTP."]
