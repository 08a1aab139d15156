"""Issue 10's images, end to end: the real CLI, the real adapters, the sandbox over HTTP, the bytes it received.

A press photo as a camera writes it (EXIF orientation 6, GPS, XMP, IPTC, a
comment, an ICC profile, heavier than X and Facebook take) is validated,
previewed, queued and published by ``daemon --once``; each emulator keeps the
files it was sent, and the test reads them: upright, no metadata (by Pillow and
by the bytes), within that platform's limits, colour profile kept.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from imagegen import animated_gif, camera_jpeg, encoded, has_metadata, noise_gif, picture
from PIL import Image

from crosspost.cli import cli
from crosspost.demo import demo_config
from crosspost.images import MB, limits_for
from crosspost.sandbox import Sandbox, build_sandbox

PLATFORMS = ("twitter", "facebook", "vk", "telegram")  # the demo config's accounts, one per platform


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = build_sandbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def site(tmp_path: Path, sandbox: Sandbox) -> Path:
    sandbox.reset()
    config = tmp_path / "crosspost.toml"
    config.write_text(demo_config(sandbox.url), encoding="utf-8")
    config.chmod(0o600)
    (tmp_path / "posts" / "media").mkdir(parents=True)
    return tmp_path


def run(site: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--config", str(site / "crosspost.toml"), *args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def post(site: Path, images: dict[str, bytes], body: str = "Photos from the reception.", extra: str = "") -> str:
    for name, data in images.items():
        (site / "posts" / "media" / name).write_bytes(data)
    listed = ", ".join(f'{{ path = "media/{name}", alt = "Picture {n}" }}' for n, name in enumerate(images, 1))
    path = site / "posts" / "post.md"
    path.write_text(f'+++\ntitle = "Reception"\nimages = [{listed}]\n{extra}+++\n{body}\n', encoding="utf-8")
    return str(path)


def received(sandbox: Sandbox, platform: str) -> list[bytes]:
    """The image files the platform's emulator was sent for its latest post, in order."""
    emulator = next(e for e in sandbox.emulators if e.name == platform)
    latest = emulator.posts[-1]  # type: ignore[attr-defined]
    if platform == "twitter":
        return [emulator.media[i].data for i in latest["media_ids"]]  # type: ignore[attr-defined]
    return [photo.data for photo in latest.photos]


def publish(site: Path, path: str) -> None:
    run(site, "queue", path, "--at", "now")
    run(site, "daemon", "--once")


def test_a_camera_photo_reaches_every_platform_upright_clean_and_within_its_limits(
    site: Path, sandbox: Sandbox
) -> None:
    photo = camera_jpeg((3000, 2000), orientation=6, quality=98, detail=0.45)
    assert len(photo) > 5 * MB and has_metadata(photo) == ["Exif", "XMP", "IPTC", "camera", "comment", "GPS"]
    icc = Image.open(io.BytesIO(photo)).info["icc_profile"]
    path = post(site, {"photo.jpg": photo})

    validated = run(site, "validate", path).stdout.splitlines()
    assert validated[1:3] == [
        f"{path}:3: media/photo.jpg: EXIF, GPS position, XMP, IPTC, comment removed before publishing",
        f"{path}:3: media/photo.jpg: turned upright (EXIF orientation 6)",
    ]
    smaller = [line for line in validated if "recompressed to" in line or "scaled to" in line]
    assert sorted(line.rsplit(" for ", 1)[1] for line in smaller) == ["facebook", "twitter"]  # VK, Telegram take it
    assert smaller[0].startswith(f"{path}:3: media/photo.jpg: {len(photo) / MB:.1f} MB, ")

    previewed = run(site, "preview", path).stdout.splitlines()
    sizes = [line for line in previewed if line.startswith("  sent as JPEG, ")]
    assert len(sizes) == len(PLATFORMS)
    as_json = {
        t["platform"]: t["images"][0]["prepared"] for t in json.loads(run(site, "preview", path, "--json").stdout)
    }

    publish(site, path)
    for platform in PLATFORMS:
        (data,) = received(sandbox, platform)
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.height > image.width, platform  # turned upright
        rgb = image.convert("RGB")
        assert rgb.getpixel((rgb.width - 4, 3)) == pytest.approx((254, 0, 0), abs=40)  # the marker, top right
        assert len(image.getexif()) == 0 and has_metadata(data) == [], platform
        assert b"GPS" not in data and b"Exif" not in data and b"<x:xmpmeta" not in data
        assert image.info.get("icc_profile") == icc, platform
        assert len(data) <= limits_for(platform).max_bytes, platform
        assert f"  sent as JPEG, {len(data) / MB:.1f} MB, {image.width}x{image.height} px" in sizes
        assert as_json[platform] == {
            "mime": "image/jpeg",
            "bytes": len(data),
            "width": image.width,
            "height": image.height,
        }


def test_webp_and_animated_gifs_arrive_as_each_platform_takes_them(site: Path, sandbox: Sandbox) -> None:
    webp = encoded(picture((900, 600), detail=0.1), "WEBP", quality=90)
    path = post(site, {"hall.webp": webp})
    validated = run(site, "validate", path).stdout
    assert "media/hall.webp: WebP, converted to JPEG (" in validated and "for facebook" in validated
    publish(site, path)
    assert Image.open(io.BytesIO(received(sandbox, "twitter")[0])).format == "WEBP"
    for platform in ("facebook", "vk", "telegram"):
        assert Image.open(io.BytesIO(received(sandbox, platform)[0])).format == "JPEG"

    gif = animated_gif(frames=5)
    # A Telegram album takes no animation (validate says so): the channel gets the text alone.
    path = post(site, {"flag.gif": gif}, body="The flag, waving.", extra="[variants.telegram]\nimages = []\n")
    publish(site, path)
    for platform in ("twitter", "facebook", "vk"):
        (data,) = received(sandbox, platform)
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 5 and has_metadata(data) == [], platform


def test_what_cannot_fit_is_a_validate_error_and_queue_stores_nothing(site: Path) -> None:
    gif = noise_gif((400, 300), frames=26)  # about 4.3 MB: over Facebook's 4 MB for a GIF
    path = post(site, {"loop.gif": gif})
    failed = run(site, "validate", path, code=1)
    assert (
        f'{path}:3: image "media/loop.gif" is an animated GIF of {len(gif) / MB:.1f} MB, over the 4.0 MB facebook '
        "takes for one; make it shorter or smaller (fewer frames, fewer colours), or use a still image"
    ) in failed.stderr.splitlines()
    run(site, "queue", path, "--at", "now", code=1)
    assert not (site / "media").exists() or not list((site / "media").iterdir())
    assert "no posts" in run(site, "list").stdout


def test_an_animated_gif_goes_to_x_alone(site: Path) -> None:
    path = post(site, {"flag.gif": animated_gif(frames=3), "hall.jpg": camera_jpeg((400, 300), detail=0.0)})
    failed = run(site, "validate", path, code=1)
    assert 'twitter takes one animated GIF alone or up to 4 photos, not "media/flag.gif" with other images' in (
        failed.stderr
    )


def test_each_prepared_copy_is_stored_once_by_content_hash(site: Path) -> None:
    photo = camera_jpeg((1200, 800), orientation=1, detail=0.1)  # fits every platform as it is
    path = post(site, {"a.jpg": photo, "same.jpg": photo})
    run(site, "queue", path, "--at", "+1h")
    copies = sorted((site / "media").iterdir())
    # One file: the same photo twice, for three platforms that each take it as it is (metadata removed).
    assert len(copies) == 1 and copies[0].suffix == ".jpg"
    assert has_metadata(copies[0].read_bytes()) == []


def test_a_queue_whose_image_cannot_be_prepared_stores_nothing(tmp_path: Path) -> None:
    """The store's own guard (the file may change between validate and queue): no post, no copy left."""
    from crosspost.errors import CrosspostError
    from crosspost.model import Draft
    from crosspost.model import Image as Picture
    from crosspost.store.sql import SqlStore

    photo, gif = tmp_path / "photo.jpg", tmp_path / "flag.gif"
    photo.write_bytes(camera_jpeg((400, 300)))
    gif.write_bytes(animated_gif(frames=2))
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "media")
    try:
        drafts = [
            Draft("vk", "vk", ("text",), (Picture(photo), Picture(gif))),
            Draft("tg", "telegram", ("text",), (Picture(photo), Picture(gif))),  # no animation in an album
        ]
        now = datetime(2027, 1, 1, tzinfo=UTC)
        with pytest.raises(CrosspostError, match=r"flag.gif: is an animated GIF, which telegram takes no animation"):
            store.queue_post(title="T", source="p.md", drafts=drafts, due_at=now, now=now)
        assert store.list_posts() == []
        assert list((tmp_path / "media").iterdir()) == []  # the copies made for vk were removed
    finally:
        store.close()


def test_validate_says_what_is_done_to_images_on_stdout_and_warnings_stay_on_stderr(site: Path) -> None:
    path = post(site, {"photo.jpg": camera_jpeg((400, 300), orientation=3)}, body="Hello.\n\n<!-- check the date -->")
    result = run(site, "validate", path)
    assert f"{path}:3: media/photo.jpg: turned upright (EXIF orientation 3)" in result.stdout.splitlines()
    assert "turned upright" not in result.stderr and "comment" in result.stderr.lower()
