"""The config file: TOML to frozen settings (contract: "The config file").

``load_config`` is given the path and the environment; it never reads either
by itself, so tests pass both in. Every problem is a :class:`ConfigError` whose
message names the file, the key and the fix, on one line.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosspost.errors import ConfigError, TimeFormatError
from crosspost.timeutil import parse_duration

# Every platform's own keys, limits and checks live in its spec (crosspost/platforms/<name>/spec.py);
# config.py asks the registry. ``PLATFORMS`` (the registered names) is read lazily: see __getattr__ below.
DEFAULT_GRAPH_VERSION = "v24.0"
DEFAULT_API_VERSION = "5.199"

_VAR = re.compile(r"\$\{([^}]*)\}")

# [notify] (issue 13): what a notice may be about, and the default ("needs a person").
NOTIFY_EVENTS = ("failed", "unknown", "missed", "sent", "daemon")
NOTIFY_DEFAULT_ON = ("failed", "unknown", "missed")


@dataclass(frozen=True)
class AccountConfig:
    """One account: where to publish and with what credentials.

    ``credentials`` holds secrets only; never print or store it.
    """

    name: str
    platform: str
    credentials: Mapping[str, str] = field(repr=False)
    page_id: str | None = None
    group_id: int | None = None
    graph_version: str = DEFAULT_GRAPH_VERSION
    api_version: str = DEFAULT_API_VERSION
    max_length: int | None = None
    api_base: str | None = None
    # A platform's own plain keys that are not fields above (a plugin's; a channel's chat_id), as its spec
    # checked them; they read back as attributes: ``account.chat_id``.
    options: Mapping[str, Any] = field(default_factory=dict)
    # One line per credential whose ${VAR} is unset (file, key, fix). Not an error at load time: staff
    # without the secrets may run every command that does not talk to the platform (contract).
    unset: tuple[str, ...] = ()

    def require_credentials(self) -> None:
        """Raise ConfigError (the first unset ``${VAR}``'s line) unless every credential is set."""
        if self.unset:
            raise ConfigError(self.unset[0])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("options", "unset"):
            raise AttributeError(name)
        try:
            return self.options[name]
        except KeyError:
            raise AttributeError(f"{self.platform} account {self.name!r} has no {name!r}") from None

    @property
    def limit(self) -> int:
        """The text limit checked at validate time (as the platform counts it, per part)."""
        from crosspost.platforms import spec_for

        return spec_for(self.platform).limit(self)


@dataclass(frozen=True)
class NotifyConfig:
    """``[notify]``: Apprise URLs (``${VAR}`` resolved) and the events worth a notice.

    ``ids`` names each target by a hash of the URL as written in the config (with its ``${VAR}``
    references, not their values), so the outbox can remember which targets already have a notice
    without storing anything derived from a secret. ``secrets`` are the resolved ``${VAR}`` values.
    """

    urls: tuple[str, ...] = field(default=(), repr=False)
    ids: tuple[str, ...] = ()
    on: frozenset[str] = frozenset(NOTIFY_DEFAULT_ON)
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    digest: time | None = None  # the daily digest's time of day, in the config timezone
    # The line naming an unset ``${VAR}`` in ``urls`` (then ``urls`` is empty): only sending needs it.
    unset: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the config file says, resolved: paths absolute, durations parsed."""

    path: Path
    timezone: ZoneInfo
    database_url: str
    posts_dir: Path
    late_limit: timedelta
    max_attempts: int
    retry_delay: timedelta
    request_timeout: float
    accounts: Mapping[str, AccountConfig]
    # Things worth telling the user that do not stop a command (the CLI prints them).
    warnings: tuple[str, ...] = ()
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def media_dir(self) -> Path:
        """Where queued media copies live: beside a SQLite file, else beside the config."""
        if self.database_url.startswith("sqlite:///"):
            db_file = Path(self.database_url[len("sqlite:///") :])
            if str(db_file) not in ("", ":memory:"):
                return db_file.parent / "media"
        return self.folder / "media"

    @functools.cached_property
    def secrets(self) -> frozenset[str]:
        """Every secret value, for scrubbing text before it is shown or stored. Worked out once: every log
        line is scrubbed with it (a frozen dataclass's cached_property writes to the instance's __dict__)."""
        accounts = frozenset(v for a in self.accounts.values() for v in a.credentials.values() if v)
        return accounts | self.notify.secrets

    def require_credentials(self, accounts: Iterable[str] | None = None, *, notify: bool = False) -> None:
        """Raise ConfigError unless the named accounts (default: all) have every credential set, and,
        with ``notify``, the ``[notify]`` urls too. Called by the commands that talk to platforms."""
        for name in self.accounts if accounts is None else accounts:
            self.accounts[name].require_credentials()
        if notify and self.notify.unset:
            raise ConfigError(self.notify.unset)


CONFIG_NAME = "crosspost.toml"


def find_config_path(option: str | None, environ: Mapping[str, str], cwd: Path) -> Path:
    """``--config``, else ``$CROSSPOST_CONFIG``, else ``crosspost.toml`` in ``cwd`` or the nearest
    folder above it (as git finds its repository), so a staffer in ``posts/`` uses the team's config.

    Raises ConfigError when none is found: the message points to the existing config (--config,
    CROSSPOST_CONFIG, the folder to work in) rather than to making a second one."""
    if option:
        return Path(option)
    if environ.get("CROSSPOST_CONFIG"):
        return Path(environ["CROSSPOST_CONFIG"])
    for folder in (cwd, *cwd.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    raise ConfigError(
        f"no {CONFIG_NAME} in {cwd} or any folder above it; run crosspost in the folder that holds the "
        "config (or one below it), pass --config PATH or set CROSSPOST_CONFIG=PATH"
    )


def load_config(path: Path, environ: Mapping[str, str]) -> Settings:
    """Read and check the config file at ``path``; ``${VAR}`` come from ``environ``."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{shown}: config file not found; check the path given by --config or CROSSPOST_CONFIG"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read the config file ({exc.strerror}); check its permissions") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: not UTF-8 text; save the config file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        # "FILE:LINE:" as for post files, so editors can jump to it; tomllib only puts the line in its text.
        where = re.search(r" \(at line (\d+), column (\d+)\)$", str(exc))
        if where:
            message = f"{str(exc)[: where.start()]} (column {where.group(2)})"
            line = where.group(1)
            text = raw.decode("utf-8").splitlines()[int(line) - 1] if int(line) else ""
            bare = re.fullmatch(r"\s*(\w+)\s*=\s*(\d+[smhd][\dsmhd]*)\s*(#.*)?", text)
            if bare:  # the likeliest slip: a duration without its quotes
                key, value = bare.group(1), bare.group(2)
                raise ConfigError(f'{shown}:{line}: {key}: a duration needs quotes; write {key} = "{value}"') from None
            raise ConfigError(f"{shown}:{line}: TOML syntax error: {message}; fix the TOML at that line") from None
        raise ConfigError(f"{shown}: TOML syntax error: {exc}; fix the TOML") from None
    settings = _Reader(shown, path.resolve().parent, environ).settings(path.resolve(), data)
    warning = loose_permissions_warning(path, data)
    return replace(settings, warnings=(warning,)) if warning else settings


class _Reader:
    def __init__(self, shown: str, folder: Path, environ: Mapping[str, str]) -> None:
        self.shown = shown
        self.folder = folder
        self.environ = environ

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.shown}: {key}: {message}")

    def settings(self, path: Path, data: dict[str, Any]) -> Settings:
        for key in data:
            if key not in ("crosspost", "accounts", "notify"):
                raise self.fail(
                    key, "unknown table; the config file has only [crosspost], [accounts.NAME] and [notify] tables"
                )
        main = data.get("crosspost", {})
        if not isinstance(main, dict):
            raise self.fail("crosspost", "must be a table; write [crosspost] followed by its keys")
        known = {"timezone", "database", "posts_dir", "late_limit", "max_attempts", "retry_delay", "request_timeout"}
        for key in main:
            if key not in known:
                raise self.fail(f"crosspost.{key}", f"unknown key; remove it (known keys: {', '.join(sorted(known))})")

        tz_name = self.text(main, "crosspost.timezone", "UTC")
        try:
            timezone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                "crosspost.timezone",
                f'unknown time zone {tz_name!r}; use an IANA name such as "Europe/Moscow" or "UTC"',
            ) from None

        database = self.text(main, "crosspost.database", "crosspost.db")
        if "://" in database:
            database_url = database
        else:
            database_url = "sqlite:///" + str((self.folder / database).resolve())

        posts_dir = (self.folder / self.text(main, "crosspost.posts_dir", "posts")).resolve()
        late_limit = self.duration(main, "crosspost.late_limit", "6h")
        retry_delay = self.duration(main, "crosspost.retry_delay", "1m")
        timeout = self.duration(main, "crosspost.request_timeout", "30s")
        if timeout.total_seconds() <= 0:
            raise self.fail("crosspost.request_timeout", 'must be more than 0s; write a duration such as "30s"')
        max_attempts = main.get("max_attempts", 5)
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise self.fail("crosspost.max_attempts", "must be a whole number of 1 or more, such as 5")

        accounts_raw = data.get("accounts", {})
        if not isinstance(accounts_raw, dict):
            raise self.fail("accounts", "must be tables; write [accounts.NAME] with platform and credentials")
        accounts = {name: self.account(name, table) for name, table in accounts_raw.items()}
        return Settings(
            path=path,
            timezone=timezone,
            database_url=database_url,
            posts_dir=posts_dir,
            late_limit=late_limit,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            request_timeout=timeout.total_seconds(),
            accounts=accounts,
            notify=self.notify(data.get("notify", {})),
        )

    def notify(self, table: Any) -> NotifyConfig:
        """``[notify]``: ``urls`` (Apprise URLs; checked by Apprise itself when sending, which would cost
        a quarter second here) and ``on``."""
        if not isinstance(table, dict):
            raise self.fail("notify", "must be a table; write [notify] followed by urls = [...]")
        for key in table:
            if key not in ("urls", "on", "digest"):
                raise self.fail(f"notify.{key}", "unknown key; remove it (known keys: digest, on, urls)")
        raw = table.get("urls", [])
        if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
            raise self.fail("notify.urls", 'must be a list of Apprise URLs; write urls = ["mailtos://..."]')
        urls: list[str] = []
        secrets: set[str] = set()
        unset = next(filter(None, (self.unset_var(f"notify.urls[{i}]", url) for i, url in enumerate(raw))), None)
        for i, url in enumerate(raw if unset is None else ()):
            key = f"notify.urls[{i}]"
            expanded = self.expand(key, url).strip()
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", expanded):
                raise self.fail(
                    key, 'is not an Apprise URL; write scheme://..., such as "mailtos://user:${SMTP_PASSWORD}@host"'
                )
            urls.append(expanded)
            secrets.update(self.environ[var] for var in _VAR.findall(url) if self.environ[var])
        on = table.get("on", list(NOTIFY_DEFAULT_ON))
        if not isinstance(on, list) or not all(isinstance(e, str) for e in on):
            raise self.fail("notify.on", f"must be a list of events; write on = {json.dumps(list(NOTIFY_DEFAULT_ON))}")
        for event in on:
            if event not in NOTIFY_EVENTS:
                raise self.fail("notify.on", f"unknown event {event!r}; use any of: {', '.join(NOTIFY_EVENTS)}")
        digest = None
        if "digest" in table:
            value = table["digest"]
            match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value) if isinstance(value, str) else None
            if match is None:
                raise self.fail("notify.digest", 'must be a time of day as "HH:MM"; write digest = "08:00"')
            digest = time(int(match.group(1)), int(match.group(2)))
        ids = tuple(hashlib.sha256(url.encode()).hexdigest()[:12] for url in raw) if unset is None else ()
        return NotifyConfig(
            urls=tuple(urls), ids=ids, on=frozenset(on), secrets=frozenset(secrets), digest=digest, unset=unset
        )

    def text(self, table: dict[str, Any], key: str, default: str) -> str:
        value = table.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, str):
            raise self.fail(key, f'must be a string; write {key.rsplit(".", 1)[-1]} = "{default}"')
        return value

    def duration(self, table: dict[str, Any], key: str, default: str) -> timedelta:
        value = self.text(table, key, default)
        try:
            return parse_duration(value)
        except TimeFormatError:
            raise self.fail(
                key, f'{value!r} is not a duration; write whole numbers with s, m, h or d, such as "{default}"'
            ) from None

    def unset_var(self, key: str, value: str) -> str | None:
        """The one-line message for the first ``${VAR}`` in ``value`` that the environment lacks, else None
        (a badly written name is still an error at once: it is a typo in the file, not a missing secret)."""
        for var in _VAR.findall(value):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
                raise self.fail(key, f"${{{var}}} is not a valid variable name; use letters, digits and _")
        for var in _VAR.findall(value):
            if var not in self.environ:
                return str(
                    self.fail(key, f"environment variable {var} is not set; export {var}=... before running crosspost")
                )
        return None

    def expand(self, key: str, value: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            var = match.group(1)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
                raise self.fail(key, f"${{{var}}} is not a valid variable name; use letters, digits and _")
            if var not in self.environ:
                raise self.fail(
                    key, f"environment variable {var} is not set; export {var}=... before running crosspost"
                )
            return self.environ[var]

        return _VAR.sub(substitute, value)

    def account(self, name: str, table: Any) -> AccountConfig:
        prefix = f"accounts.{name}"
        if not isinstance(table, dict):
            raise self.fail(prefix, f"must be a table; write [accounts.{name}] with platform and credentials")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise self.fail(prefix, "account names may use letters, digits, '-', '_' and '.'; rename the table")
        platform = table.get("platform")
        from crosspost.platforms import specs

        known = specs()
        quoted = [f'"{p}"' for p in known]
        choices = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted) or (
            "one that is registered (none is: reinstall crosspost with pip install -e .)"
        )
        if platform is None:
            raise self.fail(f"{prefix}.platform", f"missing; add platform = {choices}")
        if not isinstance(platform, str) or platform not in known:
            raise self.fail(f"{prefix}.platform", f"unknown platform {platform!r}; use {choices}")
        spec = known[platform]
        optional = ("max_length",) if spec.max_length_ceiling is not None else ()
        allowed = {"platform", "api_base", *spec.credentials, *spec.optional_credentials, *spec.required}
        allowed |= {*spec.optional, *optional}
        for key in table:
            if key not in allowed:
                raise self.fail(
                    f"{prefix}.{key}",
                    f"unknown key for a {platform} account; remove it (allowed: {', '.join(sorted(allowed))})",
                )
        # Another credential form (VK ID) leaves the credentials out; the spec's read_options checks the forms.
        needed = () if any(key in table for key in spec.credentials_unless) else spec.credentials
        for key in (*needed, *spec.required):
            if key not in table:
                raise self.fail(f"{prefix}.{key}", f"missing; add {spec.hints.get(key, f'{key} = ...')}")

        credentials: dict[str, str] = {}
        unset: list[str] = []
        # each required one is there by now; an optional one (facebook's app_secret) only if given
        for key in (k for k in (*spec.credentials, *spec.optional_credentials) if k in table):
            value = table[key]
            if not isinstance(value, str):
                raise self.fail(f"{prefix}.{key}", f"must be a string; write {spec.hints.get(key, f'{key} = ...')}")
            missing = self.unset_var(f"{prefix}.{key}", value)
            if missing:
                unset.append(missing)
                continue
            expanded = self.expand(f"{prefix}.{key}", value).strip()
            if not expanded:
                raise self.fail(
                    f"{prefix}.{key}", 'is empty; set it to the credential (best from the environment: "${VAR}")'
                )
            credentials[key] = expanded

        fields: dict[str, Any] = {}
        for key in (k for k in spec.path_options if k in table):  # relative to the config file, as posts_dir
            written = self.expand(f"{prefix}.{key}", self.text(table, f"{prefix}.{key}", "")).strip()
            table = {**table, key: (self.folder / written).resolve() if written else None}
        options = spec.read_options(table, prefix, lambda key, message: ConfigError(f"{self.shown}: {key}: {message}"))
        own = {f.name for f in dataclasses.fields(AccountConfig)}
        fields.update({k: v for k, v in options.items() if k in own})
        extra = {k: v for k, v in options.items() if k not in own}
        if extra:
            fields["options"] = extra
        if "max_length" in table:
            limit = table["max_length"]
            ceiling = spec.max_length_ceiling or 0
            if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= ceiling:
                raise self.fail(f"{prefix}.max_length", f"must be a whole number from 1 to {ceiling}")
            fields["max_length"] = limit
        if "api_base" in table:
            base = self.expand(f"{prefix}.api_base", self.text(table, f"{prefix}.api_base", "")).rstrip("/")
            if not re.fullmatch(r"https?://[^/\s?#]+", base):
                raise self.fail(
                    f"{prefix}.api_base",
                    f'{base!r} is not a base URL; write scheme, host and port only, such as "http://127.0.0.1:8080"',
                )
            fields["api_base"] = base
        return AccountConfig(name=name, platform=platform, credentials=credentials, unset=tuple(unset), **fields)


def loose_permissions_warning(path: Path, raw_toml_data: Mapping[str, Any]) -> str | None:
    """A one-line warning when the config file at ``path`` holds a literal secret (not ``${VAR}``) and
    other users may read it (group or world read bit); None when it is fine or cannot be told.

    ``raw_toml_data`` is the file's parsed TOML, before ``${VAR}`` expansion. The warning names the
    keys, never their values.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & 0o044:
        return None
    accounts = raw_toml_data.get("accounts")
    if not isinstance(accounts, Mapping):
        return None
    from crosspost.platforms import specs

    secret_keys = {key for spec in specs().values() for key in (*spec.credentials, *spec.optional_credentials)}
    literal = [
        f"accounts.{name}.{key}"
        for name, table in accounts.items()
        if isinstance(table, Mapping)
        for key, value in table.items()
        if key in secret_keys and isinstance(value, str) and _VAR.sub("", value).strip()
    ]
    if not literal:
        return None
    who = "every user" if mode & 0o004 else "its group"
    return (
        f"{path}: warning: readable by {who} and holds literal secrets ({', '.join(literal)}); "
        f'run chmod 600 {path}, or take them from the environment with "${{VAR}}"'
    )


def __getattr__(name: str) -> Any:
    # ``PLATFORMS``: the registered platform names, read from the registry when first asked for.
    if name == "PLATFORMS":
        from crosspost.platforms import names

        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
