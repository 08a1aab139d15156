"""Which metadata an image carries, in words: validate says what is removed before publishing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage


def metadata_in(image: PILImage, data: bytes) -> tuple[str, ...]:
    """The metadata blocks ``image`` carries, in words, for validate to say they are dropped."""
    found: list[str] = []
    exif = image.getexif()
    if len(exif):
        found.append("EXIF")
        try:
            if exif.get_ifd(0x8825):
                found.append("GPS position")
        except Exception:  # a damaged GPS IFD is still a GPS block; Pillow may raise reading it
            found.append("GPS position")
    if "xmp" in image.info or b"<x:xmpmeta" in data or b"XML:com.adobe.xmp" in data:
        found.append("XMP")
    if "photoshop" in image.info or b"Photoshop 3.0\x00" in data or b"Raw profile type iptc" in data:
        found.append("IPTC")
    if image.info.get("comment"):
        found.append("comment")
    texts = [str(k) for k, v in image.info.items() if isinstance(v, str) and k not in ("xmp", "comment")]
    if texts:
        found.append("text (" + ", ".join(sorted(texts)) + ")")
    return tuple(found)
