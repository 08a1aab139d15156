"""Sizes against a platform's limits, and the error for an image that cannot be made to fit."""

from __future__ import annotations

import math

from crosspost.images.limits import MB, ImageLimits


class ImageUnfit(ValueError):
    """The image cannot be made to fit the platform; the message says why and what to do."""


def megabytes(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1000))} KB"


def fit_box(width: int, height: int, limits: ImageLimits, platform: str) -> tuple[int, int]:
    """The largest size at most ``width`` x ``height`` within the platform's pixel limits."""
    long, short = max(width, height), min(width, height)
    if limits.max_ratio and long > short * limits.max_ratio:
        raise ImageUnfit(
            f"is {width}x{height} px, longer than {platform} takes (sides at most "
            f"{limits.max_ratio:g}:1); crop it, scaling cannot help"
        )
    scale = 1.0
    if limits.max_side and long > limits.max_side:
        scale = min(scale, limits.max_side / long)
    if limits.max_sides_sum and width + height > limits.max_sides_sum:
        scale = min(scale, limits.max_sides_sum / (width + height))
    return scaled(width, height, scale)


def scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    if scale >= 1.0:
        return width, height
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
