"""X as crosspost sees it: config keys, the weighted 280 limit and threads, the API hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosspost.images.limits import MB, ImageLimits
from crosspost.platforms.spec import PlatformSpec

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.model import Content, Draft
    from crosspost.render import Finding

MAX_IMAGES = 4
MAX_ALT = 1000


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

        return [
            Finding(
                "images",
                f"the alt text of image {n} is {len(image.alt)} characters; X takes at most {MAX_ALT}: shorten it",
            )
            for n, image in enumerate(draft.images, 1)
            if len(image.alt) > MAX_ALT
        ]


SPEC = TwitterSpec()
