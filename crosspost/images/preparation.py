"""Images prepared for each platform when a post is queued (contract: "The post file").

Press photos come straight from cameras and phones: large JPEGs with an EXIF
orientation and the GPS position of the photographer. Each platform gets its
own copy, made here with Pillow: turned upright (the orientation applied to
the pixels), every metadata block dropped (EXIF, GPS, XMP, IPTC, comments,
text chunks; the ICC colour profile is kept, it is colour and not metadata),
converted when the platform does not take the format, and scaled down and
recompressed to the platform's documented byte and pixel limits.

The output is deterministic (the same bytes in give the same bytes out), so a
queued copy named by its content hash is stored once however often it is
queued. :func:`prepare` remembers its results for the life of the process:
``queue`` validates (which prepares every image for every target platform)
and then stores, and must not do the work twice.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crosspost.images.fitting import ImageUnfit, fit_box, megabytes, scaled
from crosspost.images.gif import animated_gif
from crosspost.images.limits import MB, ImageLimits, limits_for
from crosspost.images.metadata import metadata_in

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}
NAMES = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP", "MPO": "JPEG"}
MIN_SIDE = 320  # below this a photo is a thumbnail: refuse rather than publish a smudge
CONVERTED_QUALITY = 90  # a JPEG or WebP made from another format
SMALLER_QUALITY = 85  # the first step down when a photo is too heavy: barely visible, about half the bytes
MAX_TRIES = 30  # scaled encodings per image and platform before giving up
AIM = 0.95  # scale towards this share of the byte limit, so that one more try is rarely needed


@dataclass(frozen=True)
class Prepared:
    """One image as one platform gets it, and what was done to it."""

    data: bytes
    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP
    width: int
    height: int
    source_bytes: int
    source_format: str
    source_size: tuple[int, int]
    orientation: int  # the source's EXIF orientation (1: already upright)
    frames: int  # more than 1: an animated GIF
    removed: tuple[str, ...]  # metadata the source had: "EXIF", "GPS position", "XMP", ...

    @property
    def mime(self) -> str:
        return MIME[self.format]

    @property
    def suffix(self) -> str:
        return SUFFIX[self.format]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def converted(self) -> bool:
        return NAMES.get(self.source_format, self.source_format) != NAMES[self.format]

    @property
    def scaled(self) -> bool:
        turned = self.source_size[::-1] if self.orientation in (5, 6, 7, 8) else self.source_size
        return (self.width, self.height) != turned

    def change(self) -> str | None:
        """What was done to size or format, in words (``9.1 MB, scaled to 4.6 MB``); None if nothing much."""
        before, after = megabytes(self.source_bytes), megabytes(len(self.data))
        if self.converted:
            return (
                f"{NAMES.get(self.source_format, self.source_format)}, converted to {NAMES[self.format]} ({after}"
                + (f", {self.width}x{self.height} px" if self.scaled else "")
                + ")"
            )
        if self.scaled:
            return f"{before}, scaled to {after} ({self.width}x{self.height} px)"
        if len(self.data) < self.source_bytes * 0.8 and self.source_bytes > MB:
            return f"{before}, recompressed to {after}"
        return None


# ---------------------------------------------------------------- the memo

_lock = threading.Lock()
_done: OrderedDict[tuple[str, str], Prepared | ImageUnfit] = OrderedDict()
_MEMO_BYTES = 200 * MB  # prepared bytes kept; a post's few photos fit many times over


def prepare(data: bytes, platform: str) -> Prepared:
    """``data`` (a whole image file) prepared for ``platform``; ImageUnfit if it cannot be made to fit."""
    return prepare_all(data, (platform,))[platform]


def prepare_all(data: bytes, platforms: Iterable[str]) -> dict[str, Prepared]:
    """``data`` prepared for each of ``platforms``, decoded once; ImageUnfit for the first that cannot fit."""
    digest = hashlib.sha256(data).hexdigest()
    wanted = list(dict.fromkeys(platforms))
    with _lock:
        found = {p: _done[(digest, p)] for p in wanted if (digest, p) in _done}
    missing = [p for p in wanted if p not in found]
    if missing:
        source: _Source | ImageUnfit
        try:
            source = _Source(data)
        except ImageUnfit as exc:
            source = exc
        for platform in missing:
            try:
                if isinstance(source, ImageUnfit):
                    raise source
                found[platform] = source.prepare(limits_for(platform), platform)
            except ImageUnfit as exc:
                found[platform] = exc
        with _lock:
            for platform in missing:
                _done[(digest, platform)] = found[platform]
            while len(_done) > 1 and sum(len(p.data) for p in _done.values() if isinstance(p, Prepared)) > _MEMO_BYTES:
                _done.popitem(last=False)
    out: dict[str, Prepared] = {}
    for platform in wanted:
        result = found[platform]
        if isinstance(result, ImageUnfit):
            raise ImageUnfit(str(result))
        out[platform] = result
    return out


def prepared_size(sha256: str, platform: str) -> Prepared | None:
    """The preparation already made in this process for the source with ``sha256``, if any (no work done)."""
    with _lock:
        found = _done.get((sha256, platform))
    return found if isinstance(found, Prepared) else None


# ---------------------------------------------------------------- the work


class _Source:
    """One image file, decoded once and turned upright, shared by every platform's preparation.

    Encodings are kept by (size, format, quality): two platforms that try the same step (X and
    Facebook both try a photo at quality 85 before scaling it) pay for it once.
    """

    def __init__(self, data: bytes) -> None:
        from PIL import Image

        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Image.DecompressionBombError:
            raise ImageUnfit(
                "has more pixels than any platform shows (a decompression bomb to Pillow); save a smaller image"
            ) from None
        except Exception:  # Pillow raises many types for a damaged or foreign file; all mean "not an image"
            raise ImageUnfit("is not a readable image; use a JPEG, PNG, GIF or WebP file") from None
        self.data = data
        self.image = image
        self.format = image.format or ""
        self.removed = metadata_in(image, data)
        self.orientation = int(image.getexif().get(0x0112, 1) or 1)
        self.icc: bytes | None = image.info.get("icc_profile")
        self.frames = getattr(image, "n_frames", 1) if self.format != "MPO" else 1
        # A JPEG stays at its own quality (its quantization tables) unless it is too heavy.
        self.tables = getattr(image, "quantization", None) if self.format in ("JPEG", "MPO") else None
        self._upright: PILImage | None = None
        self._resized: dict[tuple[int, int, str], PILImage] = {}
        self._encoded: dict[tuple[int, int, str, int | None], bytes] = {}

    def prepare(self, limits: ImageLimits, platform: str) -> Prepared:
        if self.frames > 1:
            if self.format != "GIF":
                name = NAMES.get(self.format, self.format)
                raise ImageUnfit(f"is an animated {name}; save it as an animated GIF or as a still image")
            if limits.gif_max_bytes is None:
                raise ImageUnfit(
                    f"is an animated GIF, which {platform} takes no animation of; give {platform} another image "
                    f"in a [variants.{platform}] table, or save a still image"
                )
            out, size = animated_gif(self.image, self.data, limits, platform)
            target = "GIF"
        else:
            target = _target_format(self.format, self.upright, limits)
            out, size = self._still(target, limits, platform)
        return Prepared(
            data=out,
            format=target,
            width=size[0],
            height=size[1],
            source_bytes=len(self.data),
            source_format=self.format,
            source_size=self.image.size,
            orientation=self.orientation if self.frames == 1 else 1,
            frames=self.frames,
            removed=self.removed,
        )

    @property
    def upright(self) -> PILImage:
        if self._upright is None:
            from PIL import ImageOps

            upright = ImageOps.exif_transpose(self.image)
            upright.info = {}  # Pillow writes some of info back (a JPEG comment): start from nothing
            self._upright = upright
        return self._upright

    def _still(self, target: str, limits: ImageLimits, platform: str) -> tuple[bytes, tuple[int, int]]:
        full = self.upright.size
        size = fit_box(*full, limits, platform)
        keep = self.tables is not None and target == "JPEG"
        qualities: list[int | None] = [None, SMALLER_QUALITY] if keep else [CONVERTED_QUALITY, SMALLER_QUALITY]
        if target == "PNG":
            qualities = [None]
        elif keep and len(self.data) * (size[0] * size[1]) / (full[0] * full[1]) > limits.max_bytes * 1.2:
            qualities = [SMALLER_QUALITY]  # far too heavy at its own quality: do not spend an encoding to see it
        data = b""
        for quality in qualities:
            data = self.encode(size, target, quality)
            if len(data) <= limits.max_bytes:
                return data, size
        # Bytes follow the pixel count closely enough that the last try predicts the next size; each try
        # shrinks by at least 3 % so the search ends (in practice after one or two tries).
        for _ in range(MAX_TRIES):
            size = scaled(*size, min(0.97, math.sqrt(limits.max_bytes * AIM / len(data))))
            if max(size) < MIN_SIDE:
                break
            data = self.encode(size, target, qualities[-1])
            if len(data) <= limits.max_bytes:
                return data, size
        raise ImageUnfit(
            f"cannot be brought under {platform}'s {megabytes(limits.max_bytes)} by scaling it down (to "
            f"{size[0]}x{size[1]} px it is still {megabytes(len(data))}); save it as a JPEG photo or simplify it"
        )

    def encode(self, size: tuple[int, int], target: str, quality: int | None) -> bytes:
        key = (*size, target, quality)
        if key not in self._encoded:
            self._encoded[key] = _encode(self.resized(size, target), target, quality, self)
        return self._encoded[key]

    def resized(self, size: tuple[int, int], target: str) -> PILImage:
        from PIL import Image

        key = (*size, target)
        if key not in self._resized:
            image = _encodable(self.upright, target)
            if image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            self._resized = {key: image}  # the last one only: a full-size photo is 100 MB decoded
        return self._resized[key]


def _target_format(fmt: str, image: PILImage, limits: ImageLimits) -> str:
    fmt = "JPEG" if fmt == "MPO" else fmt  # a camera's multi-picture JPEG: its first picture is the photo
    if fmt in limits.formats:
        return fmt
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return "PNG" if has_alpha or fmt == "GIF" or "JPEG" not in limits.formats else "JPEG"


def _encodable(image: PILImage, target: str) -> PILImage:
    """``image`` in a mode ``target`` can store, with its transparency where the format keeps one."""
    mode = image.mode
    if target == "JPEG":
        if mode in ("RGB", "L", "CMYK"):
            return image
        if mode in ("RGBA", "LA", "PA", "P") and (mode != "P" or "transparency" in image.info):
            # JPEG has no transparency: lay the picture on white, as the platforms would show it.
            rgba = image.convert("RGBA")
            from PIL import Image

            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")
    if mode in ("1", "P", "PA", "I;16", "I;16B", "I;16L", "I", "F"):
        keep_alpha = mode == "PA" or "transparency" in image.info
        converted = image.convert("RGBA" if keep_alpha else "RGB")
        converted.info = {}
        return converted
    return image


def _encode(image: PILImage, target: str, quality: int | None, source: _Source) -> bytes:
    from PIL import JpegImagePlugin

    out = io.BytesIO()
    extra: dict[str, object] = {"icc_profile": source.icc} if source.icc else {}
    if target == "JPEG":
        if quality is None and source.tables:
            sampling = JpegImagePlugin.get_sampling(source.image)
            extra["qtables"] = source.tables
            if sampling != -1:
                extra["subsampling"] = sampling
        else:
            extra["quality"] = quality or CONVERTED_QUALITY
        image.save(out, "JPEG", optimize=True, **extra)
    elif target == "WEBP":
        image.save(out, "WEBP", quality=quality or CONVERTED_QUALITY, **extra)
    else:
        image.save(out, target, **extra)
    return out.getvalue()
