"""Animated GIFs, kept animated: their metadata removed without touching their pictures.

Re-encoding an animated GIF with Pillow quantizes every frame again: colours
shift and the file often grows. A GIF is a plain sequence of blocks, so the
metadata (comment blocks, application blocks such as XMP) can be left out
while every picture block is copied byte for byte. Only a GIF larger than the
platform's box is re-encoded, its frames scaled.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from crosspost.images.fitting import ImageUnfit, fit_box, megabytes, scaled
from crosspost.images.limits import ImageLimits

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# Application blocks that are not metadata: the loop count (two spellings) and the ICC colour profile.
KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")
COMMENT, APPLICATION, EXTENSION, PICTURE, TRAILER = 0xFE, 0xFF, 0x21, 0x2C, 0x3B


def strip_gif(data: bytes) -> bytes:
    """``data`` without comment and application blocks (but the loop count and ICC profile); ValueError if damaged."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("not a GIF")
    pos = 13 + _table_size(data[10])
    out = bytearray(data[:pos])
    while True:
        if pos >= len(data):
            raise ValueError("no trailer")
        kind = data[pos]
        if kind == TRAILER:
            out.append(TRAILER)  # anything after the trailer is not part of the picture: dropped too
            return bytes(out)
        if kind == PICTURE:
            if pos + 10 > len(data):
                raise ValueError("cut short")
            start = pos
            pos += 10 + _table_size(data[pos + 9])
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW code size byte
            out += data[start:pos]
        elif kind == EXTENSION:
            start = pos
            label = data[pos + 1] if pos + 1 < len(data) else -1
            end = _skip_sub_blocks(data, pos + 2)
            if label == COMMENT or (label == APPLICATION and data[pos + 3 : pos + 14] not in KEPT_APPLICATIONS):
                pos = end
                continue
            out += data[start:end]
            pos = end
        else:
            raise ValueError(f"unknown block 0x{kind:02x}")


def _table_size(packed: int) -> int:
    return 3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """The position after the sub-blocks starting at ``pos`` (a chain of length-prefixed blocks ending in 0)."""
    while True:
        if pos >= len(data):
            raise ValueError("cut short")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def animated_gif(source: PILImage, data: bytes, limits: ImageLimits, platform: str) -> tuple[bytes, tuple[int, int]]:
    """An animated GIF kept animated: its blocks copied without the metadata, or its frames scaled into the box.

    One over the byte limit is refused rather than shrunk: a GIF's size depends on its frames far more
    than on its pixels, and an animation cut down until it fits is rarely what the author meant.
    """
    from PIL import Image, ImageSequence

    assert limits.gif_max_bytes is not None
    width, height = source.size
    box = limits.gif_box or (width, height)
    size = fit_box(*scaled(width, height, min(1.0, box[0] / width, box[1] / height)), limits, platform)
    try:
        out: bytes | None = strip_gif(data) if size == (width, height) else None
    except ValueError:  # a GIF Pillow reads but with blocks this reader does not know: re-encoded instead
        out = None
    if out is None:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(source):
            durations.append(int(frame.info.get("duration", 100)))
            small = frame.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
            small.info = {}  # Pillow would write the source's comment back
            frames.append(small)
        options: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": durations}
        options["disposal"] = 2  # each frame is whole (Pillow composes them): clear before the next
        if source.info.get("loop") is not None:
            options["loop"] = source.info["loop"]
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", **options)
        out = buffer.getvalue()
    if len(out) > limits.gif_max_bytes:
        raise ImageUnfit(
            f"is an animated GIF of {megabytes(len(out))}, over the {megabytes(limits.gif_max_bytes)} {platform} "
            "takes for one; make it shorter or smaller (fewer frames, fewer colours), or use a still image"
        )
    return out, size
