"""Test images made in the tests, as cameras and phones make them (no large committed files).

A "camera JPEG" has a real EXIF block (camera, time, orientation, and a GPS
position made with ``Image.Exif``), an XMP packet, an IPTC block (APP13, as
photo desks add), a comment and an sRGB ICC profile, and a red square in the
stored picture's top-left corner so a test can tell which way up it arrives.
"""

from __future__ import annotations

import io
import random
import struct

from PIL import Image, ImageCms, ImageDraw

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="39,1.5N"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def picture(size: tuple[int, int], *, detail: float = 0.1, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """A photo-like picture: smooth colour fields with grain (``detail`` 0..1 sets how heavy it compresses)."""
    width, height = size
    rng = random.Random(seed)
    small = (max(2, width // 16), max(2, height // 16))
    fields = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3)).resize(
        size, Image.Resampling.BICUBIC
    )
    image = fields
    if detail:
        grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
        image = Image.blend(fields, grain, detail)
    ImageDraw.Draw(image).rectangle((0, 0, width // 8, height // 8), fill=(255, 0, 0))
    return image.convert(mode) if mode != "RGB" else image


def camera_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    exif[0x0132] = "2026:11:30 10:15:00"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (39.0, 1.0, 30.0), 3: "E", 4: (125.0, 45.0, 15.0)}
    return exif


def iptc_segment() -> bytes:
    """A JPEG APP13 segment holding an IPTC record (byline and city), as photo desks add."""
    record = (
        b"\x1c\x02\x50" + struct.pack(">H", 9) + b"A. Writer" + b"\x1c\x02\x5a" + struct.pack(">H", 9) + b"Pyongyang"
    )
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def camera_jpeg(
    size: tuple[int, int] = (1200, 800), *, orientation: int = 6, quality: int = 95, detail: float = 0.1
) -> bytes:
    """A JPEG as a camera writes it, with every kind of metadata the preparation must remove."""
    out = io.BytesIO()
    picture(size, detail=detail).save(
        out,
        "JPEG",
        quality=quality,
        exif=camera_exif(orientation),
        icc_profile=srgb_profile(),
        xmp=XMP,
        comment=b"shot from the embassy roof",
    )
    data = out.getvalue()
    return data[:2] + iptc_segment() + data[2:]  # right after SOI, where cameras and desks put APPn blocks


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def animated_gif(size: tuple[int, int] = (200, 150), frames: int = 6, *, detail: float = 0.0) -> bytes:
    """An animated GIF with a comment and an XMP application block (both metadata to drop)."""
    pictures = [
        picture(size, detail=detail, seed=n).quantize(64, method=Image.Quantize.FASTOCTREE) for n in range(frames)
    ]
    data = encoded(
        pictures[0],
        "GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=80,
        loop=0,
        comment=b"made at the office",
    )
    # Pillow writes no XMP into a GIF; photo tools do, as an application block: add one before the trailer.
    chunks = b"".join(bytes([len(XMP[i : i + 255])]) + XMP[i : i + 255] for i in range(0, len(XMP), 255))
    return data[:-1] + b"\x21\xff\x0bXMP DataXMP" + chunks + b"\x00" + data[-1:]


def has_metadata(data: bytes) -> list[str]:
    """The metadata markers left in ``data``, found by scanning the bytes (not by asking Pillow)."""
    found = []
    for name, needle in (
        ("Exif", b"Exif\x00\x00"),
        ("XMP", b"<x:xmpmeta"),
        ("XMP", b"http://ns.adobe.com/xap/1.0/"),
        ("IPTC", b"Photoshop 3.0"),
        ("IPTC", b"8BIM"),
        ("camera", b"Canon"),
        ("comment", b"embassy roof"),
        ("comment", b"made at the office"),
        ("GPS", b"39,1.5N"),
    ):
        if needle in data and name not in found:
            found.append(name)
    return found


def noise_gif(size: tuple[int, int], frames: int) -> bytes:
    """An animated GIF of random pixels: LZW cannot shrink it, so its size is about width x height x frames."""
    rng = random.Random(7)
    palette = list(range(256)) * 3
    pictures = []
    for _ in range(frames):
        frame = Image.frombytes("P", size, rng.randbytes(size[0] * size[1]))
        frame.putpalette(palette)
        pictures.append(frame)
    return encoded(pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=50, loop=0)
