"""What a platform documents for the images of a post: one :class:`ImageLimits` per platform.

Each platform's spec holds its own (``image_limits``, with the page the numbers
come from); a platform whose spec sets none gets :data:`DEFAULT_LIMITS`.
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


# A platform whose spec says nothing: the formats, size and sides every built-in platform takes.
DEFAULT_LIMITS = ImageLimits(frozenset({"JPEG", "PNG"}), 4 * MB, max_sides_sum=10000, max_ratio=20.0)


def limits_for(platform: str) -> ImageLimits:
    """The limits ``platform``'s spec documents (its ``image_limits``), else :data:`DEFAULT_LIMITS`."""
    from crosspost.platforms import spec_for

    try:
        limits = getattr(spec_for(platform), "image_limits", None)
    except KeyError:  # not registered (an account of a plugin that is not installed)
        limits = None
    return limits if isinstance(limits, ImageLimits) else DEFAULT_LIMITS
