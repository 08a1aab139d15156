"""A local emulator of the VK API for one community wall, as the VK docs describe it.

Served paths: ``/method/<name>`` (GET query or POST form, ``access_token`` and
``v`` in either) and the photo upload server ``/upload/vk/<key>`` whose URL
``photos.getWallUploadServer`` hands out. Errors come the way VK sends them:
HTTP 200 with ``{"error": {"error_code", "error_msg", "request_params"}}``.

What it checks, because VK does: the token, the API version (VK refuses
versions below 5.131), required parameters, that the wall is the community's
and the user may post there, that attachments are photos saved here (at most
10), the text limit, and that an upload holds exactly one real image in a
format VK lists (JPG, PNG, GIF: WebP is refused). A repeated ``guid`` on the
same wall returns the first post's id instead of a second post.

VK ID (``/authorize``, ``/oauth2/auth``: :mod:`.emulator_id`): its access
tokens are accepted until they expire, then answered with error 1117. Faults
``flood`` (error 9) and ``expired`` (1117) answer on demand.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from crosspost.platforms.vk.emulator_id import DEFAULT_CLIENT_ID, DEFAULT_LIFETIME, VkIdServer
from crosspost.sandbox.core import Emulator, SandboxRequest, SandboxResponse, WallImage, WallPost, render_wall

MIN_VERSION = (5, 131)
# groups.getById answers {"groups": [...], "profiles": [...]} from this version on; a bare list before.
GROUPS_OBJECT_VERSION = (5, 194)
MAX_TEXT = 16384
MAX_ATTACHMENTS = 10
UPLOAD_FORMATS = ("JPEG", "PNG", "GIF")
RIGHT_PHOTOS, RIGHT_WALL, RIGHT_GROUPS = 4, 8192, 262144
USER_ID = 1000001
USER_NAME = ("Sandbox", "Admin")

_ATTACHMENT = re.compile(r"photo(-?\d+)_(\d+)(?:_[0-9a-f]+)?")


class VkApiError(Exception):
    """An API error to answer in VK's shape."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class _Photo:
    id: int
    owner_id: int
    sha256: str
    data: bytes
    mime: str
    width: int
    height: int
    date: int

    def as_api(self) -> dict[str, Any]:
        url = f"https://sun1-1.userapi.com/sandbox/{self.sha256[:16]}.jpg"
        return {
            "id": self.id,
            "album_id": -14,
            "owner_id": self.owner_id,
            "user_id": 100,
            "date": self.date,
            "text": "",
            "has_tags": False,
            "sizes": [{"type": "x", "url": url, "width": self.width, "height": self.height}],
        }


@dataclass
class _Post:
    id: int
    owner_id: int
    from_id: int
    date: float
    text: str
    photos: list[_Photo]
    link: str | None
    guid: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://vk.com/wall{self.owner_id}_{self.id}"


class VkEmulator(Emulator):
    """One VK community (``group_id``) whose admin holds the user token ``access_token``."""

    name = "vk"
    title = "VK community wall"

    def __init__(
        self,
        *,
        group_id: str | int,
        access_token: str,
        vk_id_client_id: str | int = DEFAULT_CLIENT_ID,
        token_lifetime: int | str = DEFAULT_LIFETIME,  # str: as the sandbox's credential tables give values
    ) -> None:
        super().__init__()
        self.group_id = int(group_id)
        self.access_token = access_token  # the long-lived form; VK ID tokens come from self.vk_id
        self.vk_id = VkIdServer(vk_id_client_id, int(token_lifetime))
        # What account.getAppPermissions answers: wall (8192), photos (4), groups (262144).
        self.rights = RIGHT_WALL | RIGHT_PHOTOS | RIGHT_GROUPS
        self.group_name = "crosspost sandbox community"
        self.reset()

    # ------------------------------------------------------------ Emulator

    def owns(self, path: str) -> bool:
        return path.startswith("/method/") or path.startswith("/upload/vk/") or self.vk_id.owns(path)

    def reset(self) -> None:
        self.vk_id.reset()
        self.rights = RIGHT_WALL | RIGHT_PHOTOS | RIGHT_GROUPS
        with self.lock:
            self.posts: list[_Post] = []
            self.photos: dict[int, _Photo] = {}
            self.uploads: dict[str, tuple[int, bytes, str, int, int]] = {}  # hash -> server, bytes, mime, w, h
            self.upload_keys: set[str] = set()
            self.next_post = 1
            self.next_photo = 456239001

    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path.startswith("/upload/vk/"):
            return self._upload(request)
        if self.vk_id.owns(request.path):
            return self.vk_id.handle(request)
        method = request.path[len("/method/") :]
        params = request.params()
        try:
            self._check_version(params)
            self._check_token(params.get("access_token", ""))
            with self.lock:
                if method == "photos.getWallUploadServer":
                    # The upload URL names the host the client reached, as VK names its upload host.
                    return SandboxResponse.json({"response": self.photos_get_wall_upload_server(params, request.host)})
                handler = _METHODS.get(method)
                if handler is None:
                    raise VkApiError(3, "Unknown method passed")
                return SandboxResponse.json({"response": handler(self, params)})
        except VkApiError as exc:
            return self._error_response(exc, method, params)

    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        method = request.path.rsplit("/", 1)[-1]
        params = request.params()
        if kind == "auth":
            exc = VkApiError(5, "User authorization failed: invalid access_token (4).")
        elif kind == "permission":
            if method == "wall.post":
                exc = VkApiError(214, "Access to adding post denied: access to the wall is closed")
            else:
                exc = VkApiError(15, "Access denied: no access to call this method")
        elif kind == "duplicate":
            # VK has no duplicate-content error; repeating one action too often is "flood control".
            exc = VkApiError(9, "Flood control: too many identical actions")
        elif kind == "flood":
            exc = VkApiError(9, "Flood control: too many actions")
        elif kind == "expired":
            exc = VkApiError(1117, "Access token has expired")
        elif kind == "rate_limit":
            exc = VkApiError(6, "Too many requests per second")
        elif kind == "server":
            exc = VkApiError(10, "Internal server error: could not complete the request")
        elif kind == "captcha":
            sid = str(secrets.randbelow(10**12))
            exc = VkApiError(
                14, "Captcha needed", captcha_sid=sid, captcha_img=f"https://api.vk.ru/captcha.php?sid={sid}&s=1"
            )
        else:
            exc = _invalid("message is undefined")
        return self._error_response(exc, method, params)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "posts": [
                    {
                        "id": f"{p.owner_id}_{p.id}",
                        "text": p.text,
                        "images": [{"sha256": ph.sha256, "alt": None} for ph in p.photos],
                        "link": p.link,
                        "reply_to": None,
                        "created_at": p.date,
                        "url": p.url,
                        "from_id": p.from_id,
                        "guid": p.guid,
                    }
                    for p in self.posts
                ]
            }

    def render_html(self) -> str:
        with self.lock:
            posts = list(self.posts)
        return render_wall(
            WallPost(post.text, post.date, post.url, images=[WallImage(ph.mime, ph.data) for ph in post.photos])
            for post in posts
        )

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A post made outside crosspost: ``text``, ``images`` (a count), ``visitor`` (by a user, not the community)."""
        with self.lock:
            photos = []
            for n in range(int(spec.get("images", 0))):
                data = f"seeded photo {self.next_photo} {n}".encode()
                photo = _Photo(
                    self.next_photo, -self.group_id, hashlib.sha256(data).hexdigest(), data, "image/png", 1, 1, 0
                )
                photo.date = int(time.time())
                self.photos[photo.id] = photo
                self.next_photo += 1
                photos.append(photo)
            owner = -self.group_id
            post = _Post(
                id=self.next_post,
                owner_id=owner,
                from_id=USER_ID + 1 if spec.get("visitor") else owner,
                date=time.time(),
                text=str(spec.get("text", "")),
                photos=photos,
                link=None,
                guid=None,
            )
            self.next_post += 1
            self.posts.append(post)
            return {"id": f"{owner}_{post.id}", "text": post.text}

    # ------------------------------------------------------------ plumbing

    def _check_token(self, token: str) -> None:
        """The long-lived token, or a VK ID access token that has not expired (1117 when it has)."""
        if token and token == self.access_token:
            return
        verdict = self.vk_id.check(token) if token else "unknown"
        if verdict == "expired":
            raise VkApiError(1117, "Access token has expired")
        if verdict != "ok":
            reason = "invalid access_token (4)." if token else "no access_token passed."
            raise VkApiError(5, f"User authorization failed: {reason}")

    def _check_version(self, params: dict[str, str]) -> None:
        version = params.get("v", "")
        if not version:
            raise VkApiError(8, "Invalid request: v (version) is required")
        if _version(version) < MIN_VERSION:
            raise VkApiError(8, "Invalid request: versions below 5.131 are deprecated")

    def _error_response(self, exc: VkApiError, method: str, params: dict[str, str]) -> SandboxResponse:
        # VK echoes the request's parameters, but never the token.
        echoed = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
        echoed += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
        error = {"error_code": exc.code, "error_msg": exc.message, "request_params": echoed, **exc.extra}
        return SandboxResponse.json({"error": error})

    def _group_param(self, params: dict[str, str], name: str = "group_id", required: bool = False) -> int | None:
        raw = params.get(name, "")
        if not raw:
            if required:
                raise _invalid(f"{name} is undefined")
            return None
        gid = _int(raw, name)
        if gid != self.group_id:
            raise VkApiError(203, "Access to group denied: access to the group is denied")
        return gid

    # ------------------------------------------------------------ methods

    def users_get(self, params: dict[str, str]) -> list[dict[str, Any]]:
        ids = [i for i in params.get("user_ids", "").split(",") if i]
        if ids and ids != [str(USER_ID)]:
            raise VkApiError(113, "Invalid user id")
        first, last = USER_NAME
        return [{"id": USER_ID, "first_name": first, "last_name": last, "can_access_closed": True, "is_closed": False}]

    def groups_get_by_id(self, params: dict[str, str]) -> Any:
        raw = params.get("group_id") or params.get("group_ids") or ""
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if not ids:
            raise _invalid("group_ids is undefined")
        groups = []
        for item in ids:
            if item not in (str(self.group_id), f"club{self.group_id}"):
                raise _invalid("group_ids is invalid")
            group: dict[str, Any] = {
                "id": self.group_id,
                "name": self.group_name,
                "screen_name": f"club{self.group_id}",
                "is_closed": 0,
                "type": "page",
                "is_admin": 1,
                "admin_level": 3,
                "is_member": 1,
                "is_advertiser": 0,
                "photo_50": "https://sun1-1.userapi.com/sandbox/club50.png",
            }
            if "can_post" in params.get("fields", "").split(","):
                group["can_post"] = 1
            groups.append(group)
        if _version(params["v"]) >= GROUPS_OBJECT_VERSION:
            return {"groups": groups, "profiles": []}
        return groups

    def photos_get_wall_upload_server(self, params: dict[str, str], host: str) -> dict[str, Any]:
        self._group_param(params)
        key = secrets.token_hex(12)
        self.upload_keys.add(key)
        return {"album_id": -14, "upload_url": f"http://{host}/upload/vk/{key}", "user_id": USER_ID}

    def photos_save_wall_photo(self, params: dict[str, str]) -> list[dict[str, Any]]:
        gid = self._group_param(params)
        photo = params.get("photo", "")
        if not photo:
            raise _invalid("photo is undefined")
        if photo in ("[]", ""):
            raise VkApiError(129, "Invalid photo: photo is empty, upload it first")
        upload_hash = params.get("hash", "")
        stored = self.uploads.get(upload_hash)
        if stored is None or _photo_key(photo) != upload_hash:
            raise VkApiError(121, "Invalid hash")
        server, data, mime, width, height = stored
        if params.get("server", "") != str(server):
            raise VkApiError(118, "Invalid server")
        del self.uploads[upload_hash]  # an upload is saved once
        owner = -gid if gid else USER_ID
        saved = _Photo(
            self.next_photo, owner, hashlib.sha256(data).hexdigest(), data, mime, width, height, int(time.time())
        )
        self.next_photo += 1
        self.photos[saved.id] = saved
        return [saved.as_api()]

    def wall_post(self, params: dict[str, str]) -> dict[str, Any]:
        owner = _int(params.get("owner_id", str(USER_ID)), "owner_id")
        if owner != -self.group_id:
            raise VkApiError(214, "Access to adding post denied: access to the wall is closed")
        message = params.get("message", "")
        raw_attachments = [a.strip() for a in params.get("attachments", "").split(",") if a.strip()]
        if not message and not raw_attachments:
            raise _invalid("message is empty or invalid")
        if len(message) > MAX_TEXT:
            raise _invalid(f"message is too long (max {MAX_TEXT})")
        if len(raw_attachments) > MAX_ATTACHMENTS:
            raise _invalid(f"too many attachments (max {MAX_ATTACHMENTS})")
        guid = params.get("guid") or None
        if guid is not None:
            for post in self.posts:
                if post.guid == guid and post.owner_id == owner:
                    return {"post_id": post.id}
        photos, link = self._attachments(raw_attachments)
        from_group = params.get("from_group", "0") in ("1", "true")
        post = _Post(
            id=self.next_post,
            owner_id=owner,
            from_id=owner if from_group else USER_ID,
            date=time.time(),
            text=message,
            photos=photos,
            link=link,
            guid=guid,
        )
        self.next_post += 1
        self.posts.append(post)
        return {"post_id": post.id}

    def _attachments(self, items: list[str]) -> tuple[list[_Photo], str | None]:
        photos: list[_Photo] = []
        link: str | None = None
        for item in items:
            if item.startswith(("http://", "https://")):
                if link is not None:
                    raise _invalid("only one link allowed")
                link = item
                continue
            match = _ATTACHMENT.fullmatch(item)
            photo = self.photos.get(int(match.group(2))) if match else None
            if match is None or photo is None or photo.owner_id != int(match.group(1)):
                raise _invalid(f"attachments: {item} is invalid")
            photos.append(photo)
        return photos, link

    def wall_get(self, params: dict[str, str]) -> dict[str, Any]:
        owner_raw = params.get("owner_id") or ""
        domain = params.get("domain") or ""
        if domain and domain != f"club{self.group_id}":
            raise _invalid("domain is invalid")
        owner = _int(owner_raw, "owner_id") if owner_raw else (-self.group_id if domain else USER_ID)
        count = min(max(_int(params.get("count", "20") or "20", "count"), 0), 100)
        offset = max(_int(params.get("offset", "0") or "0", "offset"), 0)
        wanted = params.get("filter", "all") or "all"
        if wanted not in ("owner", "others", "all", "postponed", "suggests", "donut"):
            raise _invalid("filter is invalid")
        posts = [p for p in reversed(self.posts) if p.owner_id == owner]
        if wanted == "owner":
            posts = [p for p in posts if p.from_id == owner]
        elif wanted == "others":
            posts = [p for p in posts if p.from_id != owner]
        elif wanted in ("postponed", "suggests", "donut"):
            posts = []
        return {"count": len(posts), "items": [_post_item(p) for p in posts[offset : offset + count]]}

    # ------------------------------------------------------------ upload server

    def _upload(self, request: SandboxRequest) -> SandboxResponse:
        key = request.path[len("/upload/vk/") :]
        server = 800000 + int(hashlib.sha256(key.encode()).hexdigest()[:5], 16) % 99999
        with self.lock:
            known = key in self.upload_keys
        if request.method != "POST" or not known:
            return SandboxResponse.json({"error": "ERR_UPLOAD_BAD_URL: upload url is invalid or expired"})
        files = request.files()
        fields = [f for f in files if f.name == "photo"]
        if len(files) != 1 or len(fields) != 1:
            # VK answers a wall upload with no (or more than one) `photo` file by an empty photo list.
            return SandboxResponse.json(
                {"server": server, "photo": "[]", "hash": hashlib.md5(key.encode()).hexdigest()}
            )
        data = fields[0].data
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                img.verify()
            with Image.open(io.BytesIO(data)) as img:
                width, height, fmt = img.width, img.height, (img.format or "JPEG")
        except Exception:
            return SandboxResponse.json({"error": "ERR_UPLOAD_BAD_IMAGE: the file is not an image"})
        if fmt.upper() not in UPLOAD_FORMATS:
            # The wall upload server takes JPG, PNG and GIF (dev.vk.com/en/api/upload/wall-photo).
            return SandboxResponse.json({"error": f"ERR_UPLOAD_BAD_IMAGE_FORMAT: {fmt} is not JPG, PNG or GIF"})
        sha = hashlib.sha256(data).hexdigest()
        photo = json.dumps([{"photo": f"{sha[:20]}:{secrets.token_hex(4)}", "sizes": [], "kid": sha[:32]}])
        upload_hash = _photo_key(photo)
        with self.lock:
            self.uploads[upload_hash] = (server, data, f"image/{fmt.lower()}", width, height)
        return SandboxResponse.json({"server": server, "photo": photo, "hash": upload_hash})


def _invalid(detail: str) -> VkApiError:
    """VK's error 100, naming the parameter at fault."""
    return VkApiError(100, f"One of the parameters specified was missing or invalid: {detail}")


def _photo_key(photo: str) -> str:
    return hashlib.md5(photo.encode()).hexdigest()


def _version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _invalid(f"{name} not integer") from None


def _post_item(post: _Post) -> dict[str, Any]:
    attachments: list[dict[str, Any]] = [{"type": "photo", "photo": ph.as_api()} for ph in post.photos]
    if post.link:
        attachments.append({"type": "link", "link": {"url": post.link, "title": post.link}})
    return {
        "id": post.id,
        "owner_id": post.owner_id,
        "from_id": post.from_id,
        "date": int(post.date),
        "post_type": "post",
        "marked_as_ads": 0,
        "text": post.text,
        "attachments": attachments,
    }


_METHODS: dict[str, Any] = {
    "account.getAppPermissions": lambda self, params: self.rights,
    "users.get": VkEmulator.users_get,
    "groups.getById": VkEmulator.groups_get_by_id,
    "photos.saveWallPhoto": VkEmulator.photos_save_wall_photo,
    "wall.post": VkEmulator.wall_post,
    "wall.get": VkEmulator.wall_get,
}
