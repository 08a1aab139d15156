"""An emulator of the X (Twitter) API v2 for one user, as crosspost uses it.

It checks what X checks: OAuth 1.0a user-context signatures (401 otherwise),
the app's access level, JSON bodies against the documented fields, the
weighted length (twitter-text v3, 280; text kept in NFC, as X does), replies to existing posts, media
uploaded by this user (at most 4, not expired), duplicate text; and it answers
with X's documented shapes: ``{"data": ...}`` on success, RFC 7807 problem
JSON on failure, ``x-rate-limit-*`` headers on every answer. Returned texts
are as X gives them: URLs replaced by t.co links, ``& < >`` HTML-escaped.

Endpoints: POST /2/tweets, GET /2/users/me, GET /2/users/:id/tweets, the v2
media upload forms (see :mod:`crosspost.platforms.twitter.emulator_media`) and
POST /2/media/metadata. The retired v1.1 API answers 403 code 453.

Test knobs (attributes): ``access_level`` ("read-write" or "read"),
``timeline_access`` (False: the Free tier, user timelines refused),
``replies_allowed`` (False: every reply refused, as X's 2026-02-23 rule may do).
Fault kinds of its own beyond the common ones: "no_credits" (402), "usage_cap"
(429 UsageCapExceeded), "daily_cap" (429 with the 24-hour cap spent),
"reply_refused" (403).
"""

from __future__ import annotations

import html
import itertools
import re
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

from crosspost.platforms.twitter import emulator_media as tm
from crosspost.platforms.twitter.emulator_oauth import OAuthVerifier
from crosspost.sandbox.core import Emulator, SandboxRequest, SandboxResponse, WallImage, WallPost, render_wall
from crosspost.text_library import text_library

# Through crosspost's import: twitter_text wants pkg_resources, which a fresh venv lacks.
parse_tweet = text_library().parse_tweet
extract_urls_with_indices = text_library().extract_urls_with_indices

PROBLEMS = "https://api.twitter.com/2/problems/"
TWEPOCH_MS = 1288834974657
TWEET_FIELDS = (
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "edit_history_tweet_ids",
    "entities",
    "id",
    "in_reply_to_user_id",
    "lang",
    "referenced_tweets",
    "text",
)
EXPANSIONS = (
    "attachments.media_keys",
    "attachments.poll_ids",
    "author_id",
    "entities.mentions.username",
    "geo.place_id",
    "in_reply_to_user_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "edit_history_tweet_ids",
)
USER_FIELDS = ("created_at", "description", "id", "name", "profile_image_url", "protected", "username", "verified")
TIMELINE_PARAMS = (
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "max_results",
    "pagination_token",
    "exclude",
    "expansions",
    "tweet.fields",
    "user.fields",
    "media.fields",
    "place.fields",
    "poll.fields",
)
TWEET_BODY_KEYS = (
    "text",
    "media",
    "reply",
    "quote_tweet_id",
    "reply_settings",
    "poll",
    "geo",
    "for_super_followers_only",
    "direct_message_deep_link",
    "community_id",
    "nullcast",
    "card_uri",
)
V11_RETIRED = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints only. "
    "If you need access to this endpoint, you may need a different access level."
)
NOT_ENROLLED = (
    "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter "
    "developer App that is attached to a Project. You can create a project via the developer portal."
)
# X's refusal of a programmatic reply (changelog 2026-02-23; the wording from gptme/gptme-contrib #811).
REPLY_REFUSED = (
    "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the "
    "author of the post you are replying to."
)
DAY = 86400
_ID = re.compile(r"^[0-9]{1,19}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)$")
_T_CO = itertools.count(1)


def problem(status: int, title: str, detail: str, kind: str = "about:blank", **extra: Any) -> SandboxResponse:
    """X's RFC 7807 problem answer."""
    body: dict[str, Any] = {"title": title, "detail": detail, "type": kind, "status": status, **extra}
    return SandboxResponse.json(body, status, {"Content-Type": "application/problem+json"})


def invalid(message: str, parameter: str, value: Any = "") -> SandboxResponse:
    """400 Invalid Request with the offending parameter, as X words it."""
    return problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        PROBLEMS + "invalid-request",
        errors=[{"parameters": {parameter: [str(value)]}, "message": message}],
    )


class TwitterEmulator(Emulator):
    """X API v2 for the one user whose tokens it was given."""

    name = "twitter"
    title = "X (Twitter)"

    def __init__(self, *, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str) -> None:
        super().__init__()
        self.verifier = OAuthVerifier(consumer_key, consumer_secret, access_token, access_token_secret)
        prefix = access_token.split("-", 1)[0]
        # X's user access tokens start with the user's numeric id.
        self.user_id = prefix if prefix.isdigit() else "1000000001"
        self.username = "sandbox_press"
        self.display_name = "Sandbox Press Office"
        self.access_level = "read-write"
        self.timeline_access = True
        # False: X's 2026-02-23 rule caught the account's own replies, so every thread reply is refused.
        self.replies_allowed = True
        self.posts: list[dict[str, Any]] = []
        self.media: dict[str, tm.Media] = {}
        self._last_ms = 0
        self._sequence = 0

    # ------------------------------------------------------------ Emulator API

    def owns(self, path: str) -> bool:
        return path.startswith(("/2/", "/1.1/"))

    def reset(self) -> None:
        with self.lock:
            self.posts.clear()
            self.media.clear()
            self.replies_allowed = True

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "posts": [self._public(p) for p in self.posts],
                "user": {"id": self.user_id, "username": self.username},
            }

    def render_html(self) -> str:
        with self.lock:
            posts, media = list(self.posts), dict(self.media)
        return render_wall(
            (
                WallPost(
                    post["text"],
                    post["created_at"],
                    post["url"],
                    label=str(post["id"]),
                    images=[
                        WallImage(m.media_type, m.data, m.alt or "")
                        for m in (media[i] for i in post["media_ids"] if i in media)
                    ],
                    byline=f"@{self.username}",
                    css="post reply" if post["reply_to"] else "post",
                )
                for post in posts
            ),
            empty="Nothing posted yet.",
        )

    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        if kind == "auth":
            return problem(401, "Unauthorized", "Unauthorized")
        if kind == "permission":
            if re.match(r"^/2/users/\d+/tweets$", request.path):
                return self._not_enrolled()
            return problem(
                403,
                "Forbidden",
                "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.",
                PROBLEMS + "oauth1-permissions",
            )
        if kind == "duplicate":
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        if kind == "rate_limit":
            reset = int(time.time()) + max(0, reset_in)
            headers = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
            return SandboxResponse.json(
                {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                429,
                {"Content-Type": "application/problem+json", **headers},
            )
        if kind == "daily_cap":
            # The 24-hour posting cap spent (akrherz/iembot #163): the 15-minute window may reset far sooner.
            now = int(time.time())
            headers = {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(now + max(0, reset_in)),
                "x-user-limit-24hour-limit": "17",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": str(now + DAY),
                "x-app-limit-24hour-limit": "10000",
                "x-app-limit-24hour-remaining": "9000",
                "x-app-limit-24hour-reset": str(now + DAY // 2),
            }
            return SandboxResponse.json(
                {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                429,
                {"Content-Type": "application/problem+json", **headers},
            )
        if kind == "no_credits":
            # Pay-per-use without prepaid credits (tryethernal/ethernal #1314): 402, not in X's error table.
            return problem(402, "Payment Required", "Your account has no credits left. Add credits to continue.")
        if kind == "usage_cap":
            # The live body of a monthly cap (xdevplatform/xdk #25): the 15-minute window is far from spent.
            return SandboxResponse.json(
                {
                    "title": "UsageCapExceeded",
                    "detail": "Usage cap exceeded: Monthly product cap",
                    "type": PROBLEMS + "usage-capped",
                    "period": "Monthly",
                    "scope": "Product",
                },
                429,
                {"Content-Type": "application/problem+json", "x-rate-limit-remaining": "39999"},
            )
        if kind == "reply_refused":
            return problem(403, "Forbidden", REPLY_REFUSED)
        if kind == "server":
            return problem(503, "Service Unavailable", "Service Unavailable")
        # "bad_request" (and anything X has no own answer for, such as VK's captcha)
        return invalid("The request is malformed.", "text")

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """A post made outside crosspost: ``text``, ``images`` (a count), ``reply_to`` (a tweet id)."""
        with self.lock:
            tweet_id = self._next_id()
            media_ids = []
            for _ in range(int(spec.get("images", 0))):
                item = tm.Media(id=self._next_id(), owner=self.user_id, category="tweet_image")
                item.media_type, item.data, item.ready = "image/png", b"seeded " + item.id.encode(), True
                self.media[item.id] = item
                media_ids.append(item.id)
            text = str(spec.get("text", ""))
            post: dict[str, Any] = {
                "id": tweet_id,
                "text": text,
                "media_ids": media_ids,
                "reply_to": spec.get("reply_to"),
                "created_at": time.time(),
                "url": f"https://x.com/{self.username}/status/{tweet_id}",
            }
            post["shown"], post["urls"] = self._shown(text, media_ids, tweet_id)
            self.posts.append(post)
            return self._public(post)

    # ------------------------------------------------------------ dispatch

    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.path.startswith("/1.1/"):
            # The v1.1 API (tweepy's API class, its media upload) is retired for this access level.
            return SandboxResponse.json({"errors": [{"code": 453, "message": V11_RETIRED}]}, 403)
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return problem(
                403,
                "Unsupported Authentication",
                "Authenticating with OAuth 2.0 Application-Only is "
                "forbidden for this endpoint. Supported authentication types are [OAuth 1.0a User Context, "
                "OAuth 2.0 User Context].",
                PROBLEMS + "unsupported-authentication",
            )
        with self.lock:
            refused = self.verifier.check(request)
            if refused is not None:
                return problem(401, "Unauthorized", "Unauthorized")
            response = self._route(request)
        if response is not None:
            response.headers.setdefault("x-rate-limit-limit", "300")
            response.headers.setdefault("x-rate-limit-remaining", "299")
            response.headers.setdefault("x-rate-limit-reset", str(int(time.time()) + 900))
            response.headers["x-access-level"] = self.access_level
        return response

    def _route(self, request: SandboxRequest) -> SandboxResponse | None:
        method, path = request.method, request.path
        if path == "/2/tweets" and method == "POST":
            return self._create_tweet(request)
        if path == "/2/users/me" and method == "GET":
            return self._me(request)
        match = re.match(r"^/2/users/([^/]+)/tweets$", path)
        if match and method == "GET":
            return self._timeline(request, match.group(1))
        if path.startswith("/2/media/"):
            try:
                return self._media_route(request)
            except tm.MediaProblem as exc:
                return invalid(exc.message, exc.parameter)
        return None

    # ------------------------------------------------------------ tweets

    def _create_tweet(self, request: SandboxRequest) -> SandboxResponse:
        if self.access_level != "read-write":
            return problem(
                403,
                "Forbidden",
                "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.",
                PROBLEMS + "oauth1-permissions",
            )
        if not request.content_type.startswith("application/json"):
            return invalid("Content-Type must be application/json", "body", request.content_type)
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return invalid("Request body is not valid JSON.", "body")
        if not isinstance(body, dict):
            return invalid("Request body must be a JSON object.", "body")
        for key in body:
            if key not in TWEET_BODY_KEYS:
                return invalid(
                    f"$.{key}: is not defined in the schema and the schema does not allow additional properties", key
                )
        text = body.get("text")
        if text is None:
            # OpenAPI 2.167: text is always sent; the backend's tweet_text is non-null and refuses an absent value.
            return invalid("$.text: is required; an absent text is refused even when media are attached", "text")
        if not isinstance(text, str):
            return invalid("$.text: string expected", "text", text)
        media_ids, bad = self._media_ids(body.get("media"))
        if bad is not None:
            return bad
        reply_to, bad = self._reply_to(body.get("reply"))
        if bad is not None:
            return bad
        if not text and not media_ids:
            return invalid("Tweet text or media is required: provide $.text or $.media.media_ids", "text")
        text = unicodedata.normalize("NFC", text or "")  # X stores and counts text in NFC
        if text and not parse_tweet(text).valid:
            length = parse_tweet(text).weightedLength
            if length > 280:
                return problem(
                    400,
                    "Bad Request",
                    "Your Tweet text is too long. For more information on how Twitter "
                    "determines text length see https://github.com/twitter/twitter-text.",
                )
            return invalid("Tweet text contains characters that are not allowed.", "text")
        if reply_to is not None and not any(p["id"] == reply_to for p in self.posts):
            return problem(403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you.")
        if reply_to is not None and not self.replies_allowed:
            return problem(403, "Forbidden", REPLY_REFUSED)
        if text and any(p["text"] == text for p in self.posts):
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        tweet_id = self._next_id()
        post: dict[str, Any] = {
            "id": tweet_id,
            "text": text,
            "media_ids": media_ids,
            "reply_to": reply_to,
            "created_at": time.time(),
            "url": f"https://x.com/{self.username}/status/{tweet_id}",
        }
        post["shown"], post["urls"] = self._shown(text, media_ids, tweet_id)
        self.posts.append(post)
        return SandboxResponse.json(
            {"data": {"id": tweet_id, "text": post["shown"], "edit_history_tweet_ids": [tweet_id]}}, 201
        )

    def _media_ids(self, media: Any) -> tuple[list[str], SandboxResponse | None]:
        if media is None:
            return [], None
        ids = media.get("media_ids") if isinstance(media, dict) else None
        if not isinstance(ids, list) or not ids:
            return [], invalid("$.media.media_ids: array of 1 to 4 media ids expected", "media.media_ids", ids)
        if len(ids) > 4:
            return [], invalid("$.media.media_ids: at most 4 items allowed", "media.media_ids", ids)
        now = time.time()
        for media_id in ids:
            item = self.media.get(str(media_id)) if isinstance(media_id, str) and _ID.match(media_id) else None
            if item is None or item.owner != self.user_id or not item.ready or item.expired(now):
                return [], invalid("Your media IDs are invalid.", "media.media_ids", media_id)
        return [str(i) for i in ids], None

    def _reply_to(self, reply: Any) -> tuple[str | None, SandboxResponse | None]:
        if reply is None:
            return None, None
        target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(target, str) or not _ID.match(target):
            return None, invalid(
                "$.reply.in_reply_to_tweet_id: a numeric string id is required", "reply.in_reply_to_tweet_id", target
            )
        return target, None

    def _shown(self, text: str, media_ids: list[str], tweet_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The text as X hands it back (links through t.co, HTML-escaped, media as a trailing t.co link),
        and its ``entities.urls``: each t.co link with where it points, as X explains them."""
        out, last, urls = "", 0, []
        for found in extract_urls_with_indices(text):
            start, end = found["indices"]
            out += html.escape(text[last:start], quote=False)
            link = f"https://t.co/{next(_T_CO):010d}"
            expanded = found["url"] if re.match(r"(?i)https?://", found["url"]) else "http://" + found["url"]
            shown = re.sub(r"(?i)^https?://(www\.)?", "", found["url"])
            urls.append(
                {
                    "start": len(out),
                    "end": len(out) + len(link),
                    "url": link,
                    "expanded_url": expanded,
                    "display_url": shown if len(shown) <= 26 else shown[:25] + "…",
                }
            )
            out += link
            last = end
        out += html.escape(text[last:], quote=False)
        if media_ids:
            link = f"https://t.co/{next(_T_CO):010d}"
            out = f"{out} " if out else out
            key = self.media[media_ids[0]].key if media_ids[0] in self.media else f"3_{media_ids[0]}"
            urls.append(
                {
                    "start": len(out),
                    "end": len(out) + len(link),
                    "url": link,
                    "expanded_url": f"https://x.com/{self.username}/status/{tweet_id}/photo/1",
                    "display_url": f"pic.x.com/{link[-10:]}",
                    "media_key": key,
                }
            )
            out += link
        return out, urls

    def _tweet_object(self, post: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": post["id"], "text": post["shown"], "edit_history_tweet_ids": [post["id"]]}
        if "created_at" in fields:
            stamp = datetime.fromtimestamp(post["created_at"], UTC)
            out["created_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        if "author_id" in fields:
            out["author_id"] = self.user_id
        if "conversation_id" in fields:
            out["conversation_id"] = self._root(post)["id"]
        if "in_reply_to_user_id" in fields and post["reply_to"]:
            out["in_reply_to_user_id"] = self.user_id
        if "referenced_tweets" in fields and post["reply_to"]:
            out["referenced_tweets"] = [{"type": "replied_to", "id": post["reply_to"]}]
        if "entities" in fields and post["urls"]:
            out["entities"] = {"urls": [dict(u) for u in post["urls"]]}
        if "attachments" in fields and post["media_ids"]:
            out["attachments"] = {"media_keys": [self.media[i].key for i in post["media_ids"] if i in self.media]}
        return out

    def _root(self, post: dict[str, Any]) -> dict[str, Any]:
        by_id = {p["id"]: p for p in self.posts}
        while post["reply_to"] and post["reply_to"] in by_id:
            post = by_id[post["reply_to"]]
        return post

    # ------------------------------------------------------------ users

    def _me(self, request: SandboxRequest) -> SandboxResponse:
        for key in request.query:
            if key not in ("user.fields", "expansions", "tweet.fields"):
                return self._unknown_param(key, ("user.fields", "expansions", "tweet.fields"))
        fields, bad = self._fields(request, "user.fields", USER_FIELDS)
        if bad is not None:
            return bad
        user: dict[str, Any] = {"id": self.user_id, "name": self.display_name, "username": self.username}
        extra = {
            "created_at": "2010-01-01T00:00:00.000Z",
            "description": "crosspost sandbox",
            "protected": False,
            "verified": False,
            "profile_image_url": "https://pbs.twimg.com/profile_images/sandbox_normal.png",
        }
        user.update({k: v for k, v in extra.items() if k in fields})
        return SandboxResponse.json({"data": user})

    def _timeline(self, request: SandboxRequest, user_id: str) -> SandboxResponse:
        if not self.timeline_access:
            return self._not_enrolled()
        for key in request.query:
            if key not in TIMELINE_PARAMS:
                return self._unknown_param(key, TIMELINE_PARAMS)
        if not _ID.match(user_id):
            return invalid(f"The `id` query parameter value [{user_id}] does not match ^[0-9]{{1,19}}$", "id", user_id)
        fields, bad = self._fields(request, "tweet.fields", TWEET_FIELDS)
        if bad is None:
            expansions, bad = self._fields(request, "expansions", EXPANSIONS)
        if bad is not None:
            return bad
        if "attachments.media_keys" in expansions:
            fields.add("attachments")  # the expansion brings the keys it expands
        params = {k: v[0] for k, v in request.query.items()}
        size = params.get("max_results", "10")
        if not size.isdigit() or not 5 <= int(size) <= 100:
            return invalid(
                f"The `max_results` query parameter value [{size}] is not between 5 and 100", "max_results", size
            )
        bounds: dict[str, float] = {}
        for key in ("start_time", "end_time"):
            if key in params:
                value = params[key]
                if not _TIME.match(value):
                    return invalid(
                        f"Invalid '{key}':'{value}'. '{key}' must be a timestamp in the format YYYY-MM-DDTHH:mm:ssZ",
                        key,
                        value,
                    )
                bounds[key] = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        if user_id != self.user_id:
            return SandboxResponse.json(
                {
                    "errors": [
                        {
                            "value": user_id,
                            "detail": f"Could not find user with id: [{user_id}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "id",
                            "resource_id": user_id,
                            "type": PROBLEMS + "resource-not-found",
                        }
                    ]
                }
            )
        # Seconds precision, as X compares: a post at 10:00:00.7 is not before start_time 10:00:00.
        posts = [
            p
            for p in reversed(self.posts)
            if int(p["created_at"]) >= bounds.get("start_time", 0)
            and p["created_at"] < bounds.get("end_time", 1e12)
            and (not params.get("since_id") or int(p["id"]) > int(params["since_id"]))
            and (not params.get("until_id") or int(p["id"]) < int(params["until_id"]))
            and not ("replies" in params.get("exclude", "") and p["reply_to"])
        ]
        offset = int(params["pagination_token"], 16) if params.get("pagination_token", "").isalnum() else 0
        page = posts[offset : offset + int(size)]
        if not page:
            return SandboxResponse.json({"meta": {"result_count": 0}})
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0]["id"], "oldest_id": page[-1]["id"]}
        if offset + int(size) < len(posts):
            meta["next_token"] = f"{offset + int(size):x}"
        body: dict[str, Any] = {"data": [self._tweet_object(p, fields) for p in page], "meta": meta}
        media = [self.media[i] for p in page for i in p["media_ids"] if i in self.media]
        if "attachments.media_keys" in expansions and media:
            kinds = {"3": "photo", "16": "animated_gif"}
            body["includes"] = {"media": [{"media_key": m.key, "type": kinds[m.key.split("_")[0]]} for m in media]}
        return SandboxResponse.json(body)

    def _fields(
        self, request: SandboxRequest, name: str, allowed: tuple[str, ...]
    ) -> tuple[set[str], SandboxResponse | None]:
        asked = {f for v in request.query.get(name, []) for f in v.split(",") if f}
        for item in sorted(asked):
            if item not in allowed:
                return set(), invalid(
                    f"The `{name}` query parameter value [{item}] is not one of {list(allowed)}", name, item
                )
        return asked, None

    def _unknown_param(self, key: str, allowed: tuple[str, ...]) -> SandboxResponse:
        return invalid(f"The query parameter [{key}] is not one of {list(allowed)}", key)

    def _not_enrolled(self) -> SandboxResponse:
        return SandboxResponse.json(
            {
                "client_id": "31000001",
                "detail": NOT_ENROLLED,
                "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
                "title": "Client Forbidden",
                "required_enrollment": "Appropriate Level of API Access",
                "reason": "client-not-enrolled",
                "type": PROBLEMS + "client-forbidden",
            },
            403,
        )

    # ------------------------------------------------------------ media

    def _media_route(self, request: SandboxRequest) -> SandboxResponse | None:
        path, method = request.path, request.method
        if path == "/2/media/upload" and method == "GET":
            return self._media_status(request.params())
        if method != "POST":
            return None
        if path == "/2/media/upload":
            fields = self._fields_of(request)
            command = str(fields.get("command", "")).upper()
            if command:
                return self._media_command(command, request, fields)
            return self._upload_one_shot(request, fields)
        if path == "/2/media/upload/initialize":
            return self._media_init(self._fields_of(request))
        match = re.match(r"^/2/media/upload/([^/]+)/(append|finalize)$", path)
        if match:
            fields = {**self._fields_of(request), "media_id": match.group(1)}
            if match.group(2) == "append":
                return self._media_append(request, fields)
            return self._media_finalize(fields)
        if path in ("/2/media/metadata", "/2/media/metadata/create"):
            return self._media_metadata(request)
        return None

    def _fields_of(self, request: SandboxRequest) -> dict[str, Any]:
        """Plain fields of a multipart, urlencoded or JSON body (JSON values kept as given)."""
        if request.content_type.startswith("application/json"):
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError):
                raise tm.MediaProblem("Request body is not valid JSON.", "body") from None
            if not isinstance(body, dict):
                raise tm.MediaProblem("Request body must be a JSON object.", "body")
            return body
        return request.params()

    def _file(self, request: SandboxRequest, fields: dict[str, Any]) -> bytes:
        for part in request.files():
            if part.name == "media":
                return part.data
        if fields.get("media_data"):
            return tm.decode_b64(str(fields["media_data"]), "media_data")
        if fields.get("media"):
            return tm.decode_b64(str(fields["media"]), "media")
        raise tm.MediaProblem("media is required: send the file as the multipart field 'media'", "media")

    def _upload_one_shot(self, request: SandboxRequest, fields: dict[str, Any]) -> SandboxResponse:
        sent = set(fields) | {part.name for part in request.multipart_fields()}
        for name in sorted(sent - set(tm.ONE_SHOT_FIELDS)):
            # OpenAPI 2.167 ``MediaUploadRequest``: additionalProperties false, and no media_type any more.
            raise tm.MediaProblem(
                f"$.{name}: is not defined in the schema and the schema does not allow additional properties", name
            )
        category = tm.check_category(fields.get("media_category"), required=True)
        data = self._file(request, fields)
        item = tm.Media(id=self._next_id(), owner=self.user_id, category=category)
        item.media_type = tm.check_image(data, category)
        item.data, item.ready = data, True
        self.media[item.id] = item
        return SandboxResponse.json({"data": item.answer()})

    def _media_command(self, command: str, request: SandboxRequest, fields: dict[str, Any]) -> SandboxResponse:
        if command == "INIT":
            return self._media_init(fields)
        if command == "APPEND":
            return self._media_append(request, fields)
        if command == "FINALIZE":
            return self._media_finalize(fields)
        if command == "STATUS":
            return self._media_status(fields)
        raise tm.MediaProblem(f"command [{command}] is not one of [INIT, APPEND, FINALIZE, STATUS]", "command")

    def _media_init(self, fields: dict[str, Any]) -> SandboxResponse:
        category = tm.check_category(fields.get("media_category"), required=False)
        total = str(fields.get("total_bytes", ""))
        if not total.isdigit():
            raise tm.MediaProblem("total_bytes is required and must be a whole number", "total_bytes")
        if not fields.get("media_type"):
            raise tm.MediaProblem("media_type is required", "media_type")
        item = tm.Media(
            id=self._next_id(),
            owner=self.user_id,
            category=category,
            media_type=str(fields["media_type"]),
            total_bytes=int(total),
        )
        self.media[item.id] = item
        return SandboxResponse.json({"data": item.answer()})

    def _pending(self, fields: dict[str, Any]) -> tm.Media:
        item = self.media.get(str(fields.get("media_id", "")))
        if item is None or item.owner != self.user_id:
            raise tm.MediaProblem("media_id is not an upload of this user", "media_id")
        return item

    def _media_append(self, request: SandboxRequest, fields: dict[str, Any]) -> SandboxResponse:
        item = self._pending(fields)
        index = str(fields.get("segment_index", ""))
        if not index.isdigit() or int(index) > 999:
            raise tm.MediaProblem("segment_index must be a whole number from 0 to 999", "segment_index")
        if item.ready:
            raise tm.MediaProblem("the upload was finalized already", "media_id")
        item.chunks[int(index)] = self._file(request, fields)
        return SandboxResponse.json({"data": {"expires_at": int(item.created + tm.EXPIRES_AFTER)}})

    def _media_finalize(self, fields: dict[str, Any]) -> SandboxResponse:
        item = self._pending(fields)
        tm.finish(item)
        return SandboxResponse.json({"data": item.answer()})

    def _media_status(self, fields: dict[str, Any]) -> SandboxResponse:
        item = self._pending(fields)
        state = "succeeded" if item.ready else "pending"
        return SandboxResponse.json(
            {
                "data": {
                    "id": item.id,
                    "media_key": item.key,
                    "processing_info": {"state": state, "progress_percent": 100 if item.ready else 0},
                }
            }
        )

    def _media_metadata(self, request: SandboxRequest) -> SandboxResponse:
        if not request.content_type.startswith("application/json"):
            raise tm.MediaProblem("Content-Type must be application/json", "body")
        body = self._fields_of(request)
        metadata = body.get("metadata") if "metadata" in body else body  # /create takes the fields at the top
        media_id = body.get("id", body.get("media_id"))
        item = self.media.get(str(media_id)) if media_id is not None else None
        if item is None or item.owner != self.user_id:
            raise tm.MediaProblem("id is not a media of this user", "id")
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        if alt is not None:
            text = alt.get("text") if isinstance(alt, dict) else None
            if not isinstance(text, str) or len(text) > tm.MAX_ALT:
                raise tm.MediaProblem(
                    f"alt_text.text must be a string of at most {tm.MAX_ALT} characters", "alt_text.text"
                )
            item.alt = text
        answer: dict[str, Any] = {"id": item.id, "associated_metadata": {}}
        if item.alt is not None:
            answer["associated_metadata"]["alt_text"] = {"text": item.alt}
        return SandboxResponse.json({"data": answer})

    # ------------------------------------------------------------ helpers

    def _next_id(self) -> str:
        """A snowflake: milliseconds since X's epoch, then a sequence number."""
        now = int(time.time() * 1000)
        if now <= self._last_ms:
            self._sequence += 1
            now = self._last_ms
        else:
            self._sequence = 0
        self._last_ms = now
        return str(((now - TWEPOCH_MS) << 22) | (1 << 12) | (self._sequence & 0xFFF))

    def _public(self, post: dict[str, Any]) -> dict[str, Any]:
        images = [
            {"sha256": self.media[i].sha256, "alt": self.media[i].alt} for i in post["media_ids"] if i in self.media
        ]
        urls = extract_urls_with_indices(post["text"])
        return {
            "id": post["id"],
            "text": post["text"],
            "images": images,
            "link": urls[0]["url"] if urls else None,
            "reply_to": post["reply_to"],
            "created_at": post["created_at"],
            "url": post["url"],
            "media_ids": list(post["media_ids"]),
        }
