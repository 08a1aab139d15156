"""An emulator of the Graph API, as far as a Page's feed goes.

It checks what Graph checks for the calls crosspost makes: a versioned path
(versions below v21.0, expired by December 2026, and unversioned calls are refused), the Page access
token (query or body ``access_token``, or an ``Authorization: OAuth``/``Bearer``
header), required parameters and their formats, the message limit, real image
uploads (Pillow) in the formats Graph documents (JPEG, BMP, PNG, GIF, TIFF: no
WebP), ``appsecret_proof`` when the app requires it (``app_secret`` set: Meta's
"Require App Secret"), single use of unpublished photos and duplicate messages. It
answers with Graph's documented shapes: ``{"id": ...}`` on success and
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`` on
failure.

Served: ``GET /me``, ``GET /{page}``, ``GET /{object}``, ``GET /{page}/feed``
(also ``/posts``, ``/published_posts``), ``POST /{page}/feed``,
``POST /{page}/photos``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from crosspost.sandbox.core import Emulator, SandboxRequest, SandboxResponse, WallImage, WallPost, render_wall

MAX_MESSAGE = 63206
OLDEST_VERSION = (21, 0)  # v20.0 expired 2026-09-24; v21.0 is served until 2027-01-21 (Graph changelog)
# "Facebook supports the following formats: JPEG, BMP, PNG, GIF, TIFF" (photo-uploads guide): Pillow's names.
# MPO is Pillow's name for a camera JPEG with a second picture inside: a JPEG file all the same.
PHOTO_MIMES = ("image/jpeg", "image/mpo", "image/bmp", "image/png", "image/gif", "image/tiff")
# Graph refuses the same status text twice in a row for some time; a day is a safe model of it.
DUPLICATE_WINDOW = 24 * 3600
PAGE_NAME = "crosspost sandbox Page"
FEED_EDGES = ("feed", "posts", "published_posts")
DEFAULT_FEED_FIELDS = ("created_time", "message", "id")

_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)?$")
# Unversioned Graph paths we claim (only to refuse them): /me and long numeric ids. Short numbers are
# left alone because /2/... and /1.1/... belong to the X API.
_UNVERSIONED = re.compile(r"^/(me|\d{5,}(_\d+)?)(/[A-Za-z_]+)?/?$")


@dataclass
class _Photo:
    id: str
    sha256: str
    data: bytes
    mime: str
    alt: str | None
    published: bool
    used_by: str | None = None


@dataclass
class _Post:
    id: str
    message: str
    link: str | None
    photos: list[_Photo] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    author: tuple[str, str] | None = None  # (id, name) of a visitor; None: the Page itself

    def url(self) -> str:
        return f"https://www.facebook.com/{self.id}"


class _GraphError(Exception):
    """Raised inside handlers; becomes Graph's error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        type_: str = "OAuthException",
        transient: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.subcode = status, code, message, subcode
        self.type, self.transient, self.headers = type_, transient, headers or {}


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    type_: str = "OAuthException",
    transient: bool = False,
    headers: dict[str, str] | None = None,
) -> SandboxResponse:
    """Graph's documented error body."""
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    error["fbtrace_id"] = base64.b64encode(secrets.token_bytes(8)).decode().rstrip("=")
    return SandboxResponse.json({"error": error}, status, headers=headers)


class FacebookEmulator(Emulator):
    """One Page, reachable with one Page access token."""

    name = "facebook"
    title = "Facebook Page"

    def __init__(self, *, page_id: str, page_access_token: str) -> None:
        super().__init__()
        self.page_id = str(page_id)
        self.token = page_access_token
        self.posts: list[_Post] = []
        self.photos: dict[str, _Photo] = {}
        self.next_id = 1
        # The app's secret when the app has "Require App Secret" on (tests set it): every call then needs
        # appsecret_proof = HMAC-SHA256 of its access token keyed with this secret, in hex.
        self.app_secret: str | None = None

    # ------------------------------------------------------------ Emulator

    def owns(self, path: str) -> bool:
        return bool(_VERSIONED.match(path) or _UNVERSIONED.match(path))

    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        try:
            with self.lock:
                return self._route(request)
        except _GraphError as exc:
            return graph_error(
                exc.status,
                exc.code,
                exc.message,
                subcode=exc.subcode,
                type_=exc.type,
                transient=exc.transient,
                headers=exc.headers,
            )

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "posts": [
                    {
                        "id": p.id,
                        "text": p.message,
                        "images": [{"sha256": ph.sha256, "alt": ph.alt} for ph in p.photos],
                        "link": p.link,
                        "reply_to": None,
                        "created_at": p.created_at,
                        "url": p.url(),
                    }
                    for p in self.posts
                ],
                "unpublished_photos": sorted(i for i, ph in self.photos.items() if not ph.published and not ph.used_by),
            }

    def render_html(self) -> str:
        with self.lock:
            posts = list(self.posts)
        return render_wall(
            WallPost(
                post.message,
                post.created_at,
                post.url(),
                label=post.id,
                images=[WallImage(ph.mime, ph.data, ph.alt or "") for ph in post.photos],
                extra=_link_html(post.link) if post.link else "",
            )
            for post in posts
        )

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A post made outside crosspost: ``text``, ``images`` (a count), ``link``, ``visitor`` (a person's post)."""
        with self.lock:
            photos = []
            for n in range(int(spec.get("images", 0))):
                data = f"seeded photo {self.next_id} {n}".encode()
                photo = _Photo(self._new_id(), hashlib.sha256(data).hexdigest(), data, "image/png", None, True)
                self.photos[photo.id] = photo
                photos.append(photo)
            post = _Post(
                id=f"{self.page_id}_{self._new_id()}",
                message=str(spec.get("text", "")),
                link=spec.get("link"),
                photos=photos,
                author=("100000777", "A Visitor") if spec.get("visitor") else None,
            )
            for photo in photos:
                photo.used_by = post.id
            self.posts.append(post)
            return {"id": post.id, "text": post.message}

    def reset(self) -> None:
        with self.lock:
            self.posts.clear()
            self.photos.clear()
            self.next_id = 1

    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        if kind == "auth":
            return graph_error(
                401,
                190,
                "Error validating access token: Session has expired on Monday, 01-Jan-24 "
                "00:00:00 PST. The current time is later.",
                subcode=463,
            )
        if kind == "permission":
            if request.method == "GET":
                return graph_error(
                    403,
                    10,
                    "(#10) This endpoint requires the 'pages_read_engagement' permission or "
                    "the 'Page Public Content Access' feature.",
                )
            return graph_error(
                403,
                200,
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
            )
        if kind == "duplicate":
            return graph_error(400, 506, "(#506) Duplicate status message")
        if kind == "rate_limit":
            minutes = max(1, math.ceil(reset_in / 60)) if reset_in > 0 else 0
            usage = {
                self.page_id: [
                    {
                        "type": "pages",
                        "call_count": 100,
                        "total_cputime": 20,
                        "total_time": 25,
                        "estimated_time_to_regain_access": minutes,
                    }
                ]
            }
            return graph_error(
                400,
                80001,
                "There have been too many calls to this Page account. Wait a bit and try "
                "again. For more info, please refer to https://developers.facebook.com/docs/graph-api/"
                "overview/rate-limiting.",
                type_="OAuthException",
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        if kind == "server":
            return graph_error(
                500, 2, "An unexpected error has occurred. Please retry your request later.", transient=True
            )
        return graph_error(400, 100, "(#100) Invalid parameter", type_="OAuthException")

    # ------------------------------------------------------------ routing

    def _route(self, request: SandboxRequest) -> SandboxResponse | None:
        match = _VERSIONED.match(request.path)
        if not match or (int(match.group(1)), int(match.group(2))) < OLDEST_VERSION:
            shown = f"v{match.group(1)}.{match.group(2)}" if match else "unversioned"
            raise _GraphError(
                400,
                2635,
                f"(#2635) You are calling a deprecated version of the Graph API ({shown}). "
                "Please update to the latest version: v24.0.",
            )
        params = request.params()
        self._authenticate(request, params)
        segments = [s for s in (match.group(3) or "/").split("/") if s]
        if len(segments) == 1 and request.method == "GET":
            return self._get_object(segments[0], params)
        if len(segments) == 2:
            node, edge = segments
            node = self.page_id if node == "me" else node
            if node != self.page_id:
                raise self._no_object(node, request.method)
            if edge in FEED_EDGES and request.method == "GET":
                return self._read_feed(request, params)
            if edge == "feed" and request.method == "POST":
                return self._post_feed(params)
            if edge == "photos" and request.method == "POST":
                return self._post_photo(request, params)
        raise _GraphError(400, 100, f"Unknown path components: /{'/'.join(segments[1:]) or segments[0]}")

    def _authenticate(self, request: SandboxRequest, params: dict[str, str]) -> None:
        token = params.get("access_token")
        header = request.headers.get("authorization", "")
        if token is None and header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() in ("oauth", "bearer"):
                token = value.strip()
        if not token:
            raise _GraphError(
                400, 2500, "An active access token must be used to query information about the current user."
            )
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            raise _GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret is not None:
            self._check_proof(token, params.get("appsecret_proof"))

    def _check_proof(self, token: str, proof: str | None) -> None:
        """Graph's answers for an app that requires ``appsecret_proof`` (php-graph-sdk #984, oauth2-facebook #17)."""
        if not proof:
            raise _GraphError(
                400, 100, "API calls from the server require an appsecret_proof argument", type_="GraphMethodException"
            )
        wanted = hmac.new((self.app_secret or "").encode(), token.encode(), hashlib.sha256).hexdigest()
        if not secrets.compare_digest(proof.encode(), wanted.encode()):
            raise _GraphError(
                400, 100, "Invalid appsecret_proof provided in the API argument", type_="GraphMethodException"
            )

    def _no_object(self, node: str, method: str) -> _GraphError:
        verb = "get" if method == "GET" else "post"
        return _GraphError(
            400,
            100,
            f"Unsupported {verb} request. Object with ID '{node}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation. Please read the "
            "Graph API documentation at https://developers.facebook.com/docs/graph-api",
            subcode=33,
            type_="GraphMethodException",
        )

    # ------------------------------------------------------------ reads

    def _fields(self, params: dict[str, str], default: tuple[str, ...]) -> list[str]:
        raw = params.get("fields")
        return [f.strip() for f in raw.split(",") if f.strip()] if raw else list(default)

    def _get_object(self, node: str, params: dict[str, str]) -> SandboxResponse:
        if node in ("me", self.page_id):
            page = {
                "id": self.page_id,
                "name": PAGE_NAME,
                "link": f"https://www.facebook.com/{self.page_id}",
                "category": "Government organization",
            }
            return SandboxResponse.json(self._pick(page, self._fields(params, ("id", "name"))))
        for post in self.posts:
            if post.id == node:
                return SandboxResponse.json(self._pick(self._post_fields(post), self._fields(params, ("id",))))
        photo = self.photos.get(node)
        if photo is not None:
            return SandboxResponse.json({"id": photo.id})
        raise self._no_object(node, "GET")

    @staticmethod
    def _pick(obj: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        unknown = [f for f in fields if f not in obj and f not in ("message", "link", "attachments", "from")]
        if unknown:
            raise _GraphError(400, 100, f"(#100) Tried accessing nonexisting field ({unknown[0]})")
        picked = {f: obj[f] for f in fields if f in obj}
        picked["id"] = obj["id"]  # Graph always answers the id
        return picked

    def _post_fields(self, post: _Post) -> dict[str, Any]:
        when = datetime.fromtimestamp(post.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        data: dict[str, Any] = {
            "id": post.id,
            "created_time": when,
            "permalink_url": post.url(),
            "is_published": True,
            "status_type": "added_photos" if post.photos else "mobile_status_update",
        }
        if post.message:  # Graph leaves the field out when there is no text
            data["message"] = post.message
        if post.link:
            data["link"] = post.link
        author = post.author or (self.page_id, PAGE_NAME)
        data["from"] = {"id": author[0], "name": author[1]}
        attachments = self._attachments_of(post)
        if attachments:  # Graph leaves the edge out of a post with nothing attached
            data["attachments"] = {"data": attachments}
        return data

    @staticmethod
    def _attachments_of(post: _Post) -> list[dict[str, Any]]:
        """The post's ``attachments`` edge as Graph shapes it: a photo, an album of photos, or a link share."""

        def photo(ph: _Photo) -> dict[str, Any]:
            url = f"https://www.facebook.com/photo.php?fbid={ph.id}"
            return {"type": "photo", "target": {"id": ph.id, "url": url}, "url": url, "description": ph.alt or ""}

        if len(post.photos) == 1:
            return [photo(post.photos[0])]
        if post.photos:
            return [{"type": "album", "subattachments": {"data": [photo(ph) for ph in post.photos]}}]
        if post.link:
            shim = "https://l.facebook.com/l.php?" + urlencode({"u": post.link})
            return [{"type": "share", "url": shim, "unshimmed_url": post.link, "target": {"url": shim}}]
        return []

    def _read_feed(self, request: SandboxRequest, params: dict[str, str]) -> SandboxResponse:
        since = _timestamp(params.get("since"), "since")
        until = _timestamp(params.get("until"), "until")
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            raise _GraphError(400, 100, "(#100) Param limit must be a number") from None
        limit = max(1, min(limit, 100))
        fields = self._fields(params, DEFAULT_FEED_FIELDS)
        rows = [
            p
            for p in reversed(self.posts)
            if (since is None or p.created_at >= since) and (until is None or p.created_at <= until)
        ]
        offset = _decode_cursor(params.get("after"))
        page = rows[offset : offset + limit]
        body: dict[str, Any] = {"data": [self._pick(self._post_fields(p), fields) for p in page]}
        if page:
            cursors = {"before": _cursor(offset), "after": _cursor(offset + len(page))}
            body["paging"] = {"cursors": cursors}
            if offset + len(page) < len(rows):
                query = {k: v for k, v in params.items() if k != "after"}
                query["after"] = cursors["after"]
                body["paging"]["next"] = f"https://graph.facebook.com{request.path}?{urlencode(query)}"
        return SandboxResponse.json(body)

    # ------------------------------------------------------------ writes

    def _new_id(self) -> str:
        value = str(100000000000000 + self.next_id * 7919)
        self.next_id += 1
        return value

    def _post_feed(self, params: dict[str, str]) -> SandboxResponse:
        message = params.get("message", "")
        link = params.get("link") or None
        media = self._attached_media(params)
        if not message and not link and not media:
            raise _GraphError(400, 100, "(#100) Missing message or attachment")
        if link is not None and not _is_url(link):
            raise _GraphError(400, 100, "(#100) The link is not a valid URL: it must start with http:// or https://")
        if link is not None and media:
            # A feed post carries either a link preview or attached photos, not both.
            raise _GraphError(400, 100, "(#100) link cannot be combined with attached_media")
        post = self._create_post(message, link, media)
        return SandboxResponse.json({"id": post.id})

    def _attached_media(self, params: dict[str, str]) -> list[_Photo]:
        items: list[tuple[int, str]] = []
        for key, value in params.items():
            m = re.fullmatch(r"attached_media\[(\d+)\]", key)
            if m:
                items.append((int(m.group(1)), value))
        if "attached_media" in params:  # the JSON-array form
            try:
                array = json.loads(params["attached_media"])
            except ValueError:
                raise _GraphError(400, 100, "(#100) param attached_media must be an array.") from None
            items.extend((i, json.dumps(v)) for i, v in enumerate(array if isinstance(array, list) else [array]))
        photos: list[_Photo] = []
        for _, raw in sorted(items):
            try:
                fbid = str(json.loads(raw)["media_fbid"])
            except (ValueError, KeyError, TypeError):
                raise _GraphError(
                    400, 100, '(#100) attached_media entries must be JSON like {"media_fbid": "ID"}'
                ) from None
            photo = self.photos.get(fbid)
            if photo is None or photo.published or photo.used_by:
                raise _GraphError(
                    400,
                    100,
                    f"(#100) Photo {fbid} cannot be attached: it does not exist, is already "
                    "published or was used in another post",
                )
            photos.append(photo)
        return photos

    def _create_post(self, message: str, link: str | None, photos: list[_Photo]) -> _Post:
        if len(message) > MAX_MESSAGE:
            raise _GraphError(400, 100, f"(#100) The message is too long: at most {MAX_MESSAGE} characters")
        now = time.time()
        if message and any(
            p.author is None and p.message == message and now - p.created_at < DUPLICATE_WINDOW for p in self.posts
        ):
            raise _GraphError(400, 506, "(#506) Duplicate status message")
        post = _Post(id=f"{self.page_id}_{self._new_id()}", message=message, link=link, photos=photos, created_at=now)
        for photo in photos:
            photo.used_by = post.id
        self.posts.append(post)
        return post

    def _post_photo(self, request: SandboxRequest, params: dict[str, str]) -> SandboxResponse:
        files = [f for f in request.files() if f.name == "source"]
        if not files:
            if params.get("url"):
                raise _GraphError(400, 324, "(#324) The sandbox cannot fetch a photo url; upload the file as source")
            raise _GraphError(400, 324, "(#324) Requires upload file")
        data = files[0].data
        mime = _image_mime(data)
        if mime is None:
            raise _GraphError(400, 324, "(#324) Missing or invalid image file")
        if mime not in PHOTO_MIMES:
            raise _GraphError(
                400, 324, f"(#324) Unsupported image format ({mime}): upload a JPEG, BMP, PNG, GIF or TIFF photo"
            )
        published = params.get("published", "true").lower() not in ("false", "0")
        alt = params.get("alt_text_custom") or None
        photo = _Photo(
            id=self._new_id(),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            mime=mime,
            alt=alt,
            published=published,
        )
        if not published:
            self.photos[photo.id] = photo
            return SandboxResponse.json({"id": photo.id})
        post = self._create_post(params.get("caption", params.get("message", "")), None, [])
        photo.used_by = post.id
        post.photos.append(photo)
        self.photos[photo.id] = photo
        return SandboxResponse.json({"id": photo.id, "post_id": post.id})


def _timestamp(value: str | None, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise _GraphError(400, 100, f"(#100) The parameter {name} must be a unix timestamp or a date") from None


def _link_html(link: str) -> str:
    """A shared link under the post's text, as the Page shows it."""
    return f"<div><a href='{html.escape(link)}'>{html.escape(link)}</a></div>"


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _decode_cursor(value: str | None) -> int:
    if not value:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(value.encode()).decode()))
    except ValueError:
        raise _GraphError(400, 100, "(#100) Invalid cursor") from None


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def _image_mime(data: bytes) -> str | None:
    """The MIME type if ``data`` is a whole image Pillow can read, else None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return Image.MIME.get(kind or "", "image/jpeg")
