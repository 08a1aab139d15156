"""Images prepared per platform (crosspost.images): upright, without metadata, within each platform's limits.

Every image is made here with Pillow (tests/imagegen.py), and every result is
read back twice: by Pillow, and by scanning its bytes for the markers metadata
leaves (``Exif``, ``<x:xmpmeta``, ``Photoshop 3.0``, the camera's name).
"""

from __future__ import annotations

import io

import pytest
from imagegen import (
    GPS_IFD,
    animated_gif,
    camera_jpeg,
    encoded,
    has_metadata,
    noise_gif,
    picture,
    srgb_profile,
)
from PIL import Image, ImageSequence, PngImagePlugin

from crosspost.images import DEFAULT_LIMITS, MB, ImageUnfit, limits_for, prepare, prepare_all
from crosspost.images.gif import strip_gif
from crosspost.images.preparation import _Source

PLATFORMS = ["facebook", "telegram", "twitter", "vk"]  # the built-ins; each spec holds its image limits


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def frames(data: bytes) -> int:
    return int(getattr(Image.open(io.BytesIO(data)), "n_frames", 1))


def red(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    r, g, b = pixel[:3]
    return r > 200 and g < 60 and b < 60


def corner_of_marker(image: Image.Image) -> str:
    """Which corner holds the red square the test picture has in its stored top-left corner."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    corners = {"TL": (3, 3), "TR": (w - 4, 3), "BL": (3, h - 4), "BR": (w - 4, h - 4)}
    found = [name for name, xy in corners.items() if red(rgb.getpixel(xy))]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- camera photos


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_camera_jpeg_arrives_upright_without_metadata_and_with_its_colour_profile(platform: str) -> None:
    source = camera_jpeg((1200, 800), orientation=6)
    assert has_metadata(source) == ["Exif", "XMP", "IPTC", "camera", "comment", "GPS"]  # the test is real
    assert opened(source).getexif().get_ifd(GPS_IFD)
    prepared = prepare(source, platform)
    image = opened(prepared.data)
    assert (image.format, image.size) == ("JPEG", (800, 1200))  # orientation 6: turned a quarter clockwise
    assert corner_of_marker(image) == "TR"
    assert len(image.getexif()) == 0 and "exif" not in image.info and "xmp" not in image.info
    assert "photoshop" not in image.info and "comment" not in image.info
    assert has_metadata(prepared.data) == []
    assert image.info["icc_profile"] == opened(source).info["icc_profile"]
    assert prepared.removed == ("EXIF", "GPS position", "XMP", "IPTC", "comment")
    assert prepared.orientation == 6 and prepared.mime == "image/jpeg"


# Where the stored picture's top-left corner shows once each EXIF orientation is applied.
ORIENTED = {1: "TL", 2: "TR", 3: "BR", 4: "BL", 5: "TL", 6: "TR", 7: "BR", 8: "BL"}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_every_exif_orientation_is_applied_to_the_pixels(orientation: int) -> None:
    prepared = prepare(camera_jpeg((600, 400), orientation=orientation, detail=0.0), "vk")
    image = opened(prepared.data)
    assert image.size == ((600, 400) if orientation < 5 else (400, 600))
    assert corner_of_marker(image) == ORIENTED[orientation]
    assert 0x0112 not in image.getexif()


def test_the_same_image_gives_the_same_bytes_so_the_content_hash_dedups() -> None:
    source = camera_jpeg((1600, 1200), orientation=8, detail=0.3)
    for platform in PLATFORMS:
        first = _Source(source).prepare(limits_for(platform), platform)  # two separate decodings
        second = _Source(source).prepare(limits_for(platform), platform)
        assert first.data == second.data


def test_a_photo_that_fits_keeps_its_own_jpeg_quality() -> None:
    source = camera_jpeg((1200, 800), orientation=1, quality=92, detail=0.2)
    prepared = prepare(source, "vk")
    assert getattr(opened(prepared.data), "quantization") == getattr(opened(source), "quantization")  # noqa: B009
    assert prepared.change() is None  # nothing worth a validate line: only the metadata went


def test_a_heavy_photo_is_brought_under_each_platforms_byte_limit() -> None:
    source = camera_jpeg((3000, 2000), orientation=1, quality=98, detail=0.45)
    assert len(source) > 5 * MB  # over X's and Facebook's limits, within VK's and Telegram's
    results = prepare_all(source, PLATFORMS)
    for platform, prepared in results.items():
        assert len(prepared.data) <= limits_for(platform).max_bytes, platform
        assert has_metadata(prepared.data) == []
    assert results["twitter"].change() is not None and "for" not in (results["twitter"].change() or "")
    assert len(results["twitter"].data) > 3 * MB  # brought down to the limit, not far below it
    assert (results["vk"].width, results["vk"].height) == (3000, 2000)


@pytest.mark.parametrize(
    ("platform", "size", "limit"),
    [("vk", (13600, 700), 14000), ("telegram", (9500, 600), 10000)],
)
def test_width_plus_height_is_kept_within_the_platforms_sum(platform: str, size: tuple[int, int], limit: int) -> None:
    prepared = prepare(encoded(picture(size), "JPEG", quality=80), platform)
    assert sum(size) > limit >= prepared.width + prepared.height > limit - 5
    assert prepared.scaled and "scaled to" in (prepared.change() or "")


def test_x_gets_at_most_8192_pixels_a_side() -> None:
    prepared = prepare(encoded(Image.new("RGB", (9000, 900), (20, 90, 160)), "PNG"), "twitter")
    assert max(prepared.width, prepared.height) == 8192 and prepared.format == "PNG"


def test_a_picture_too_long_for_the_platform_is_refused_with_the_fix() -> None:
    data = encoded(picture((4200, 200)), "PNG")
    with pytest.raises(ImageUnfit, match=r"4200x200 px, longer than vk takes \(sides at most 20:1\); crop it"):
        prepare(data, "vk")
    assert prepare(data, "twitter").format == "PNG"  # X documents no ratio


# ---------------------------------------------------------------- formats


def test_webp_is_converted_where_the_platform_does_not_take_it() -> None:
    photo = encoded(picture((640, 480), detail=0.1), "WEBP", quality=90)
    assert prepare(photo, "twitter").format == "WEBP"  # X takes WebP
    for platform in ("facebook", "vk", "telegram"):
        prepared = prepare(photo, platform)
        assert (prepared.format, prepared.mime) == ("JPEG", "image/jpeg")
        assert prepared.change() == "WebP, converted to JPEG (" + prepared.change().split("(")[1]  # type: ignore[union-attr]


def test_a_transparent_webp_becomes_a_png_that_keeps_its_transparency() -> None:
    image = picture((300, 200)).convert("RGBA")
    image.putpixel((299, 199), (0, 0, 0, 0))
    prepared = prepare(encoded(image, "WEBP", lossless=True), "facebook")
    back = opened(prepared.data)
    assert prepared.format == "PNG" and back.mode == "RGBA" and back.getpixel((299, 199))[3] == 0  # type: ignore[index]


def test_png_text_chunks_and_exif_are_removed() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "A. Writer")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS 39,1.5N</x:xmpmeta>")
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    data = encoded(picture((400, 300)), "PNG", pnginfo=info, exif=exif, icc_profile=srgb_profile())
    prepared = prepare(data, "twitter")
    back = opened(prepared.data)
    assert has_metadata(prepared.data) == [] and b"A. Writer" not in prepared.data
    assert set(back.info) == {"icc_profile"}
    assert "EXIF" in prepared.removed and "XMP" in prepared.removed


def test_a_cameras_multi_picture_jpeg_becomes_one_plain_jpeg() -> None:
    first, second = picture((400, 300), seed=1), picture((400, 300), seed=2)
    mpo = encoded(first, "MPO", save_all=True, append_images=[second])
    assert opened(mpo).format == "MPO"
    prepared = prepare(mpo, "facebook")
    back = opened(prepared.data)
    assert back.format == "JPEG" and prepared.data.count(b"\xff\xd8") == 1
    assert not prepared.converted


def test_a_file_that_is_not_an_image_is_refused_in_words() -> None:
    with pytest.raises(ImageUnfit, match="is not a readable image; use a JPEG, PNG, GIF or WebP file"):
        prepare(b"\xff\xd8\xff not really a jpeg", "vk")


# ---------------------------------------------------------------- animated GIFs


def test_an_animated_gif_stays_animated_and_loses_only_its_metadata() -> None:
    source = animated_gif(frames=6)
    assert has_metadata(source) == ["XMP", "comment", "GPS"]
    for platform in ("twitter", "facebook", "vk"):
        prepared = prepare(source, platform)
        back = Image.open(io.BytesIO(prepared.data))
        assert frames(prepared.data) == 6 and back.info["loop"] == 0 and back.info["duration"] == 80
        assert has_metadata(prepared.data) == [] and prepared.frames == 6
        original = [f.convert("RGB").tobytes() for f in ImageSequence.Iterator(Image.open(io.BytesIO(source)))]
        assert [f.convert("RGB").tobytes() for f in ImageSequence.Iterator(back)] == original  # not re-encoded


def test_telegram_takes_no_animated_gif_and_says_what_to_do() -> None:
    with pytest.raises(
        ImageUnfit, match=r"animated GIF, which telegram takes no animation of; .*\[variants.telegram\]"
    ):
        prepare(animated_gif(), "telegram")
    still = prepare(encoded(picture((200, 100)).quantize(32), "GIF"), "telegram")
    assert still.format == "PNG"  # a GIF of one frame is a picture: converted


def test_an_animated_gif_over_the_limit_is_refused_not_shrunk() -> None:
    gif = noise_gif((400, 300), frames=26)  # about 4.3 MB: over Facebook's 4 MB, within X's 15 MB
    assert 4 * MB < len(gif) < 15 * MB
    with pytest.raises(ImageUnfit, match=r"animated GIF of 4\.\d MB, over the 4\.0 MB facebook takes for one"):
        prepare(gif, "facebook")
    assert frames(prepare(gif, "twitter").data) == 26


def test_an_animated_gif_larger_than_xs_box_is_scaled_into_it_and_stays_animated() -> None:
    gif = animated_gif((1600, 900), frames=3)
    prepared = prepare(gif, "twitter")
    back = Image.open(io.BytesIO(prepared.data))
    assert back.size == (1280, 720) and frames(prepared.data) == 3 and has_metadata(prepared.data) == []
    assert prepare(gif, "vk").width == 1600  # VK documents no such box


def test_strip_gif_drops_comments_and_application_blocks_but_the_loop() -> None:
    source = animated_gif(frames=2)
    stripped = strip_gif(source)
    assert b"NETSCAPE2.0" in stripped and b"XMP DataXMP" not in stripped and b"made at the office" not in stripped
    assert len(source) - len(stripped) > len(b"made at the office")
    with pytest.raises(ValueError):
        strip_gif(source[:-40])  # cut short


def test_the_limits_table_says_what_the_platforms_document() -> None:
    x, facebook, vk, telegram = (limits_for(p) for p in ("twitter", "facebook", "vk", "telegram"))
    assert (x.max_bytes, x.gif_max_bytes) == (5 * MB, 15 * MB)
    assert facebook.max_bytes == 4 * MB and "WEBP" not in facebook.formats
    assert (vk.max_bytes, vk.max_sides_sum) == (50 * MB, 14000)
    assert (telegram.max_bytes, telegram.max_sides_sum) == (10 * MB, 10000)
    assert telegram.formats == {"JPEG", "PNG"} and telegram.gif_max_bytes is None
    assert limits_for("noticeboard") == DEFAULT_LIMITS  # a platform no package registers
