"""X as crosspost sees it: config keys, the weighted 280 limit and threads, the API hosts."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crosspost.images.limits import MB, ImageLimits
from crosspost.platforms.spec import Fail, PlatformSpec

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.model import Content, Draft
    from crosspost.render import Finding

MAX_IMAGES = 4
MAX_ALT = 1000
# X bills a post that contains a URL at $0.20 instead of $0.015 since 2026-04-20 (changelog 2026-04-16,
# pricing "Post: Create (with URL)"): an account may leave links out of its posts.
OMIT_LINKS = "omit_links"


class TwitterSpec(PlatformSpec):
    name = "twitter"
    display = "X"
    url_form = "https://x.com/<username>/status/<id>"
    permalink = "https://x.com/i/web/status/{id}"
    url_pattern = r"https://(?:x|twitter)\.com/(?:[A-Za-z0-9_]+|i/web)/status/(?P<id>\d+)/?"
    adapter = "crosspost.platforms.twitter.adapter:TwitterAdapter"
    emulator = "crosspost.platforms.twitter.emulator:TwitterEmulator"
    sandbox_credentials = {
        "consumer_key": "sandbox-consumer-key",
        "consumer_secret": "sandbox-consumer-secret",
        "access_token": "1000000001-sandboxaccesstoken",
        "access_token_secret": "sandbox-access-token-secret",
    }
    threads = True
    publish_path = r"^/2/tweets$"
    hosts = ("api.twitter.com", "api.x.com", "upload.twitter.com", "upload.x.com")
    credentials = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    optional = (OMIT_LINKS,)
    hints = {
        "consumer_key": 'consumer_key = "${TWITTER_CONSUMER_KEY}"',
        "consumer_secret": 'consumer_secret = "${TWITTER_CONSUMER_SECRET}"',
        "access_token": 'access_token = "${TOKEN_VARIABLE}"',
        "access_token_secret": 'access_token_secret = "${TWITTER_ACCESS_TOKEN_SECRET}"',
    }
    length_unit = "characters as X counts them"
    max_images = MAX_IMAGES
    post_noun = "a tweet"
    # Images (X media best practices): JPG, PNG, GIF, WEBP; image <= 5 MB, animated GIF <= 15 MB and
    # <= 1280x1080, alone in its post ("up to 4 photos, 1 animated GIF or 1 video in a Post"). 8192 px a side
    # is the v1.1 upload's documented bound, which the v2 pages do not restate.
    image_limits = ImageLimits(
        frozenset({"JPEG", "PNG", "GIF", "WEBP"}),
        5 * MB,
        max_side=8192,
        gif_max_bytes=15 * MB,
        gif_box=(1280, 1080),
        gif_alone=True,
    )

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        omit = table.get(OMIT_LINKS, False)
        if not isinstance(omit, bool):
            raise fail(f"{prefix}.{OMIT_LINKS}", f"must be true or false; write {OMIT_LINKS} = true")
        return {OMIT_LINKS: True} if omit else {}

    @property
    def default_limit(self) -> int:  # type: ignore[override]
        from crosspost.platforms.twitter.thread import MAX_WEIGHT

        return MAX_WEIGHT

    def profile_url(self, account: AccountConfig) -> str:
        return "https://x.com (the account's own timeline)"  # the config has no handle to name

    def limit(self, account: AccountConfig) -> int:
        return self.default_limit  # weighted, per part; no max_length key (yet)

    def render_parts(self, account: AccountConfig, content: Content) -> list[str]:
        """The whole text if it fits in one tweet; else a thread whose first part carries the link and the
        hashtags (and, in the adapter, the images): the contract sends them with the first tweet."""
        from crosspost import render
        from crosspost.platforms.twitter import thread

        if omits_links(account):
            content = dataclasses.replace(content, link=None)
        whole = render.render_text(content.body, content.link, content.tags)
        if thread.twitter_weight(whole) <= self.default_limit:
            return [whole]
        body = render.markdown_to_text(content.body)
        tail = [content.link] if content.link and not render.shows_url(body, content.link) else []
        tail += [h for h in render._hashtags(body, content.tags).split(" ") if h]
        extra = "\n\n" + " ".join(tail) if tail else ""
        return thread.split(body, self.default_limit, extra)

    def length(self, text: str) -> int:
        from crosspost.platforms.twitter.thread import twitter_weight

        return twitter_weight(text)

    def over_limit(self, account: AccountConfig, draft: Draft, n: int, length: int, limit: int) -> Finding:
        from crosspost.render import Finding

        name = account.name
        if n == 1 and len(draft.parts) > 1:
            return Finding(
                "tail",
                f'the link and hashtags leave no room in the first tweet for "{name}" '
                f"({length} of {limit}); use fewer tags or a shorter link",
            )
        return Finding(
            "body", f'tweet {n} for "{name}" is {length} characters as X counts them, over {limit}; shorten the body'
        )

    def findings(self, account: AccountConfig, draft: Draft) -> list[Finding]:
        from crosspost.render import Finding
        from crosspost.text_library import text_library

        extract_urls = text_library().extract_urls  # not twitter_text's own import: it needs setuptools

        name = account.name
        found = [
            Finding(
                "images",
                f"the alt text of image {n} is {len(image.alt)} characters; X takes at most {MAX_ALT}: shorten it",
            )
            for n, image in enumerate(draft.images, 1)
            if len(image.alt) > MAX_ALT
        ]
        if draft.images and not draft.text.strip():
            found.append(
                Finding(
                    "body",
                    f'X refuses a post of images only: account "{name}" needs a text; '
                    f"write a body (or a [variants.{name}] body)",
                )
            )
        if omits_links(account):
            urls = sorted({url for part in draft.parts for url in extract_urls(part)})
            if urls:
                found.append(
                    Finding(
                        "body",
                        f'account "{name}" has {OMIT_LINKS} = true, but its text shows {", ".join(urls)}; '
                        f"give it a [variants.{name}] body without links (X bills a post with a URL at $0.20)",
                    )
                )
        return found


SPEC = TwitterSpec()


def omits_links(account: AccountConfig) -> bool:
    """Whether ``account`` leaves links out of its posts (``omit_links = true``)."""
    return bool(account.options.get(OMIT_LINKS, False))
