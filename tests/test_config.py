"""The config file: broken configs with their exact one-line messages, and what a good one gives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crosspost.config import find_config_path, load_config
from crosspost.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
TWITTER = (
    '[accounts.tw]\nplatform = "twitter"\nconsumer_key = "a"\nconsumer_secret = "b"\n'
    'access_token = "c"\naccess_token_secret = "d"\n'
)
ENV = {"EMPTY": "", "VK_TOKEN": "vk-secret"}

# name: (config text, the message after "FILE")
BROKEN: dict[str, tuple[str | bytes, str]] = {
    "syntax": (
        '[crosspost]\ntimezone = "UTC"\nmax_attempts = 5 5\n',
        ":3: TOML syntax error: Expected newline or end of document after a statement (column 18); "
        "fix the TOML at that line",
    ),
    "bare_duration": (
        '[crosspost]\ntimezone = "UTC"\nlate_limit = 6h   # six hours\n',
        ':3: late_limit: a duration needs quotes; write late_limit = "6h"',
    ),
    "not_utf8": (b'[crosspost]\ntimezone = "\xe9"\n', ": not UTF-8 text; save the config file as UTF-8"),
    "unknown_table": (
        "[crosspost]\n[other]\n",
        ": other: unknown table; the config file has only [crosspost], [accounts.NAME] and [notify] tables",
    ),
    "crosspost_key": (
        '[crosspost]\ntimezon = "UTC"\n',
        ": crosspost.timezon: unknown key; remove it (known keys: database, late_limit, max_attempts, posts_dir, "
        "request_timeout, retry_delay, timezone)",
    ),
    "account_key": (
        TWITTER + 'page_id = "1"\n',
        ": accounts.tw.page_id: unknown key for a twitter account; remove it (allowed: access_token, "
        "access_token_secret, api_base, consumer_key, consumer_secret, omit_links, platform)",
    ),
    "no_platform": (
        '[accounts.x]\naccess_token = "a"\n',
        ': accounts.x.platform: missing; add platform = "facebook", "telegram", "twitter" or "vk"',
    ),
    "bad_platform": (
        '[accounts.x]\nplatform = "mastodon"\n',
        ': accounts.x.platform: unknown platform \'mastodon\'; use "facebook", "telegram", "twitter" or "vk"',
    ),
    "missing_credential": (
        '[accounts.fb]\nplatform = "facebook"\npage_id = "1"\n',
        ': accounts.fb.page_access_token: missing; add page_access_token = "${FACEBOOK_PAGE_TOKEN}"',
    ),
    "unset_var": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = 1\naccess_token = "${VK_USER_TOKEN}"\n',
        ": accounts.vk.access_token: environment variable VK_USER_TOKEN is not set; "
        "export VK_USER_TOKEN=... before running crosspost",
    ),
    "empty_var": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = 1\naccess_token = "${EMPTY}"\n',
        ': accounts.vk.access_token: is empty; set it to the credential (best from the environment: "${VAR}")',
    ),
    "bad_var_name": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = 1\naccess_token = "${VK-TOKEN}"\n',
        ": accounts.vk.access_token: ${VK-TOKEN} is not a valid variable name; use letters, digits and _",
    ),
    "bad_timezone": (
        '[crosspost]\ntimezone = "Mars/Olympus"\n',
        ': crosspost.timezone: unknown time zone \'Mars/Olympus\'; use an IANA name such as "Europe/Moscow" or "UTC"',
    ),
    "bad_duration": (
        '[crosspost]\nlate_limit = "6 hours"\n',
        ": crosspost.late_limit: '6 hours' is not a duration; write whole numbers with s, m, h or d, such as \"6h\"",
    ),
    "duration_type": (
        "[crosspost]\nretry_delay = 60\n",
        ': crosspost.retry_delay: must be a string; write retry_delay = "1m"',
    ),
    "zero_timeout": (
        '[crosspost]\nrequest_timeout = "0s"\n',
        ': crosspost.request_timeout: must be more than 0s; write a duration such as "30s"',
    ),
    "bad_max_attempts": (
        "[crosspost]\nmax_attempts = 0\n",
        ": crosspost.max_attempts: must be a whole number of 1 or more, such as 5",
    ),
    "max_attempts_type": (
        '[crosspost]\nmax_attempts = "5"\n',
        ": crosspost.max_attempts: must be a whole number of 1 or more, such as 5",
    ),
    "bad_api_base": (
        TWITTER + 'api_base = "127.0.0.1:8080"\n',
        ": accounts.tw.api_base: '127.0.0.1:8080' is not a base URL; write scheme, host and port only, "
        'such as "http://127.0.0.1:8080"',
    ),
    "api_base_with_path": (
        TWITTER + 'api_base = "http://127.0.0.1:8080/api"\n',
        ": accounts.tw.api_base: 'http://127.0.0.1:8080/api' is not a base URL; write scheme, host and port only, "
        'such as "http://127.0.0.1:8080"',
    ),
    "group_id_not_numeric": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = "club123"\naccess_token = "a"\n',
        ": accounts.vk.group_id: must be the community's numeric id; "
        "write group_id = 123456 (the community's numeric id, without the minus)",
    ),
    "page_id_not_numeric": (
        '[accounts.fb]\nplatform = "facebook"\npage_id = "my-page"\npage_access_token = "a"\n',
        ": accounts.fb.page_id: must be the Page's numeric id; write page_id = \"1234567890\" (the Page's numeric id)",
    ),
    "graph_version": (
        '[accounts.fb]\nplatform = "facebook"\npage_id = "1"\npage_access_token = "a"\ngraph_version = "24"\n',
        ": accounts.fb.graph_version: '24' is not a Graph API version; write graph_version = \"v24.0\"",
    ),
    "api_version_type": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = 1\naccess_token = "a"\napi_version = 5.199\n',
        ': accounts.vk.api_version: must be a string; write api_version = "5.199"',
    ),
    "max_length": (
        '[accounts.vk]\nplatform = "vk"\ngroup_id = 1\naccess_token = "a"\nmax_length = 100000\n',
        ": accounts.vk.max_length: must be a whole number from 1 to 16384",
    ),
    "account_name": (
        '[accounts."vk ru"]\nplatform = "vk"\ngroup_id = 1\naccess_token = "a"\n',
        ": accounts.vk ru: account names may use letters, digits, '-', '_' and '.'; rename the table",
    ),
    "accounts_not_tables": (
        "accounts = 5\n",
        ": accounts: must be tables; write [accounts.NAME] with platform and credentials",
    ),
    "account_not_table": (
        '[accounts]\nvk = "x"\n',
        ": accounts.vk: must be a table; write [accounts.vk] with platform and credentials",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config_messages(name: str, tmp_path: Path) -> None:
    text, expected = BROKEN[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV).require_credentials()  # an unset ${VAR} stops only what needs the secret
    assert str(caught.value) == f"{path}{expected}"
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "none.toml", {})
    assert str(caught.value) == (
        f"{tmp_path / 'none.toml'}: config file not found; check the path given by --config or CROSSPOST_CONFIG"
    )


def test_secrets_never_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[accounts.vk]\nplatform = "vk"\ngroup_id = "x"\naccess_token = "${VK_TOKEN}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert "vk-secret" not in str(caught.value)


def test_defaults_and_resolution(tmp_path: Path) -> None:
    path = tmp_path / "crosspost.toml"
    path.write_text(
        '[accounts.vk-ru]\nplatform = "vk"\ngroup_id = -42\naccess_token = "${VK_TOKEN}"\n'
        '[accounts.fb]\nplatform = "facebook"\npage_id = 77\npage_access_token = "tok"\n'
        'api_base = "http://127.0.0.1:9/"\n'
    )
    settings = load_config(path, ENV)
    assert settings.timezone == ZoneInfo("UTC")
    assert settings.database_url == f"sqlite:///{(tmp_path / 'crosspost.db').resolve()}"
    assert settings.posts_dir == (tmp_path / "posts").resolve()
    assert (settings.late_limit, settings.retry_delay) == (timedelta(hours=6), timedelta(minutes=1))
    assert (settings.max_attempts, settings.request_timeout) == (5, 30.0)
    vk, fb = settings.accounts["vk-ru"], settings.accounts["fb"]
    assert (vk.group_id, vk.api_version, vk.limit, dict(vk.credentials)) == (
        42,
        "5.199",
        16384,
        {"access_token": "vk-secret"},
    )
    assert (fb.page_id, fb.graph_version, fb.limit, fb.api_base) == ("77", "v24.0", 63206, "http://127.0.0.1:9")
    assert settings.secrets == frozenset({"vk-secret", "tok"})
    assert "vk-secret" not in repr(vk)


def test_database_url_kept(tmp_path: Path) -> None:
    path = tmp_path / "crosspost.toml"
    path.write_text('[crosspost]\ndatabase = "postgresql+psycopg://u@localhost/db"\n')
    assert load_config(path, {}).database_url == "postgresql+psycopg://u@localhost/db"


def test_example_config_documents_every_key() -> None:
    env = {
        "TWITTER_CONSUMER_KEY": "k",
        "TWITTER_CONSUMER_SECRET": "s",
        "TWITTER_ACCESS_TOKEN": "t",
        "TWITTER_ACCESS_TOKEN_SECRET": "ts",
        "FACEBOOK_PAGE_TOKEN": "f",
        "VK_TOKEN": "v",
        "TELEGRAM_BOT_TOKEN": "123456:tg",
    }
    example = REPO / "config.example.toml"
    settings = load_config(example, env)
    assert list(settings.accounts) == ["twitter", "facebook", "vk", "telegram"]
    assert [a.platform for a in settings.accounts.values()] == ["twitter", "facebook", "vk", "telegram"]
    text = example.read_text()
    for key in (
        "timezone",
        "database",
        "posts_dir",
        "late_limit",
        "max_attempts",
        "retry_delay",
        "request_timeout",
        "graph_version",
        "api_version",
        "max_length",
        "api_base",
        "bot_token",
        "chat_id",
    ):
        assert f"{key} =" in text, key
    with pytest.raises(ConfigError, match="environment variable TWITTER_CONSUMER_KEY is not set"):
        load_config(example, {}).require_credentials()


def test_find_config_path(tmp_path: Path) -> None:
    assert find_config_path("x.toml", {"CROSSPOST_CONFIG": "y.toml"}, tmp_path) == Path("x.toml")
    assert find_config_path(None, {"CROSSPOST_CONFIG": "y.toml"}, tmp_path) == Path("y.toml")
    (tmp_path / "crosspost.toml").write_text("")
    assert find_config_path(None, {}, tmp_path) == tmp_path / "crosspost.toml"
