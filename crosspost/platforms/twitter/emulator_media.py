"""X's v2 media upload, as the emulator serves it.

Three documented forms reach the same store, because independent clients use
any of them: the one-shot ``POST /2/media/upload`` (multipart ``media`` or
base64 JSON ``media``, with ``media_category`` and nothing else), the older
``command=INIT|APPEND|FINALIZE|STATUS`` form on that same path, and the
dedicated ``/2/media/upload/initialize``, ``/{id}/append``, ``/{id}/finalize``.
Alt text arrives through ``POST /2/media/metadata`` (or ``/metadata/create``).
Bytes are kept so the sandbox page can show them; they must be a real image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError

# The one-shot upload's fields (OpenAPI 2.167 ``MediaUploadRequest``, additionalProperties false).
ONE_SHOT_FIELDS = ("media", "media_category", "additional_owners")
CATEGORIES = ("tweet_image", "tweet_gif", "tweet_video", "amplify_video", "dm_image", "dm_gif", "dm_video", "subtitles")
IMAGE_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_GIF_BYTES = 15 * 1024 * 1024
EXPIRES_AFTER = 86400
MAX_ALT = 1000


class MediaProblem(Exception):
    """A media request X would refuse with 400 Invalid Request; ``parameter`` names the field."""

    def __init__(self, message: str, parameter: str = "media") -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


@dataclass
class Media:
    id: str
    owner: str
    category: str
    media_type: str = ""
    total_bytes: int = 0
    chunks: dict[int, bytes] = field(default_factory=dict)
    data: bytes = b""
    ready: bool = False
    alt: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return f"3_{self.id}" if self.category.endswith("image") else f"16_{self.id}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def expired(self, now: float) -> bool:
        return now > self.created + EXPIRES_AFTER

    def answer(self) -> dict[str, Any]:
        """The ``data`` object X returns for an upload (no processing_info: images need none)."""
        out: dict[str, Any] = {"id": self.id, "media_key": self.key, "expires_after_secs": EXPIRES_AFTER}
        if self.ready:
            out["size"] = len(self.data)
            out["processing_info"] = {"state": "succeeded", "progress_percent": 100}
        return out


def decode_b64(text: str, parameter: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MediaProblem(f"{parameter} is not valid base64", parameter) from None


def check_image(data: bytes, category: str) -> str:
    """The MIME type of ``data`` if it is a whole image X takes for ``category``, else MediaProblem."""
    if not data:
        raise MediaProblem("media is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise MediaProblem("media type unrecognized: the bytes are not an image") from None
    if kind not in IMAGE_FORMATS:
        raise MediaProblem(f"media type {kind or 'unknown'} is not supported")
    limit = MAX_GIF_BYTES if category.endswith("gif") else MAX_IMAGE_BYTES
    if len(data) > limit:
        raise MediaProblem(f"media is larger than {limit} bytes")
    return IMAGE_FORMATS[kind]


def check_category(value: str | None, required: bool) -> str:
    if not value:
        if required:
            raise MediaProblem("media_category is required", "media_category")
        return "tweet_image"
    if value not in CATEGORIES:
        raise MediaProblem(f"media_category [{value}] is not one of {list(CATEGORIES)}", "media_category")
    return value


def finish(media: Media) -> None:
    """Join the appended segments in order and check them (FINALIZE)."""
    if media.ready:
        return
    if not media.chunks:
        raise MediaProblem("no segments were appended before FINALIZE", "media_id")
    indexes = sorted(media.chunks)
    if indexes != list(range(len(indexes))):
        raise MediaProblem("segments are missing: segment_index must run 0, 1, 2, ...", "segment_index")
    data = b"".join(media.chunks[i] for i in indexes)
    if media.total_bytes and len(data) != media.total_bytes:
        raise MediaProblem(f"total_bytes was {media.total_bytes} but {len(data)} bytes were appended", "total_bytes")
    media.media_type = check_image(data, media.category)
    media.data = data
    media.chunks.clear()
    media.ready = True
