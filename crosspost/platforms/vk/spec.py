"""A VK community as crosspost sees it: config keys and their checks, limits, the API hosts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
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
    login = "crosspost.platforms.vk.token:login"
    sandbox_credentials = {"group_id": "1000003", "access_token": "vk1.a.sandboxusertoken"}
    publish_path = r"^/method/wall\.post$"
    hosts = ("api.vk.ru", "api.vk.com", "id.vk.com")
    # Either a long-lived user token, or a VK ID app whose short-lived tokens live in token_file.
    credentials = ("access_token",)
    credentials_unless = ("vk_id_client_id", "token_file")
    required = ("group_id",)
    optional = ("api_version", "max_length", "vk_id_client_id", "token_file")
    path_options = ("token_file",)
    # VK documents wall.post's guid as valid for one hour: a resend later than that may post twice.
    resend_window = timedelta(hours=1)
    refuses_duplicates = False  # a repeated guid gets the first post's id; VK documents no duplicate error
    hints = {
        "access_token": 'access_token = "${TOKEN_VARIABLE}"',
        "vk_id_client_id": "vk_id_client_id = 51234567 (the VK ID app's id)",
        "token_file": 'token_file = "secrets/vk-id.json" (written by `crosspost accounts login NAME`)',
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
        return {"group_id": abs(group_id), "api_version": version, **self._token_form(table, prefix, fail)}

    def _token_form(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        """``access_token``, or ``vk_id_client_id`` + ``token_file``: exactly one of the two forms."""
        vk_id = [key for key in ("vk_id_client_id", "token_file") if key in table]
        if "access_token" in table and vk_id:
            raise fail(
                f"{prefix}.{vk_id[0]}",
                "an account has either access_token or vk_id_client_id + token_file; remove one form",
            )
        if "access_token" in table:  # the config already demanded one form
            return {}
        missing = [key for key in ("vk_id_client_id", "token_file") if key not in table]
        if missing:
            raise fail(f"{prefix}.{missing[0]}", f"missing; add {self.hints[missing[0]]}")
        client_id = table["vk_id_client_id"]
        if isinstance(client_id, str) and client_id.strip().isdigit():
            client_id = int(client_id)
        if not isinstance(client_id, int) or isinstance(client_id, bool) or client_id <= 0:
            raise fail(
                f"{prefix}.vk_id_client_id", f"must be the app's numeric id; write {self.hints['vk_id_client_id']}"
            )
        if table["token_file"] is None:
            raise fail(f"{prefix}.token_file", f"is empty; write {self.hints['token_file']}")
        return {"vk_id_client_id": client_id, "token_file": table["token_file"]}

    def target(self, account: AccountConfig) -> str:
        return str(account.group_id) if account.group_id else "—"

    def profile_url(self, account: AccountConfig) -> str:
        return f"https://vk.com/club{account.group_id}" if account.group_id else super().profile_url(account)


SPEC = VkSpec()
