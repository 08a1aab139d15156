"""The Facebook Page adapter, on facebook-sdk 3.1.0's ``GraphAPI``.

Publishing: every post is one ``POST /{page-id}/feed``. Images are first
uploaded unpublished (``POST /{page-id}/photos`` with ``published=false`` and
``alt_text_custom``) and then attached with ``attached_media[i]``; each photo
id is saved in ``progress.media`` the moment it exists, so a retry reuses it.
A feed post cannot carry both a link preview and attached photos, so with
images the link is left to the text (the renderer already shows it there) and
Graph's ``link`` field is sent only for posts without images.

facebook-sdk is old (2018): its constructor accepts Graph versions up to 3.1,
it never looks at the HTTP status and some non-JSON replies raise odd errors.
So the configured version is set after construction, and a response hook on
the session turns every status >= 400 into :class:`GraphHTTPError`, which we
classify from Graph's error JSON (or the status when there is none).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import facebook  # type: ignore[import-untyped]  # facebook-sdk ships no type hints
import requests

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
from crosspost.adapters.transport import network_error, unclear
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image, Progress
from crosspost.redact import redact

PLATFORM = "facebook"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001})
TRANSIENT_CODES = frozenset({1, 2})
TOKEN_CODES = frozenset({102, 190, 2500})
EXPIRED_SUBCODES = frozenset({463, 467})
DUPLICATE_CODE = 506
TEMPORARY_BLOCK_CODE = 368
# Graph says a 368 block is temporary without saying how long; retrying sooner only prolongs it.
TEMPORARY_BLOCK_WAIT = 3600.0
# How far before ``since`` find() looks, for clock skew between us and Facebook.
FIND_SKEW = timedelta(minutes=2)
FIND_PAGE_SIZE = 25
FIND_MAX_PAGES = 4
PUBLISH_PERMISSION = "pages_manage_posts"
READ_PERMISSION = "pages_read_engagement"


class GraphHTTPError(Exception):
    """An HTTP error status from Graph, raised by the session hook before facebook-sdk sees the reply.

    Deliberately not a ``requests.HTTPError``: facebook-sdk catches that and calls a ``read()`` it does not have.
    """

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _raise_for_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Session response hook: no reply with status >= 400 may pass for a success."""
    if response.status_code >= 400:
        _ = response.content  # read the body now: it carries Graph's error JSON
        raise GraphHTTPError(response)


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Graph's ``appsecret_proof``: HMAC-SHA256 of the access token keyed with the app secret, in hex."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class ProvenGraphAPI(facebook.GraphAPI):  # type: ignore[misc]  # facebook-sdk is untyped
    """facebook-sdk's GraphAPI sending ``appsecret_proof`` with every call, beside the access token.

    An app with "Require App Secret" on refuses any call without it (code 100); facebook-sdk 3.1
    knows nothing of it, so it is added where facebook-sdk adds ``access_token``.
    """

    def __init__(self, *, proof: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.proof = proof

    def request(
        self,
        path: str,
        args: dict[str, Any] | None = None,
        post_args: dict[str, Any] | None = None,
        files: Any = None,
        method: str | None = None,
    ) -> Any:
        if self.proof:
            if post_args is not None:
                post_args = {**post_args, "appsecret_proof": self.proof}
            else:
                args = {**(args or {}), "appsecret_proof": self.proof}
        return super().request(path, args, post_args, files, method)


class FacebookAdapter(Adapter):
    """A Facebook Page, posted to with a Page access token."""

    platform = PLATFORM

    def __init__(self, account: AccountConfig, session: requests.Session) -> None:
        super().__init__(account, session)
        if not account.page_id:
            raise ValueError("a facebook account needs page_id")
        self.page_id = account.page_id
        self.secrets = [v for v in account.credentials.values() if v]
        if _raise_for_status not in session.hooks["response"]:
            session.hooks["response"].append(_raise_for_status)
        token = account.credentials["page_access_token"]
        app_secret = account.credentials.get("app_secret")
        proof = appsecret_proof(token, app_secret) if app_secret else None
        if proof:
            self.secrets.append(proof)  # it travels in URLs; it proves the token, so it is kept out of messages
        # No timeout here: the session's routing adapter applies the configured one.
        self.graph = ProvenGraphAPI(access_token=token, session=session, proof=proof)
        self.graph.version = account.graph_version  # the constructor refuses anything newer than 3.1

    # ------------------------------------------------------------ publish

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        if progress.parts:  # an earlier try made the post and saved its id
            return self._receipt(progress.parts[0])
        media = [self._upload(image, progress) for image in draft.images]
        args: dict[str, Any] = {}
        if draft.text:
            args["message"] = draft.text
        if media:
            for i, media_id in enumerate(media):
                args[f"attached_media[{i}]"] = json.dumps({"media_fbid": media_id})
        elif draft.link:
            args["link"] = draft.link
        progress.checkpoint()
        with self._errors("publishing the post", publishing=True):
            result = self.graph.request(self._path(self.page_id, "feed"), post_args=args)
        post_id = _field(result, "id")
        if post_id is None:
            raise unclear("Facebook answered the post without its id", publishing=True, platform=PLATFORM)
        progress.add_part(post_id)
        return self._receipt(post_id)

    def _upload(self, image: Image, progress: Progress) -> str:
        """Upload ``image`` unpublished (once per delivery) and return its photo id."""
        if image.sha256 and image.sha256 in progress.media:
            return progress.media[image.sha256]
        args: dict[str, Any] = {"published": "false"}
        if image.alt:
            args["alt_text_custom"] = image.alt
        try:
            data = image.path.read_bytes()
        except OSError as exc:
            raise Rejected(f"cannot read image {image.path.name}: {exc.strerror}", platform=PLATFORM) from None
        mime = image.mime or "application/octet-stream"
        # The post depends on this upload: an unclear outcome is Ambiguous, as for the post itself.
        progress.checkpoint()
        with self._errors(f"uploading image {image.path.name}", publishing=True):
            result = self.graph.request(
                self._path(self.page_id, "photos"), post_args=args, files={"source": (image.path.name, data, mime)}
            )
        photo_id = _field(result, "id")
        if photo_id is None:
            raise unclear(
                f"Facebook answered the upload of {image.path.name} without a photo id",
                publishing=True,
                platform=PLATFORM,
            )
        if image.sha256:
            progress.add_media(image.sha256, photo_id)
        return photo_id

    # ------------------------------------------------------------ find

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        """The post among the Page feed's posts since ``since``, matched beyond doubt.

        Ours only on an exact match: posted by the Page itself (the real feed holds visitors' posts
        too), the same message, and the same attachments: the photo ids this delivery uploaded
        (``progress.media``), or for a post without images the same link share.
        """
        if progress.parts:
            return self._receipt(progress.parts[0])
        posts = self._window(since)
        recorded = tuple(progress.media.get(image.sha256) for image in draft.images)
        wanted = _normal(draft.text)
        exact, doubtful = [], []
        for post in posts:
            if _normal(str(post.get("message", ""))) != wanted or _author(post) not in (self.page_id, None):
                continue
            photos, link = _attached(post)
            if draft.images:
                if None in recorded or _author(post) is None:
                    if len(photos) == len(recorded):
                        doubtful.append(post)
                elif photos == set(recorded):
                    exact.append(post)
            elif not photos and link == (draft.link or None):
                (exact if _author(post) is not None else doubtful).append(post)
            elif not photos and link is None and draft.link and "attachments" not in post:
                doubtful.append(post)  # Graph made no link preview (or did not say): the link cannot be compared
        if len(exact) == 1 and not doubtful:
            post_id = str(exact[0]["id"])
            return Receipt(post_id, str(exact[0].get("permalink_url") or _post_url(post_id)), (post_id,))
        if not exact and not doubtful:
            return None
        ids = ", ".join(str(p.get("id")) for p in exact + doubtful)
        why = "several posts on the Page match it" if len(exact) > 1 else "a post matches it on less than all of it"
        if draft.images and None in recorded:
            why = "its photo ids were never recorded"
        raise Unsettled(f"cannot tell whether the post is on the Page ({why}: {ids})", platform=PLATFORM)

    def _window(self, since: datetime) -> list[dict[str, Any]]:
        """Every feed post since ``since`` (less the skew): all pages, or LookupUnavailable."""
        args: dict[str, Any] = {
            "since": int((since - FIND_SKEW).timestamp()),
            "fields": "id,message,created_time,permalink_url,from,attachments",
            "limit": FIND_PAGE_SIZE,
        }
        posts: list[dict[str, Any]] = []
        for _ in range(FIND_MAX_PAGES):
            with self._errors("looking the post up on the Page", lookup=True):
                result = self.graph.request(self._path(self.page_id, "feed"), args)
            if not isinstance(result, dict) or not isinstance(result.get("data"), list):
                raise Transient("Facebook answered the feed look-up without a list of posts", platform=PLATFORM)
            posts.extend(p for p in result["data"] if isinstance(p, dict))
            after = (result.get("paging") or {}).get("cursors", {}).get("after")
            if not after or not (result.get("paging") or {}).get("next"):
                return posts
            args["after"] = after
        raise LookupUnavailable(
            f"too many posts on the Page since {since:%Y-%m-%d %H:%M} UTC to look through; check the Page by hand",
            platform=PLATFORM,
        )

    # ------------------------------------------------------------ verify

    def verify(self) -> str:
        try:
            with self._errors("reading the Page"):
                page = self.graph.request(self._path(self.page_id), {"fields": "id,name"})
        except Rejected as exc:
            # verify() promises AuthError or Transient: a refused read means the settings are wrong.
            raise AuthError(
                f"{exc.message}; check page_id ({self.page_id}) and graph_version", code=exc.code, platform=PLATFORM
            ) from None
        try:
            with self._errors("reading the token's owner"):
                me = self.graph.request(self._path("me"), {"fields": "id,name"})
        except Rejected:
            # The Page read above already proved the token; /me only sharpens the message for a user token.
            me = {"id": self.page_id}
        if _field(me, "id") != self.page_id:
            raise AuthError(
                f"the token is not a Page access token for page {self.page_id} (it belongs to id {_field(me, 'id')}); "
                "get a Page token for this Page (GET /me/accounts with a user token that manages it, "
                f"with {PUBLISH_PERMISSION} and {READ_PERMISSION})",
                platform=PLATFORM,
            )
        who = f"{_field(page, 'name') or '?'} (page {self.page_id})"
        try:  # find() needs to read the feed; say so now rather than after a timeout
            with self._errors("reading the Page's feed", lookup=True):
                self.graph.request(self._path(self.page_id, "feed"), {"fields": "id", "limit": 1})
        except LookupUnavailable:
            return (
                f"{who}; warning: cannot read the feed, so posts cannot be looked up after a timeout "
                f"(grant {READ_PERMISSION})"
            )
        return who

    # ------------------------------------------------------------ helpers

    def _path(self, *parts: str) -> str:
        return "/".join((self.account.graph_version, *parts))

    def _receipt(self, post_id: str) -> Receipt:
        return Receipt(post_id, _post_url(post_id), (post_id,))

    @contextmanager
    def _errors(self, doing: str, *, publishing: bool = False, lookup: bool = False) -> Iterator[None]:
        """Turn whatever facebook-sdk or requests raise into crosspost's error types.

        ``publishing``: the call may create something (the post, a photo it needs), so a 5xx or an
        unreadable answer is Ambiguous (:func:`~crosspost.adapters.transport.unclear`).
        ``lookup``: a refusal for permission means the look-up cannot settle anything.
        """
        try:
            yield
        except PlatformError:
            raise
        except GraphHTTPError as exc:
            self._raise_graph(doing, _error_body(exc.response), exc.response, lookup=lookup, publishing=publishing)
        except facebook.GraphAPIError as exc:
            # A 200 whose JSON holds "error" (the hook let it through) or a reply facebook-sdk cannot read.
            if isinstance(exc.result, dict) and isinstance(exc.result.get("error"), dict):
                self._raise_graph(doing, exc.result["error"], None, lookup=lookup, publishing=publishing)
            self._garbled(doing, publishing, "not JSON")
        except requests.JSONDecodeError as exc:
            self._garbled(doing, publishing, f"invalid JSON ({exc.msg})")
        except requests.RequestException as exc:
            error = network_error(exc, PLATFORM, self.secrets, publishing=publishing)
            error.message = self._clean(f"{doing}: {error.message}")
            error.args = (error.message,)
            raise error from None
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            # facebook-sdk trips over replies without a Content-Type or with an unexpected shape.
            self._garbled(doing, publishing, f"{type(exc).__name__}: {exc}")

    def _garbled(self, doing: str, publishing: bool, detail: str) -> NoReturn:
        message = self._clean(f"{doing}: Facebook's answer could not be read ({detail[:200]})")
        raise unclear(message, publishing=publishing, platform=PLATFORM) from None

    def _clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def _raise_graph(
        self,
        doing: str,
        error: dict[str, Any] | None,
        response: requests.Response | None,
        *,
        lookup: bool,
        publishing: bool = False,
    ) -> NoReturn:
        """Raise the crosspost error for Graph's ``error`` object (or, without one, the HTTP status).

        A 5xx is a clear refusal only where Graph's error says so by its code (rate, token,
        permission, duplicate, block); otherwise, on a publishing call, it is Ambiguous.
        """
        status = response.status_code if response is not None else None
        if error is None:
            text = self._clean(f"{doing}: Facebook answered HTTP {status} without a Graph error")
            if status is not None and status >= 500:
                raise unclear(text, publishing=publishing, code=status, platform=PLATFORM) from None
            if status == 429:
                raise RateLimited(text, code=status, platform=PLATFORM, reset_at=_reset_at(response)) from None
            if status in (401, 403):
                raise self._auth_or_lookup(text, status, lookup)
            raise Rejected(text, code=status, platform=PLATFORM) from None

        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        shown = code if code is not None else status
        detail = str(error.get("message") or "no message")
        if error.get("error_user_msg") and error["error_user_msg"] != detail:
            detail += f" ({error['error_user_msg']})"
        text = self._clean(f"{doing}: {detail} (code {shown}{f', subcode {subcode}' if subcode else ''})")

        if code in RATE_LIMIT_CODES:
            raise RateLimited(text, code=shown, platform=PLATFORM, reset_at=_reset_at(response)) from None
        if code in TOKEN_CODES:
            why = "has expired" if subcode in EXPIRED_SUBCODES else "is invalid or was revoked"
            fix = "make a new long-lived Page access token and put it in page_access_token"
            raise self._auth_or_lookup(f"{text}: the Page token {why}; {fix}", shown, lookup)
        if code == 10 or (code is not None and 200 <= code <= 299):
            need = READ_PERMISSION if lookup else PUBLISH_PERMISSION
            fix = f"the token lacks a permission; give the app {need} (and {READ_PERMISSION}) and make a new Page token"
            raise self._auth_or_lookup(f"{text}: {fix}", shown, lookup)
        if code == 3:
            raise self._auth_or_lookup(f"{text}: the app lacks this capability", shown, lookup)
        if code == 100 and "appsecret_proof" in detail.lower():
            raise self._auth_or_lookup(f"{text}: {self._proof_fix()}", shown, lookup)
        if code == DUPLICATE_CODE:
            raise Rejected(
                f"{text}: Facebook already has this text as a recent post",
                code=shown,
                platform=PLATFORM,
                duplicate=True,
            ) from None
        if code == TEMPORARY_BLOCK_CODE:
            raise Transient(
                f"{text}: Facebook temporarily blocked posting from this Page",
                code=shown,
                platform=PLATFORM,
                retry_after=TEMPORARY_BLOCK_WAIT,
            ) from None
        if status is not None and status >= 500:
            # Graph's codes 1 and 2 ("unexpected error", "temporarily unavailable") say nothing about
            # whether the post was made before it failed.
            raise unclear(text, publishing=publishing, code=shown, platform=PLATFORM) from None
        if code in TRANSIENT_CODES or error.get("is_transient") is True:
            raise Transient(text, code=shown, platform=PLATFORM) from None
        if code == 2635 or code == 12:
            raise Rejected(
                f"{text}: set graph_version to a current version such as v24.0", code=shown, platform=PLATFORM
            ) from None
        raise Rejected(text, code=shown, platform=PLATFORM) from None

    def _proof_fix(self) -> str:
        """What to do when Graph refuses the call's ``appsecret_proof`` (missing or wrong)."""
        name = self.account.name
        if "app_secret" not in self.account.credentials:
            return (
                'the app has "Require App Secret" on, so every call needs appsecret_proof; add '
                f'app_secret = "${{FACEBOOK_APP_SECRET}}" to [accounts.{name}] with the App Secret from the app '
                "dashboard (App settings > Basic)"
            )
        return (
            f"the app_secret of [accounts.{name}] is not the secret of the app that issued the Page token; "
            "copy the App Secret of that app (App settings > Basic) into it"
        )

    def _auth_or_lookup(self, text: str, code: int | None, lookup: bool) -> PlatformError:
        if lookup:
            return LookupUnavailable(f"{text}; the post cannot be looked up on the Page", code=code, platform=PLATFORM)
        return AuthError(text, code=code, platform=PLATFORM)


def _post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


def _field(result: Any, name: str) -> str | None:
    value = result.get(name) if isinstance(result, dict) else None
    return None if value in (None, "") else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _author(post: dict[str, Any]) -> str | None:
    """Who posted it (a Page's feed holds visitors' posts too); None when Graph did not say."""
    author = post.get("from")
    return str(author["id"]) if isinstance(author, dict) and author.get("id") else None


def _attached(post: dict[str, Any]) -> tuple[set[str], str | None]:
    """The photo ids and the shared link of a post, from its ``attachments`` edge."""
    photos: set[str] = set()
    link: str | None = None
    items = list(((post.get("attachments") or {}).get("data")) or [])
    while items:
        item = items.pop()
        if not isinstance(item, dict):
            continue
        items.extend(((item.get("subattachments") or {}).get("data")) or [])
        target: dict[str, Any] = item["target"] if isinstance(item.get("target"), dict) else {}
        if item.get("type") == "photo" and target.get("id"):
            photos.add(str(target["id"]))
        elif item.get("type") == "share":
            link = str(item.get("unshimmed_url") or item.get("url") or "") or None
    return photos, link


def _normal(text: str) -> str:
    """Text as compared when looking a post up: Facebook may turn CRLF into LF and trim the ends."""
    return re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n")).strip()


def _error_body(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _reset_at(response: requests.Response | None) -> datetime | None:
    """When access comes back: the largest ``estimated_time_to_regain_access`` (minutes) in the usage headers."""
    if response is None:
        return None
    minutes: list[float] = []
    for header in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage", "X-Ad-Account-Usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            minutes.extend(_regain_minutes(json.loads(raw)))
        except ValueError:
            continue
    now = datetime.now(UTC)
    if minutes and max(minutes) > 0:
        return now + timedelta(minutes=max(minutes))
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        return now + timedelta(seconds=int(retry_after))
    return None


def _regain_minutes(value: Any) -> Iterator[float]:
    """Every ``estimated_time_to_regain_access`` in a usage header (flat, or per business id in lists)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "estimated_time_to_regain_access" and isinstance(item, (int, float)):
                yield float(item)
            else:
                yield from _regain_minutes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _regain_minutes(item)
