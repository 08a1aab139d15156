"""VK: one wall post on a community, as the community, through vk_api.

vk_api is tamed on construction so crosspost owns pacing and retries: its
handlers for errors 6 (which sleeps and retries forever), 14 and 17 are removed
and its per-instance ``RPS_DELAY`` is set to 0 (it would sleep between calls). Its
``VkUpload`` helper is used only for its session: ``photo_wall`` sends every
file in one request and names the field ``file0``, while a wall upload server
takes one file in the documented ``photo`` field, so photos are uploaded one
per request here.

Idempotence: ``wall.post`` carries ``guid=draft.key``; VK answers a repeated
guid on the same wall with the first post's id. The guid is documented to
protect for one hour only, so it is a second line of defence, not the rule: a
gateway 5xx, a timeout, a dropped connection or a garbled answer on any
publishing call (the photo upload, ``photos.saveWallPhoto``, ``wall.post``) is
Ambiguous and settled by :meth:`VkAdapter.find` (a small ``wall.get``). An
error VK puts in an HTTP 200 body (6, 10, ...) is VK's own clear answer.
``photos.getWallUploadServer`` only hands out an address, so it is a read.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jconfig  # type: ignore[import-untyped]
import requests
import vk_api  # type: ignore[import-untyped]
from vk_api.exceptions import (  # type: ignore[import-untyped]
    CAPTCHA_ERROR_CODE,
    NEED_VALIDATION_CODE,
    TOO_MANY_RPS_CODE,
    ApiError,
    ApiHttpError,
    Captcha,
    VkApiError,
)

from crosspost.adapters.base import (
    Adapter,
    AuthError,
    LookupUnavailable,
    PlatformError,
    RateLimited,
    Receipt,
    Rejected,
    Transient,
    Unsettled,
)
from crosspost.adapters.transport import RoutingAdapter, fit_session, network_error, unclear
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image, Progress
from crosspost.platforms.vk.token import TokenKeeper, Tokens, login_again
from crosspost.redact import redact

MAX_PHOTOS = 10
# wall.get page size for look-ups: the post we look for was made moments ago.
FIND_PAGE = 20
FIND_PAGES = 5
# VK's post date is its own clock and whole seconds: accept posts dated a little before the try.
CLOCK_SLACK = 120.0
DEFAULT_TIMEOUT = 30.0

# How long to wait after VK's rate refusals; VK states no reset time. Error 6 is per second;
# 9 ("flood control", on wall.post too) is about acting too often, so a retry waits minutes: it is no
# proof of a duplicate (VK documents none), and the guid keeps the later resend safe; 29 is a daily quota.
RETRY_AFTER = {6: 1.0, 9: 600.0, 29: 3600.0}
TEMPORARY = {
    1: "unknown error",
    10: "internal server error",
    13: "runtime error",
    36: "timeout",
    43: "temporarily unavailable",
}
SCOPES = "wall, photos, groups, offline"
# VK's codes for an access token that expired: 5 (authorization failed) and 1117 ("Access token has
# expired"). For a VK ID account they mean "refresh, then call again".
EXPIRED = ("5", "1117")
# account.getAppPermissions bits (dev.vk.com/ru/reference/access-rights).
RIGHT_PHOTOS = 4
RIGHT_WALL = 8192
PERMISSION = {
    7: f"the token lacks a permission: create it with scopes {SCOPES}",
    15: "access denied: the token's user must be an admin or editor of the community",
    18: "the token's user was deleted or banned: use the token of another admin",
    20: "this method is not allowed for the token's application type: use a user token from a standalone app",
    27: "a community token cannot do this: use a user token of a community admin",
    28: "an application (service) token cannot do this: use a user token of a community admin",
    37: "the token's user is banned: use the token of another admin",
    200: "access to the community's photo album denied: the user must be an admin or editor",
    203: "access to the community denied: check group_id and that the token's user is its admin or editor",
    210: "access to the community's wall denied: the user must be an admin or editor",
    214: "adding posts to the community wall denied: the user must be an admin or editor (or VK's limit of "
    "50 posts a day was reached)",
}
REJECTED = {
    100: "VK refused a parameter",
    219: "an advertising post was added recently",
    220: "too many recipients",
    222: "hyperlinks are forbidden in this community's posts",
    224: "too many advertising posts",
    225: "donut is disabled in this community",
}


class VkAdapter(Adapter):
    """A VK community wall (``group_id``), posted to with a community admin's user token."""

    platform = "vk"

    def __init__(
        self, account: AccountConfig, session: requests.Session, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(account, session)
        if account.group_id is None:
            raise ValueError("a vk account needs group_id")
        self.group_id = abs(int(account.group_id))
        self.fixed_secrets = tuple(v for v in account.credentials.values() if v)
        # The VK ID form: short-lived tokens in token_file, refreshed here (see token.py for the care taken).
        self.keeper: TokenKeeper | None = None
        if "access_token" not in account.credentials:
            self.keeper = TokenKeeper(Path(account.token_file), account.vk_id_client_id, account.name, session, clock)
        self.vk = vk_api.VkApi(
            token=account.credentials.get("access_token", ""),
            session=session,
            api_version=account.api_version,
            config=jconfig.MemoryConfig,
        )
        self.vk.RPS_DELAY = 0  # shadows the class constant: no sleeping between calls
        # Errors 6 (its handler sleeps and retries forever), 14 and 17 reach us as plain ApiErrors:
        # crosspost owns retries, and vk_api's captcha object breaks on a reply without captcha_sid.
        for code in (TOO_MANY_RPS_CODE, CAPTCHA_ERROR_CODE, NEED_VALIDATION_CODE):
            self.vk.error_handlers.pop(code, None)
        self.upload = vk_api.VkUpload(self.vk)
        fit_session(self.upload.http, "vk", account.api_base, _timeout_of(session))

    # ------------------------------------------------------------ publish

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        """Upload the images (reusing those in ``progress``), then one ``wall.post`` as the community."""
        if progress.parts:  # an earlier try got the post id: it is published
            return self._receipt(progress.parts[0])
        if len(draft.images) > MAX_PHOTOS:
            raise Rejected(
                f"VK takes at most {MAX_PHOTOS} photos in a post, this one has {len(draft.images)}", platform="vk"
            )
        attachments = [self._photo(image, progress) for image in draft.images]
        text = draft.text
        if not text.strip() and not attachments:
            raise Rejected("nothing to post on VK: no text and no photo", platform="vk")
        params: dict[str, Any] = {"owner_id": -self.group_id, "from_group": 1}
        if text:
            params["message"] = text
        if attachments:
            params["attachments"] = ",".join(attachments)
        if draft.key:
            params["guid"] = draft.key
        progress.checkpoint()
        result = self._call("wall.post", params, publishing=True)
        post_id = _number(result.get("post_id")) if isinstance(result, dict) else None
        if post_id is None:
            raise unclear(f"VK answered wall.post without a post id ({_short(result)})", publishing=True, platform="vk")
        remote_id = f"-{self.group_id}_{post_id}"
        progress.add_part(remote_id)
        return self._receipt(remote_id)

    def _photo(self, image: Image, progress: Progress) -> str:
        """The ``photo<owner>_<id>`` attachment for ``image``: reused from ``progress``, else uploaded now."""
        try:
            data = image.path.read_bytes()
        except OSError as exc:
            raise Rejected(f"cannot read image {image.path.name}: {exc.strerror}", platform="vk") from None
        sha = image.sha256 or hashlib.sha256(data).hexdigest()
        if sha in progress.media:
            return progress.media[sha]
        server = self._call("photos.getWallUploadServer", {"group_id": self.group_id})
        upload_url = server.get("upload_url") if isinstance(server, dict) else None
        if not isinstance(upload_url, str) or not upload_url:
            raise Transient(f"VK gave no photo upload address ({_short(server)})", platform="vk")
        progress.checkpoint()
        uploaded = self._upload_file(upload_url, image, data)
        progress.checkpoint()
        saved = self._call(
            "photos.saveWallPhoto",
            {
                "group_id": self.group_id,
                "photo": uploaded["photo"],
                "server": uploaded["server"],
                "hash": uploaded["hash"],
            },
            publishing=True,
        )
        try:
            photo = saved[0]
            attachment = f"photo{int(photo['owner_id'])}_{int(photo['id'])}"
        except (LookupError, TypeError, ValueError):
            raise unclear(
                f"VK saved the photo but its answer is not understood ({_short(saved)})", publishing=True, platform="vk"
            ) from None
        progress.add_media(sha, attachment)
        return attachment

    def _upload_file(self, url: str, image: Image, data: bytes) -> dict[str, Any]:
        """POST one file to the upload server VK handed out (its URL used as given)."""
        mime = image.mime or mimetypes.guess_type(image.path.name)[0] or "application/octet-stream"
        try:
            response = self.upload.http.post(url, files={"photo": (image.path.name, data, mime)})
        except requests.RequestException as exc:
            raise network_error(exc, "vk", self.secrets, publishing=True) from None
        said = f"VK's photo upload server answered HTTP {response.status_code}"
        if response.status_code >= 500:
            raise unclear(said, publishing=True, code=response.status_code, platform="vk")
        if response.status_code == 429:
            raise RateLimited(said, retry_after=1.0, code=429, platform="vk")
        if response.status_code >= 400:
            raise Rejected(said, code=response.status_code, platform="vk")
        try:
            body = response.json()
        except ValueError:
            raise unclear(
                "VK's photo upload server answered with something that is not JSON", publishing=True, platform="vk"
            ) from None
        if not isinstance(body, dict):
            raise unclear(
                f"VK's photo upload server answer is not understood ({_short(body)})", publishing=True, platform="vk"
            )
        if "error" in body:
            error = body["error"]
            if isinstance(error, dict) and "error_code" in error:
                raise api_error(error.get("error_code"), str(error.get("error_msg", "")), "photo upload", self.secrets)
            message = redact(f"VK's photo upload server refused {image.path.name}: {_short(error)}", self.secrets)
            raise Rejected(message, platform="vk")
        if body.get("photo") in (None, "", "[]") or "hash" not in body or "server" not in body:
            raise Rejected(f"VK's photo upload server kept no photo from {image.path.name}", platform="vk")
        return body

    # ------------------------------------------------------------ find

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        """The post among the community's own wall posts since ``since`` (``wall.get``, filter owner).

        Ours only on an exact match: the same text and the very photos this delivery saved
        (``progress.media``: ``photo<owner>_<id>``); a post without images must carry no photo.
        """
        if progress.parts:
            return self._receipt(progress.parts[0])
        recorded = tuple(progress.media.get(image.sha256) for image in draft.images)
        wanted = _normal(draft.text)
        exact, doubtful = [], []
        for item in self._window(since.timestamp() - CLOCK_SLACK):
            if _normal(str(item.get("text", ""))) != wanted or item.get("from_id") != -self.group_id:
                continue
            photos = _photos(item)
            if None in recorded:
                if len(photos) == len(recorded):
                    doubtful.append(item)
            elif photos == set(recorded):
                exact.append(item)
        if len(exact) == 1 and not doubtful:
            return self._receipt(f"-{self.group_id}_{_number(exact[0]['id'])}")
        if not exact and not doubtful:
            return None
        ids = ", ".join(f"-{self.group_id}_{i.get('id')}" for i in exact + doubtful)
        why = "several wall posts match it" if len(exact) > 1 else "its photo ids were never recorded"
        raise Unsettled(f"cannot tell whether the post is on the VK wall ({why}: {ids})", platform="vk")

    def _window(self, oldest: float) -> list[dict[str, Any]]:
        """The community's own posts dated from ``oldest`` on: every page of them, or LookupUnavailable."""
        posts: list[dict[str, Any]] = []
        for page in range(FIND_PAGES):
            params = {"owner_id": -self.group_id, "count": FIND_PAGE, "offset": page * FIND_PAGE, "filter": "owner"}
            try:
                result = self._call("wall.get", params)
            except Transient:
                raise
            except PlatformError as exc:
                raise LookupUnavailable(
                    f"cannot read the community wall to check whether the post was made: {exc.message}",
                    code=exc.code,
                    platform="vk",
                ) from None
            items = result.get("items") if isinstance(result, dict) else None
            if not isinstance(items, list):
                raise Transient(f"VK answered wall.get in a form not understood ({_short(result)})", platform="vk")
            items = [i for i in items if isinstance(i, dict)]
            posts.extend(
                i
                for i in items
                if isinstance(i.get("date"), int | float) and i["date"] >= oldest and _number(i.get("id"))
            )
            # Newest first: once a page reaches past the window (pinned posts aside), older pages cannot match.
            dates = [i.get("date", 0) for i in items if not i.get("is_pinned")]
            if len(items) < FIND_PAGE or (dates and min(dates) < oldest):
                return posts
        raise LookupUnavailable(
            f"more than {FIND_PAGE * FIND_PAGES} posts on the VK wall since the try; not reading further",
            platform="vk",
        )

    # ------------------------------------------------------------ verify

    def verify(self) -> str:
        """``groups.getById`` (community exists, we are its admin or editor) and ``users.get`` (whose token)."""
        try:
            result = self._call("groups.getById", {"group_id": self.group_id, "fields": "can_post"})
        except (Transient, AuthError):
            raise
        except PlatformError as exc:
            raise AuthError(f"{exc.message}; check group_id and the token", code=exc.code, platform="vk") from None
        try:
            users = self._call("users.get", {})
        except (Transient, AuthError):
            raise
        except PlatformError:
            users = None  # only names the token's owner; the community check below is what matters
        groups = result.get("groups") if isinstance(result, dict) else result
        group = next((g for g in groups or [] if isinstance(g, dict) and g.get("id") == self.group_id), None)
        if group is None:
            raise AuthError(
                f"VK has no community {self.group_id}: check group_id (the number in club<id>)", platform="vk"
            )
        name = str(group.get("name") or f"club{self.group_id}")
        who = _user(users)
        if who is None and users is not None:
            raise AuthError(
                "this is not a user token (users.get names nobody): crosspost needs the user token of a community "
                "admin or editor, with scopes wall, photos, groups, offline",
                platform="vk",
            )
        rights = self._rights()
        if "is_admin" not in group and "can_post" not in group:
            return f"{name} (club{self.group_id}); warning: VK did not say whether this token may post there; {rights}"
        role = _role(group)
        if role is None:
            raise AuthError(
                f"{who} may not post as {name} (club{self.group_id}): make that user an admin or editor of the "
                "community, or use the token of one who is",
                platform="vk",
            )
        return f"{name} (club{self.group_id}), posting as {role}" + (f"; token of {who}" if who else "") + f"; {rights}"

    def _rights(self) -> str:
        """Which token form the account uses, until when, and whether it may post on the wall and upload photos.

        ``account.getAppPermissions`` answers the token's rights as a bit mask (wall 8192, photos 4): a token
        without ``wall`` passes every read and is refused only at the first post, so it fails the check here.
        """
        if self.keeper is None:
            form = "token: long-lived access_token (VK does not say when it expires)"
        else:
            tokens = self.keeper.current()
            until = datetime.fromtimestamp(tokens.expires_at, UTC).isoformat(timespec="minutes")
            form = f"token: VK ID ({self.keeper.path.name}), access token valid until {until}, refreshed by crosspost"
        try:
            mask = self._call("account.getAppPermissions", {})
        except (Transient, AuthError):
            raise
        except PlatformError:
            return f"{form}; warning: VK did not say whether it may post on the wall and upload photos"
        if not isinstance(mask, int):
            return f"{form}; warning: VK did not say whether it may post on the wall and upload photos"
        if not mask & RIGHT_WALL:
            how = (
                login_again(self.account.name) + " and allow access to the wall"
                if self.keeper
                else f"create a token with scopes {SCOPES}"
            )
            raise AuthError(f"{form}; it may not post on the wall (no wall right): {how}", platform="vk")
        photos = "may upload photos" if mask & RIGHT_PHOTOS else "warning: may NOT upload photos (no photos right)"
        return f"{form}; may post on the wall; {photos}"

    # ------------------------------------------------------------ plumbing

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every token this adapter knows now (a VK ID account's change on each refresh)."""
        return self.fixed_secrets + (self.keeper.secrets() if self.keeper else ())

    def _receipt(self, remote_id: str) -> Receipt:
        return Receipt(remote_id=remote_id, url=f"https://vk.com/wall{remote_id}", part_ids=(remote_id,))

    def _call(self, method: str, params: dict[str, Any], *, publishing: bool = False) -> Any:
        """One API call; every failure becomes a crosspost error with secrets removed.

        ``publishing``: the call may create the post or a photo it needs, so an unknown outcome is
        Ambiguous; for any other call nothing can have been made, so it is Transient
        (:func:`~crosspost.adapters.transport.unclear` decides both).
        """
        if self.keeper is None:
            return self._call_once(method, params, publishing=publishing)
        refused = self._use(self.keeper.current())
        try:
            return self._call_once(method, params, publishing=publishing)
        except AuthError as exc:
            if exc.code not in EXPIRED:
                raise
        # VK refused the token as expired (its clock, not ours): the call did nothing, so after one
        # refresh it is made again. A second refusal is lasting.
        self._use(self.keeper.refresh(refused))
        try:
            return self._call_once(method, params, publishing=publishing)
        except AuthError as exc:
            if exc.code in EXPIRED:
                raise AuthError(
                    f"{exc.message}; VK refused a freshly refreshed token too: {login_again(self.account.name)}",
                    code=exc.code,
                    platform="vk",
                ) from None
            raise

    def _use(self, tokens: Tokens) -> str:
        """Make vk_api send ``tokens``' access token from now on; returns it."""
        self.vk.token = {"access_token": tokens.access_token}
        return tokens.access_token

    def _call_once(self, method: str, params: dict[str, Any], *, publishing: bool) -> Any:
        try:
            return self.vk.method(method, params)
        except ApiError as exc:
            error = exc.error if isinstance(exc.error, dict) else {}
            code, said = error.get("error_code"), str(error.get("error_msg", ""))
            if self.keeper is not None and str(code) in EXPIRED:
                raise AuthError(
                    redact(f"VK error {code} on {method}: {said}", self.secrets), code=code, platform="vk"
                ) from None
            raise api_error(code, said, method, self.secrets) from None
        except Captcha:
            raise api_error(14, "Captcha needed", method, self.secrets) from None
        except ApiHttpError as exc:
            status = exc.response.status_code
            raise http_error(status, _body_error(exc.response), method, self.secrets, publishing=publishing) from None
        except requests.JSONDecodeError:
            # A garbled 200 (checked before RequestException: it is one).
            raise unclear(f"VK answered {method} with a garbled body", publishing=publishing, platform="vk") from None
        except requests.RequestException as exc:
            raise network_error(exc, "vk", self.secrets, publishing=publishing) from None
        except (KeyError, TypeError, ValueError) as exc:
            # JSON that is not a VK answer ({"response": ...} or {"error": ...}).
            raise unclear(
                f"VK answered {method} in a form not understood ({type(exc).__name__})",
                publishing=publishing,
                platform="vk",
            ) from None
        except VkApiError as exc:
            raise Rejected(redact(f"vk_api refused {method}: {exc}", self.secrets), platform="vk") from None


def api_error(code: Any, message: str, method: str, secrets: tuple[str, ...]) -> PlatformError:
    """The crosspost error for VK API error ``code`` (from an HTTP 200 ``{"error": ...}`` body)."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = -1
    said = redact(f"VK error {number} on {method}: {message}".rstrip(": "), secrets)
    kw: dict[str, Any] = {"code": number, "platform": "vk"}
    if number == 5:
        return AuthError(
            f"{said} - the access token is invalid, expired or revoked; create a new user token of a community "
            f"admin with scopes {SCOPES}",
            **kw,
        )
    if number == 1117:
        return AuthError(
            f"{said} - the access token has expired; create a new user token of a community admin with scopes "
            f"{SCOPES}, or use the VK ID form (vk_id_client_id + token_file), whose tokens crosspost refreshes",
            **kw,
        )
    if number in RETRY_AFTER:
        return RateLimited(said, retry_after=RETRY_AFTER[number], **kw)
    if number in TEMPORARY:
        return Transient(said, **kw)
    if number == 14:
        # Lasting: crosspost cannot solve a captcha, and retrying only asks for more.
        return AuthError(
            f"{said} - VK wants a captcha solved, which needs a person: open VK as the token's user and post "
            "once by hand, or use another admin's token, then retry",
            **kw,
        )
    if number == 17:
        return AuthError(f"{said} - VK wants the token's user to confirm their identity in a browser, then retry", **kw)
    if number in PERMISSION:
        return AuthError(f"{said} - {PERMISSION[number]}", **kw)
    if number == 8:
        return Rejected(f"{said} - check api_version (crosspost's default is 5.199)", **kw)
    if number in REJECTED or 100 <= number < 200:
        return Rejected(f"{said} ({REJECTED.get(number, 'VK refused the content')})", **kw)
    return Rejected(said, **kw)


def http_error(
    status: int, error: dict[str, Any] | None, method: str, secrets: tuple[str, ...], *, publishing: bool = False
) -> PlatformError:
    """The crosspost error for an HTTP failure status (VK itself answers errors with 200)."""
    if error is not None:
        return api_error(error.get("error_code"), str(error.get("error_msg", "")), method, secrets)
    said = f"VK answered {method} with HTTP {status}"
    if status == 429:
        return RateLimited(said, retry_after=1.0, code=status, platform="vk")
    if status >= 500:
        # VK's API answers its own errors with 200, so a 5xx comes from a gateway, which may have passed
        # the call on before failing. The guid protects a resend for an hour only: look first.
        return unclear(said, publishing=publishing, code=status, platform="vk")  # type: ignore[no-any-return]
    if status in (401, 403):
        return AuthError(f"{said}: access refused; check the token", code=status, platform="vk")
    return Rejected(said, code=status, platform="vk")


def _timeout_of(session: requests.Session) -> float:
    """The default timeout transport.new_session fitted ``session`` with, for VkUpload's own session."""
    adapter = session.get_adapter("https://api.vk.ru/")
    return adapter.timeout if isinstance(adapter, RoutingAdapter) else DEFAULT_TIMEOUT


def _body_error(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) and "error_code" in error else None


def _photos(item: dict[str, Any]) -> set[str]:
    """A wall post's photos as ``photo<owner>_<id>``, the form ``progress.media`` keeps."""
    out = set()
    for attachment in item.get("attachments") or []:
        photo = attachment.get("photo") if isinstance(attachment, dict) and attachment.get("type") == "photo" else None
        if isinstance(photo, dict) and "owner_id" in photo and "id" in photo:
            out.add(f"photo{photo['owner_id']}_{photo['id']}")
    return out


def _normal(text: str) -> str:
    """Text as compared in look-ups: VK may trim the ends and normalise line breaks."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def _user(users: Any) -> str | None:
    if not isinstance(users, list) or not users or not isinstance(users[0], dict) or "id" not in users[0]:
        return None
    person = users[0]
    name = " ".join(str(person.get(k, "")) for k in ("first_name", "last_name")).strip()
    return f"{name or 'user'} (id {person['id']})"


def _role(group: dict[str, Any]) -> str | None:
    """How the token's user may post as the community: None when they may not.

    ``admin_level``: 1 moderator (cannot post as the community), 2 editor, 3 administrator.
    """
    if group.get("is_admin") == 1:
        level = group.get("admin_level", 3)
        return {2: "editor", 3: "admin"}.get(level) if isinstance(level, int) else "admin"
    if "is_admin" not in group and group.get("can_post") == 1:
        return "admin"
    return None


def _number(value: Any) -> int | None:
    """A positive VK id given as a number (or, leniently, as digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
