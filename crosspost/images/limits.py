"""Each platform's documented limits for images, in one small table.

Kept apart from the work so that the platform registry can take each row into
its platform's spec. Sources: PLATFORMS-2026.md and the pages it cites.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000  # the platforms say "MB"; decimal megabytes are the safe reading of it


@dataclass(frozen=True)
class ImageLimits:
    """What one platform documents for the images of a post (kept small so the registry can take it over)."""

    formats: frozenset[str]  # Pillow format names it takes
    max_bytes: int  # per still image
    max_side: int | None = None  # longest side, pixels
    max_sides_sum: int | None = None  # width + height, pixels
    max_ratio: float | None = None  # long side / short side
    gif_max_bytes: int | None = None  # per animated GIF; None: it takes no animated GIF
    gif_box: tuple[int, int] | None = None  # width x height an animated GIF must fit in
    gif_alone: bool = False  # an animated GIF must be a post's only image


# One row per platform; each comment names the page the numbers come from.
LIMITS: dict[str, ImageLimits] = {
    # X media best practices: JPG, PNG, GIF, WEBP; image <= 5 MB, animated GIF <= 15 MB and <= 1280x1080.
    # 8192 px per side is the v1.1 upload's documented bound, which the v2 pages do not restate.
    "twitter": ImageLimits(
        frozenset({"JPEG", "PNG", "GIF", "WEBP"}),
        5 * MB,
        max_side=8192,
        gif_max_bytes=15 * MB,
        gif_box=(1280, 1080),
        gif_alone=True,  # "up to 4 photos, 1 animated GIF or 1 video in a Post"
    ),
    # Graph photo uploads: JPEG, BMP, PNG, GIF, TIFF (no WebP); "we recommend uploading photos under 4MB".
    "facebook": ImageLimits(frozenset({"JPEG", "PNG", "GIF"}), 4 * MB, gif_max_bytes=4 * MB),
    # VK wall photo upload: JPG, PNG, GIF; at most 50 MB; width + height <= 14000; sides at most 1:20.
    "vk": ImageLimits(
        frozenset({"JPEG", "PNG", "GIF"}), 50 * MB, max_sides_sum=14000, max_ratio=20.0, gif_max_bytes=50 * MB
    ),
    # Bot API sendPhoto: at most 10 MB; width + height <= 10000; ratio at most 20. An album takes photos,
    # not animations, so an animated GIF cannot go in one.
    "telegram": ImageLimits(frozenset({"JPEG", "PNG"}), 10 * MB, max_sides_sum=10000, max_ratio=20.0),
}
# A platform a plugin adds, until its spec says better: the formats and size every platform here takes.
DEFAULT_LIMITS = ImageLimits(frozenset({"JPEG", "PNG"}), 4 * MB, max_sides_sum=10000, max_ratio=20.0)


def limits_for(platform: str) -> ImageLimits:
    return LIMITS.get(platform, DEFAULT_LIMITS)
