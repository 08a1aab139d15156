"""Image upload to X through the v2 media endpoints (tweepy 4.17 has only the retired v1.1 upload).

Which form, and why: X documents three. We send still images with the one-shot
``POST /2/media/upload`` (multipart: the ``media`` file and
``media_category=tweet_image``, nothing else: the schema since OpenAPI 2.167
lists ``media``, ``media_category`` and ``additional_owners`` and forbids other
fields, so ``media_type`` would be refused): one request per image, nothing
half-finished to clean up, and images are far below its 5 MB limit. GIFs are
the exception: the one-shot form does not take ``image/gif``, so they go
through ``/2/media/upload/initialize``, ``/{id}/append``, ``/{id}/finalize``
with ``tweet_gif``, and their processing state is checked before they are
attached (never waited for: a pending GIF is a Transient with X's
``check_after_secs``). Alt text: ``POST /2/media/metadata``.

Requests go on the adapter's session (so ``api_base`` and the timeout apply),
signed by tweepy's ``OAuth1UserHandler(...).apply_auth()``. Every POST here
makes something the post then depends on (an upload, its alt text): it is a
publishing request, so a 5xx, a dropped connection or a garbled answer is
Ambiguous (:func:`~crosspost.adapters.transport.unclear`), and
``progress.checkpoint()`` runs right before it. The STATUS read is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from crosspost.adapters.base import Rejected, Transient
from crosspost.adapters.transport import network_error, unclear
from crosspost.model import Image, Progress
from crosspost.platforms.twitter import errors as twitter_errors
from crosspost.redact import redact

# X documents api.x.com (openapi ``servers``); tweepy's calls are moved there too (adapter.XHostSession),
# so every OAuth 1.0a signature of an account is made for the one host its requests go to.
API = "https://api.x.com/2/media"
MAX_IMAGES = 4
ONE_SHOT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "image/pjpeg")
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def sniff(data: bytes) -> str:
    """The image's MIME type from its first bytes (the file name may lie)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    return ""


class MediaUploader:
    """Uploads a draft's images once each, recording their ids in ``progress.media`` by sha256."""

    def __init__(self, session: requests.Session, auth: Any, secrets: Iterable[str]) -> None:
        self.session = session
        self.auth = auth
        self.secrets = tuple(secrets)

    def media_ids(self, images: Sequence[Image], progress: Progress) -> list[str]:
        """The X media ids for ``images``, uploading those not in ``progress`` yet; alt text set on each."""
        if len(images) > MAX_IMAGES:
            raise Rejected(
                f"X takes at most {MAX_IMAGES} images per post, this one has {len(images)}", platform="twitter"
            )
        ids = []
        for image in images:
            data = self._read(image)
            sha = image.sha256 or hashlib.sha256(data).hexdigest()
            mime = sniff(data) or image.mime
            media_id = progress.media.get(sha)
            reused = media_id is not None
            if media_id is None:
                media_id = self._upload(data, mime, progress)
                progress.add_media(sha, media_id)
            try:
                if mime == "image/gif":
                    self._check_processed(media_id, progress)
                if image.alt:
                    # Always (re)applied: an earlier try may have uploaded the image and failed before its alt.
                    self._call(
                        "POST",
                        f"{API}/metadata",
                        progress,
                        json={"id": media_id, "metadata": {"alt_text": {"text": image.alt}}},
                    )
            except Rejected:
                if not reused:
                    raise
                progress.forget_media([sha])
                raise media_expired() from None
            ids.append(media_id)
        return ids

    # ------------------------------------------------------------ the forms

    def _upload(self, data: bytes, mime: str, progress: Progress) -> str:
        if mime in ONE_SHOT_TYPES:
            answer = self._call(
                "POST",
                f"{API}/upload",
                progress,
                files={"media": ("image", data, mime)},
                data={"media_category": "tweet_image"},
            )
            return self._id(answer)
        if mime != "image/gif":
            raise Rejected(f"X does not take this image type ({mime or 'unknown'})", platform="twitter")
        init = {"media_type": mime, "total_bytes": len(data), "media_category": "tweet_gif"}
        media_id = self._id(self._call("POST", f"{API}/upload/initialize", progress, json=init))
        self._call(
            "POST",
            f"{API}/upload/{media_id}/append",
            progress,
            files={"media": ("image", data, mime)},
            data={"segment_index": "0"},
        )
        self._id(self._call("POST", f"{API}/upload/{media_id}/finalize", progress))
        return media_id

    def _check_processed(self, media_id: str, progress: Progress) -> None:
        answer = self._call("GET", f"{API}/upload", progress, params={"command": "STATUS", "media_id": media_id})
        info = (answer.get("data") or {}).get("processing_info") or {}
        state = info.get("state", "succeeded")
        if state == "failed":
            error = info.get("error") or {}
            raise Rejected(
                redact(f"X could not process the GIF: {error.get('message', state)}", self.secrets), platform="twitter"
            )
        if state != "succeeded":
            wait = info.get("check_after_secs")
            raise Transient(
                f"X is still processing the GIF ({state})",
                retry_after=float(wait) if isinstance(wait, int | float) else None,
                platform="twitter",
            )

    # ------------------------------------------------------------ plumbing

    def _read(self, image: Image) -> bytes:
        try:
            return image.path.read_bytes()
        except OSError as exc:
            raise Rejected(f"cannot read image {image.path.name}: {exc.strerror}", platform="twitter") from None

    def _id(self, answer: dict[str, Any]) -> str:
        nested = answer.get("data")
        data: dict[str, Any] = nested if isinstance(nested, dict) else answer
        value = data.get("id") or data.get("media_id_string") or data.get("media_id")
        if not value or not str(value).strip():
            raise unclear("X answered the media upload without a media id", publishing=True, platform="twitter")
        return str(value)

    def _call(self, method: str, url: str, progress: Progress, **kwargs: Any) -> dict[str, Any]:
        publishing = method == "POST"  # every POST here makes an upload or sets its alt text
        if publishing:
            progress.checkpoint()
        try:
            response = self.session.request(method, url, auth=self.auth, **kwargs)
        except requests.RequestException as exc:
            raise network_error(exc, "twitter", self.secrets, publishing=publishing) from None
        if not response.ok:
            raise twitter_errors.classify(response, self.secrets, publishing=publishing)
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise unclear(
                "X answered a media request with a garbled body",
                publishing=publishing,
                code=response.status_code,
                platform="twitter",
            ) from None
        return answer if isinstance(answer, dict) else {}


def media_expired() -> Transient:
    """X refused media ids an earlier try uploaded: they expire (after about a day). Upload again next try."""
    return Transient(
        "X no longer knows the images an earlier try uploaded (its media ids expire after about a day); "
        "they are uploaded again on the next try",
        platform="twitter",
    )
