"""Twitter/X: posts and threads through tweepy's ``Client`` (API v2, OAuth 1.0a user context).

tweepy builds and signs every request; we give it the session fitted with
``api_base`` and timeouts, ask for raw ``requests.Response`` objects (so a
garbled success body is ours to judge and response headers stay visible) and
never let it wait on rate limits. Images go through the v2 media upload in
:mod:`crosspost.platforms.twitter.media`; errors are classified in
:mod:`crosspost.platforms.twitter.errors`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import requests
import tweepy

from crosspost.adapters.base import (
    Adapter,
    Ambiguous,
    AuthError,
    LookupUnavailable,
    Receipt,
    Rejected,
    Transient,
    Unsettled,
)
from crosspost.adapters.transport import network_error
from crosspost.config import AccountConfig
from crosspost.model import Draft, Progress
from crosspost.platforms.twitter import errors as twitter_errors
from crosspost.platforms.twitter.media import MediaUploader, media_expired
from crosspost.platforms.twitter.spec import omits_links
from crosspost.redact import redact
from crosspost.text_library import text_library  # twitter_text's own import needs setuptools

PLATFORM = "twitter"
# Our clock and X's differ a little: the look-up window starts this much before the try.
CLOCK_MARGIN = timedelta(seconds=60)
LOOKUP_PAGE = 10
LOOKUP_PAGES = 5
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
TWEEPY_HOST = "https://api.twitter.com"
X_HOST = "https://api.x.com"
NO_TEXT = "X refuses a post without text (POST /2/tweets needs text even with images); give the post a body"
THREAD_WARNING = (
    "X may refuse thread replies made through the API (changelog 2026-02-23: replies only where the author "
    "mentioned or quoted the account), so a post longer than one tweet may stop after part 1"
)


def normalize(text: str) -> str:
    """Text with every link taken out: only to spot look-alikes whose links X left unexplained."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    for url in sorted(text_library().extract_urls(text), key=len, reverse=True):
        text = text.replace(url, " ")
    text = _URL.sub(" ", text)
    return " ".join(text.split())


class TwitterAdapter(Adapter):
    """One X account, posting as the user whose access token it holds."""

    platform = PLATFORM

    def __init__(self, account: AccountConfig, session: requests.Session) -> None:
        super().__init__(account, session)
        creds = account.credentials
        self.secrets = tuple(v for v in creds.values() if v)
        self.client = tweepy.Client(
            consumer_key=creds["consumer_key"],
            consumer_secret=creds["consumer_secret"],
            access_token=creds["access_token"],
            access_token_secret=creds["access_token_secret"],
            return_type=requests.Response,
            wait_on_rate_limit=False,
        )
        self.client.session = XHostSession(session)  # type: ignore[assignment]
        auth = tweepy.OAuth1UserHandler(
            creds["consumer_key"], creds["consumer_secret"], creds["access_token"], creds["access_token_secret"]
        ).apply_auth()
        self.media = MediaUploader(session, auth, self.secrets)
        # X's user access tokens start with the user's numeric id: no read needed to know whose timeline to list.
        prefix = creds["access_token"].split("-", 1)[0]
        self._user_id: str | None = prefix if prefix.isdigit() else None
        self._username: str | None = None

    # ------------------------------------------------------------ publish

    def publish(self, draft: Draft, progress: Progress) -> Receipt:
        parts = draft.parts or ("",)
        if not progress.parts and not parts[0].strip():
            # POST /2/tweets refuses an absent text (OpenAPI 2.167); validate says so first.
            raise Rejected(NO_TEXT, platform=PLATFORM)
        if len(progress.parts) < len(parts):
            # Media go with the first part only; once it exists they are no longer needed.
            reused = [i.sha256 for i in draft.images if i.sha256 in progress.media] if not progress.parts else []
            media_ids = self.media.media_ids(draft.images, progress) if not progress.parts and draft.images else []
            for index in range(len(progress.parts), len(parts)):
                reply_to = progress.parts[-1] if progress.parts else None
                progress.checkpoint()
                try:
                    tweet_id = self._create(parts[index], media_ids if index == 0 else [], reply_to)
                except Rejected as exc:
                    if index == 0 and reused and "media" in exc.message.lower():
                        progress.forget_media(reused)
                        raise media_expired() from None
                    if index > 0 and twitter_errors.REPLY_REFUSED in exc.message.lower():
                        raise self._thread_stopped(progress.parts, len(parts), exc) from None
                    raise
                progress.add_part(tweet_id)
        if self._username is None:
            self._learn_username()
        return self._receipt(progress.parts)

    def _create(self, text: str, media_ids: list[str], reply_to: str | None) -> str:
        try:
            response = self.client.create_tweet(
                text=text or None,
                media_ids=media_ids or None,
                in_reply_to_tweet_id=reply_to,
                user_auth=True,
            )
        except tweepy.HTTPException as exc:
            raise twitter_errors.classify(exc.response, self.secrets, publishing=True) from None
        except requests.JSONDecodeError:
            raise self._garbled() from None
        except requests.RequestException as exc:
            raise network_error(exc, PLATFORM, self.secrets) from None
        except Exception as exc:  # tweepy itself failing on an odd answer: the request went out
            raise Ambiguous(
                redact(
                    f"X's answer could not be read ({type(exc).__name__}: {exc}); the post may have been made",
                    self.secrets,
                ),
                platform=PLATFORM,
            ) from None
        try:
            answer = response.json()
        except ValueError:
            raise self._garbled(response.status_code) from None
        data = answer.get("data") if isinstance(answer, dict) else None
        tweet_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(tweet_id, str | int) and str(tweet_id).strip():
            return str(tweet_id)
        if isinstance(answer, dict) and answer.get("errors"):
            raise Rejected(redact(f"X refused the post: {answer['errors']}", self.secrets), platform=PLATFORM)
        raise self._garbled(response.status_code)

    def _thread_stopped(self, published: list[str], total: int, refusal: Rejected) -> Rejected:
        """X refused a reply of the thread: say what is public, what is not, and why.

        "already on" is what a notice reads to say the post is partly public (notify.compose.public_line).
        """
        if self._username is None:
            self._learn_username()
        done = len(published)
        public = ", ".join(self._url(i) for i in published)
        missing = f"part {done + 1}" if done + 1 == total else f"parts {done + 1}-{total}"
        return Rejected(
            f"X refused part {done + 1} of the thread as a reply, so the thread stopped: "
            f"{_count_parts(done)} already on X and public ({public}), {missing} of {total} not. "
            "Since 2026-02-23 X lets the API reply only where the author of the post replied to has "
            "mentioned or quoted this account, and may refuse replies to its own posts: post the rest by hand "
            f"as replies on X, or shorten the text to one tweet ({refusal.message})",
            code=refusal.code,
            platform=PLATFORM,
        )

    def _garbled(self, status: int | None = None) -> Ambiguous:
        return Ambiguous(
            "X answered the post request with a garbled body; the post may have been made",
            code=status,
            platform=PLATFORM,
        )

    # ------------------------------------------------------------ find

    def find(self, draft: Draft, progress: Progress, since: datetime) -> Receipt | None:
        """The next unpublished part(s) on the user's timeline since ``since``, matched beyond doubt.

        A tweet is ours only on an exact match: the whole text with its links restored from
        ``entities.urls`` (X shows t.co links), the media keys of the images this delivery
        uploaded (``progress.media``) and, for a later part, the reply to the part before it.
        """
        parts = draft.parts or ("",)
        if len(progress.parts) >= len(parts):
            return self._receipt(progress.parts)
        tweets = self._window(since)
        found = list(progress.parts)
        while len(found) < len(parts):
            index = len(found)
            media = self._recorded_media(draft, progress) if index == 0 else ()
            tweet_id = self._pick(tweets, parts[index], media, found[-1] if found else None, index)
            if tweet_id is None:
                break
            found.append(tweet_id)
        if len(found) == len(progress.parts):
            return None
        if self._username is None:
            self._learn_username()
        return self._receipt(found)

    def _window(self, since: datetime) -> list[dict[str, Any]]:
        """Every tweet of the user since ``since`` (less the clock margin); all pages, or no answer."""
        user_id = self._user_id or self._me()[0]
        token: str | None = None
        tweets: list[dict[str, Any]] = []
        for _ in range(LOOKUP_PAGES):
            listing = partial(
                self.client.get_users_tweets,
                user_id,
                start_time=since - CLOCK_MARGIN,
                max_results=LOOKUP_PAGE,
                tweet_fields=["created_at", "referenced_tweets", "entities", "attachments"],
                expansions=["attachments.media_keys"],
                pagination_token=token,
                user_auth=True,
            )
            answer = self._read(listing, lookup=True)
            if answer.get("errors") and not answer.get("data") and "result_count" not in (answer.get("meta") or {}):
                # A 200 that carries only errors listed nothing: it proves nothing absent. Asked again later.
                raise Transient(
                    redact(f"X answered the timeline with errors only ({answer['errors']})", self.secrets)[:300],
                    platform=PLATFORM,
                )
            tweets.extend(t for t in answer.get("data") or [] if isinstance(t, dict))
            token = (answer.get("meta") or {}).get("next_token")
            if not token:
                return tweets
        raise LookupUnavailable(
            f"more than {LOOKUP_PAGE * LOOKUP_PAGES} posts on X since the try; not reading further", platform=PLATFORM
        )

    @staticmethod
    def _recorded_media(draft: Draft, progress: Progress) -> tuple[str | None, ...]:
        """The X media id this delivery recorded for each image (None where it never learnt it)."""
        return tuple(progress.media.get(image.sha256) for image in draft.images)

    def _pick(
        self, tweets: list[dict[str, Any]], text: str, media: tuple[str | None, ...], reply_to: str | None, index: int
    ) -> str | None:
        """The one tweet that is this part; None if none is; Unsettled if it cannot be told."""
        wanted = as_x_expands(text)
        exact, doubtful = [], []
        for tweet in tweets:
            if _replied_to(tweet) != reply_to:
                continue
            restored = restore_text(tweet)
            if restored is None:  # a link X did not explain: compare what is left, and doubt it
                if normalize(str(tweet.get("text", ""))) == normalize(wanted) and _same_count(tweet, media):
                    doubtful.append(tweet)
                continue
            if restored != wanted:
                continue
            if None in media:
                if _same_count(tweet, media):
                    doubtful.append(tweet)
            elif _media_ids(tweet) == set(media):
                exact.append(tweet)
        if len(exact) == 1 and not doubtful:
            return str(exact[0]["id"])
        if not exact and not doubtful:
            return None
        ids = ", ".join(str(t.get("id")) for t in exact + doubtful)
        why = "several posts on X match it" if len(exact) > 1 else _doubt(media)
        raise Unsettled(f"cannot tell whether part {index + 1} is on X ({why}: {ids})", platform=PLATFORM)

    # ------------------------------------------------------------ verify

    def verify(self) -> str:
        user_id, username, level = self._me()
        if level and "write" not in level:
            raise AuthError(
                f"@{username} (id {user_id}) can only read (access level {level}): in the X developer portal set the "
                "app's permissions to Read and Write, then regenerate the access token and secret",
                code=403,
                platform=PLATFORM,
            )
        links = "; links are left out of its posts (omit_links)" if omits_links(self.account) else ""
        return f"@{username} (id {user_id}){links}; warning: {THREAD_WARNING}"

    # ------------------------------------------------------------ helpers

    def _me(self) -> tuple[str, str, str]:
        """(user id, username, access level) from GET /2/users/me."""
        answer, level = self._read(lambda: self.client.get_me(user_auth=True), with_level=True)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        if not data.get("id") or not data.get("username"):
            raise Transient("X answered /2/users/me without the user", platform=PLATFORM)
        self._user_id, self._username = str(data["id"]), str(data["username"])
        return self._user_id, self._username, level

    def _learn_username(self) -> None:
        """The username for public URLs; best effort, after posting, so it never stands between us and the post."""
        try:
            self._me()
        except Exception:  # noqa: BLE001 - the URL falls back to X's username-free form
            return

    def _read(self, call: Any, *, lookup: bool = False, with_level: bool = False) -> Any:
        """Run a read-only tweepy call; its failures are Transient (nothing was posted) or lasting.

        ``lookup``: a read made to settle an outcome, where refusals for tier or rate mean "cannot tell".
        """
        try:
            response = call()
        except tweepy.HTTPException as exc:
            raise twitter_errors.classify(exc.response, self.secrets, lookup=lookup) from None
        except requests.RequestException as exc:
            raise network_error(exc, PLATFORM, self.secrets, publishing=False) from None
        try:
            answer = response.json()
        except ValueError:
            raise Transient(
                "X answered a read with a garbled body", code=response.status_code, platform=PLATFORM
            ) from None
        answer = answer if isinstance(answer, dict) else {}
        return (answer, response.headers.get("x-access-level", "")) if with_level else answer

    def _receipt(self, part_ids: list[str]) -> Receipt:
        first = part_ids[0]
        return Receipt(remote_id=first, url=self._url(first), part_ids=tuple(part_ids))

    def _url(self, tweet_id: str) -> str:
        if self._username:
            return f"https://x.com/{self._username}/status/{tweet_id}"
        return f"https://x.com/i/web/status/{tweet_id}"


class XHostSession:
    """The adapter's session as tweepy sees it: calls to api.twitter.com go to api.x.com instead.

    tweepy 4.17 hard-codes ``https://api.twitter.com``; X documents ``https://api.x.com``. The
    URL is changed before requests prepares the call, so OAuth 1.0a signs the host the request
    is sent to (``api_base`` then reroutes it as for every other call).
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if url.startswith(TWEEPY_HOST):
            url = X_HOST + url[len(TWEEPY_HOST) :]
        return self.session.request(method, url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def _count_parts(n: int) -> str:
    return "part 1 is" if n == 1 else f"parts 1-{n} are"


def restore_text(tweet: dict[str, Any]) -> str | None:
    """The tweet's text as it was sent: t.co links back to their ``expanded_url``, HTML unescaped, NFC.

    The trailing t.co link X adds for attached media (an entity with a ``media_key``) is dropped.
    None when a t.co link in the text has no entity to restore it from.
    """
    text = str(tweet.get("text", ""))
    urls = ((tweet.get("entities") or {}).get("urls")) or []
    for entity in sorted((u for u in urls if isinstance(u, dict) and u.get("url")), key=lambda u: -len(u["url"])):
        if entity.get("media_key"):
            text = text.replace(" " + entity["url"], "").replace(entity["url"], "")
        elif entity.get("expanded_url"):
            text = text.replace(entity["url"], str(entity["expanded_url"]))
    if _T_CO.search(text):
        return None
    return unicodedata.normalize("NFC", html.unescape(text)).strip()


_T_CO = re.compile(r"https?://t\.co/\w+")


def as_x_expands(text: str) -> str:
    """Our text as :func:`restore_text` gives it back: NFC, and a link written without a scheme
    (``example.org/news``) with the ``http://`` X's ``expanded_url`` puts before it."""
    text = unicodedata.normalize("NFC", text).strip()
    out, last = "", 0
    for found in text_library().extract_urls_with_indices(text):
        start, end = found["indices"]
        out += text[last:start] + ("" if re.match(r"(?i)https?://", found["url"]) else "http://") + found["url"]
        last = end
    return out + text[last:]


def _replied_to(tweet: dict[str, Any]) -> str | None:
    for ref in tweet.get("referenced_tweets") or []:
        if isinstance(ref, dict) and ref.get("type") == "replied_to":
            return str(ref.get("id"))
    return None


def _media_ids(tweet: dict[str, Any]) -> set[str]:
    """The media ids of a tweet, from its media keys (``3_<id>`` for a photo, ``16_<id>`` for a GIF)."""
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    return {str(k).split("_", 1)[-1] for k in keys}


def _same_count(tweet: dict[str, Any], media: tuple[str | None, ...]) -> bool:
    return len(_media_ids(tweet)) == len(media)


def _doubt(media: tuple[str | None, ...]) -> str:
    if None in media:
        return "its media ids were never recorded, so its images cannot be compared"
    return "X did not expand a link in it, so its text cannot be compared"
