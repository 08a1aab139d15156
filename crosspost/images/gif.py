"""A GIF's metadata removed without touching its pictures.

Re-encoding an animated GIF with Pillow quantizes every frame again: colours
shift and the file often grows. A GIF is a plain sequence of blocks, so the
metadata (comment blocks, application blocks such as XMP) can be left out
while every picture block is copied byte for byte.
"""

from __future__ import annotations

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
