"""A VK community as crosspost sees it: config keys and their checks, limits, the API hosts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crosspost.config import DEFAULT_API_VERSION  # the dataclass default, for accounts built in code
from crosspost.images.limits import MB, ImageLimits
from crosspost.platforms.spec import Fail, PlatformSpec

if TYPE_CHECKING:
    from crosspost.config import AccountConfig

DEFAULT_MAX_LENGTH = 16384


class VkSpec(PlatformSpec):
    name = "vk"
    display = "VK"
    url_form = "https://vk.com/wall-<group-id>_<post-id>"
    permalink = "https://vk.com/wall{id}"
    url_pattern = r"https://(?:m\.)?vk\.(?:com|ru)/wall(?P<id>-\d+_\d+)/?"
    adapter = "crosspost.platforms.vk.adapter:VkAdapter"
    emulator = "crosspost.platforms.vk.emulator:VkEmulator"
    sandbox_credentials = {"group_id": "1000003", "access_token": "vk1.a.sandboxusertoken"}
    publish_path = r"^/method/wall\.post$"
    hosts = ("api.vk.ru", "api.vk.com")
    credentials = ("access_token",)
    required = ("group_id",)
    optional = ("api_version", "max_length")
    hints = {
        "access_token": 'access_token = "${TOKEN_VARIABLE}"',
        "group_id": "group_id = 123456 (the community's numeric id, without the minus)",
    }
    max_length_ceiling = DEFAULT_MAX_LENGTH
    default_limit = DEFAULT_MAX_LENGTH
    max_images = 10
    post_noun = "a VK post"
    shows_alt_text = False
    # Images (VK wall photo upload): JPG, PNG, GIF; at most 50 MB; width + height <= 14000; sides at most 1:20.
    image_limits = ImageLimits(
        frozenset({"JPEG", "PNG", "GIF"}), 50 * MB, max_sides_sum=14000, max_ratio=20.0, gif_max_bytes=50 * MB
    )

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        group_id = table["group_id"]
        if isinstance(group_id, str) and group_id.strip().lstrip("-").isdigit():
            group_id = int(group_id)
        if not isinstance(group_id, int) or isinstance(group_id, bool) or group_id == 0:
            raise fail(f"{prefix}.group_id", f"must be the community's numeric id; write {self.hints['group_id']}")
        version = table.get("api_version", DEFAULT_API_VERSION)
        if not isinstance(version, str):
            raise fail(f"{prefix}.api_version", f'must be a string; write api_version = "{DEFAULT_API_VERSION}"')
        if not re.fullmatch(r"5\.\d+", version):
            raise fail(
                f"{prefix}.api_version",
                f'{version!r} is not a VK API version; write api_version = "{DEFAULT_API_VERSION}"',
            )
        return {"group_id": abs(group_id), "api_version": version}

    def target(self, account: AccountConfig) -> str:
        return str(account.group_id) if account.group_id else "—"

    def profile_url(self, account: AccountConfig) -> str:
        return f"https://vk.com/club{account.group_id}" if account.group_id else super().profile_url(account)


SPEC = VkSpec()
