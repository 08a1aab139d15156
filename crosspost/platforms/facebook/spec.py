"""A Facebook Page as crosspost sees it: config keys and their checks, the text limit, the Graph host."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crosspost.config import DEFAULT_GRAPH_VERSION  # the dataclass default, for accounts built in code
from crosspost.images.limits import MB, ImageLimits
from crosspost.platforms.spec import Fail, PlatformSpec

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.model import Content

MAX_LENGTH = 63206


class FacebookSpec(PlatformSpec):
    name = "facebook"
    display = "Facebook"
    url_form = "https://www.facebook.com/<page-id>_<post-id>"
    permalink = "https://www.facebook.com/{id}"
    url_pattern = r"https://(?:www\.)?facebook\.com/(?P<id>\d+_\d+)/?"
    adapter = "crosspost.platforms.facebook.adapter:FacebookAdapter"
    emulator = "crosspost.platforms.facebook.emulator:FacebookEmulator"
    sandbox_credentials = {"page_id": "1000000002", "page_access_token": "EAAsandboxpagetoken"}
    publish_path = r"^/v[\d.]+/\d+/feed$"
    hosts = ("graph.facebook.com",)
    credentials = ("page_access_token",)
    optional_credentials = ("app_secret",)  # sent as appsecret_proof, for apps with "Require App Secret" on
    required = ("page_id",)
    optional = ("graph_version", "max_length")
    hints = {
        "page_access_token": 'page_access_token = "${FACEBOOK_PAGE_TOKEN}"',
        "page_id": 'page_id = "1234567890" (the Page\'s numeric id)',
        "app_secret": 'app_secret = "${FACEBOOK_APP_SECRET}"',
    }
    max_length_ceiling = MAX_LENGTH
    default_limit = MAX_LENGTH
    link_field = True
    # Images (Graph photo uploads): JPEG, BMP, PNG, GIF, TIFF, no WebP; "we recommend uploading photos under 4MB".
    image_limits = ImageLimits(frozenset({"JPEG", "PNG", "GIF"}), 4 * MB, gif_max_bytes=4 * MB)

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        page_id = table["page_id"]
        if isinstance(page_id, int) and not isinstance(page_id, bool):
            page_id = str(page_id)
        if not isinstance(page_id, str) or not page_id.strip().isdigit():
            raise fail(f"{prefix}.page_id", f"must be the Page's numeric id; write {self.hints['page_id']}")
        version = table.get("graph_version", DEFAULT_GRAPH_VERSION)
        if not isinstance(version, str):
            raise fail(f"{prefix}.graph_version", f'must be a string; write graph_version = "{DEFAULT_GRAPH_VERSION}"')
        if not re.fullmatch(r"v\d+\.\d+", version):
            raise fail(
                f"{prefix}.graph_version",
                f'{version!r} is not a Graph API version; write graph_version = "{DEFAULT_GRAPH_VERSION}"',
            )
        return {"page_id": page_id.strip(), "graph_version": version}

    def target(self, account: AccountConfig) -> str:
        return account.page_id or "—"

    def profile_url(self, account: AccountConfig) -> str:
        return f"https://www.facebook.com/{account.page_id}" if account.page_id else super().profile_url(account)

    def render_parts(self, account: AccountConfig, content: Content) -> list[str]:
        """The link goes in Graph's ``link`` field, which shows it as a preview card, so the text does not
        repeat it; but a post with photos gets no card, so then the text shows it."""
        from crosspost.render import render_text

        link = content.link if content.images else None
        return [render_text(content.body, link, content.tags)]


SPEC = FacebookSpec()
