"""VK ID tokens: the sign-in (OAuth 2.1 authorization code with PKCE), the token file, the refresh.

Why all the care: VK ID hands out user access tokens that live one hour and a
refresh token that is *single use* (each refresh returns a new one and spends
the old). Two processes (a daemon and an ``accounts --check``, or two daemons on
PostgreSQL) refreshing with the same refresh token would have the second one
refused, and the account would need a new sign-in. So every refresh runs under
an exclusive ``flock`` on a lock file beside the token file, re-reads the file
under that lock (another process may have refreshed a moment ago, and then its
fresh token is used as it is), and writes the rotated tokens back atomically
(write a temporary file, fsync, rename, fsync the folder): a crash leaves either
the old file or the new one, never half of one.

The token file is JSON with at least ``access_token``, ``refresh_token``,
``expires_at`` (integer Unix seconds) and ``device_id`` (contract: the token
file), mode 0600. Its values are secrets: no message here ever holds them.

Endpoints, as VK ID's documentation (linked from https://id.vk.com/about/business/go) gives them:
the browser opens ``https://id.vk.com/authorize``; the code and the refresh
token are exchanged by ``POST https://id.vk.com/oauth2/auth``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from crosspost.adapters.base import AuthError, Transient

AUTHORIZE_URL = "https://id.vk.com/authorize"
TOKEN_URL = "https://id.vk.com/oauth2/auth"
# Must be listed among the VK ID app's trusted redirect URLs. Nothing listens there: the browser shows
# an error page, and the admin copies the address from its address bar (it carries code and device_id).
REDIRECT_URI = "http://localhost"
# VK ID scope names (space-separated): the wall and the photos of the communities the user manages.
SCOPE = "wall photos groups"
# Refresh this long before the access token's expiry: a request started just before it must not be
# refused half-way through a post's photo uploads.
REFRESH_MARGIN = 300
REQUIRED = ("access_token", "refresh_token", "expires_at", "device_id")


def login_again(account: str) -> str:
    """The fix for every token problem an admin can solve: sign in again."""
    return f"run `crosspost accounts login {account}` again"


@dataclass(frozen=True)
class Tokens:
    """The contents of a token file (``extra``: fields crosspost does not use, kept as they were)."""

    access_token: str = field(repr=False)  # secrets: never in a repr, so never in a traceback or log
    refresh_token: str = field(repr=False)
    expires_at: int = 0
    device_id: str = field(default="", repr=False)
    extra: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    def as_json(self) -> str:
        data = dict(self.extra)
        data.update(
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            expires_at=self.expires_at,
            device_id=self.device_id,
        )
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def expires_within(self, seconds: float, now: float) -> bool:
        return self.expires_at - now <= seconds


def read_tokens(path: Path, account: str) -> Tokens:
    """The token file at ``path``; AuthError naming the file and the fix when it is missing or unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(f"no VK ID token file {path}: {login_again(account)}", platform="vk") from None
    except OSError as exc:
        raise AuthError(f"cannot read the VK ID token file {path} ({exc.strerror})", platform="vk") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise AuthError(f"{path} is not a JSON object: {login_again(account)}", platform="vk")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise AuthError(f"{path} has no {', '.join(missing)}: {login_again(account)}", platform="vk")
    expires = data["expires_at"]
    fields = [data[k] for k in ("access_token", "refresh_token", "device_id")]
    if not all(isinstance(v, str) and v for v in fields) or not isinstance(expires, int) or isinstance(expires, bool):
        raise AuthError(
            f"{path}: access_token, refresh_token and device_id must be strings and expires_at whole Unix "
            f"seconds: {login_again(account)}",
            platform="vk",
        )
    extra = tuple(sorted((k, v) for k, v in data.items() if k not in REQUIRED))
    return Tokens(fields[0], fields[1], expires, fields[2], extra)


def write_tokens(path: Path, tokens: Tokens) -> None:
    """Replace the token file atomically, mode 0600 from its first byte (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(tokens.as_json())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock that guards ``path``'s refresh token, across processes (``flock``)."""
    lock = path.with_name(path.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


# ------------------------------------------------------------ the token endpoint


def token_request(
    session: requests.Session, form: dict[str, str], account: str, now: float, doing: str
) -> tuple[Tokens, dict[str, Any]]:
    """POST ``form`` to VK ID's token endpoint; the new tokens, and the whole answer for the caller's checks.

    A network failure or a 5xx is Transient (try later); a refusal is an AuthError saying to sign in again.
    """
    try:
        response = session.post(TOKEN_URL, data=form)
    except requests.RequestException as exc:
        raise Transient(f"VK ID could not be reached to {doing} ({type(exc).__name__})", platform="vk") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 500 or not isinstance(body, dict):
        raise Transient(f"VK ID answered HTTP {response.status_code} when asked to {doing}", platform="vk")
    if "error" in body or response.status_code >= 400:
        # error_description is VK's words; they never echo a token.
        said = str(body.get("error_description") or body.get("error") or f"HTTP {response.status_code}")
        raise AuthError(f"VK ID refused to {doing} ({said[:200]}): {login_again(account)}", platform="vk")
    try:
        tokens = Tokens(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            expires_at=int(now) + int(body["expires_in"]),
            device_id=str(body.get("device_id") or form["device_id"]),
            extra=tuple(sorted((k, body[k]) for k in ("user_id", "scope") if k in body)),
        )
    except (KeyError, TypeError, ValueError):
        raise AuthError(f"VK ID's answer to {doing} is not understood: {login_again(account)}", platform="vk") from None
    return tokens, body


# ------------------------------------------------------------ sign-in (accounts login)


@dataclass(frozen=True)
class LoginStart:
    """One sign-in in progress: the URL to open, and what only this process knows (PKCE verifier, state)."""

    url: str
    verifier: str = field(repr=False)
    state: str = field(repr=False)


def start_login(client_id: str | int) -> LoginStart:
    """The authorization URL (PKCE S256 challenge of a fresh verifier, a fresh state)."""
    verifier = secrets.token_urlsafe(64)[:96]  # 43-128 characters of [A-Za-z0-9-._~] (RFC 7636)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(24)
    query = {
        "response_type": "code",
        "client_id": str(client_id),
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return LoginStart(f"{AUTHORIZE_URL}?{urlencode(query)}", verifier, state)


def finish_login(
    session: requests.Session,
    start: LoginStart,
    redirected_to: str,
    *,
    client_id: str | int,
    path: Path,
    account: str,
    now: float,
) -> Tokens:
    """Exchange the code in the redirect URL the admin pasted; write the token file. AuthError on any refusal."""
    query = parse_qs(urlsplit(redirected_to.strip()).query)

    def one(key: str) -> str:
        values = query.get(key)
        return values[0] if values else ""

    if one("error"):
        raise AuthError(f"VK ID did not sign in ({one('error_description') or one('error')}): try again", platform="vk")
    code, device_id = one("code"), one("device_id")
    if not code or not device_id:
        raise AuthError(
            "the pasted address has no code and device_id: paste the whole address the browser showed after "
            "you allowed access (it starts with " + REDIRECT_URI + ")",
            platform="vk",
        )
    if one("state") != start.state:
        raise AuthError("the pasted address is from another sign-in (its state differs): try again", platform="vk")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": start.verifier,
        "client_id": str(client_id),
        "device_id": device_id,
        "redirect_uri": REDIRECT_URI,
        "state": secrets.token_urlsafe(24),
    }
    tokens, _ = token_request(session, form, account, now, "exchange the sign-in code")
    with locked(path):
        write_tokens(path, tokens)
    return tokens


def login(account: Any, timeout: float, ask: Callable[[str], str], now: Callable[[], float]) -> str:
    """``crosspost accounts login NAME`` for a VK ID account (the spec's ``login`` hook): ``ask`` shows the
    URL and returns the pasted redirect URL; the tokens land in the account's ``token_file``; returns the
    line to print. AuthError for any refusal."""
    from crosspost.adapters.transport import new_session

    if "access_token" in account.credentials or "token_file" not in account.options:
        raise AuthError(
            f"account {account.name} has a long-lived access_token, not the VK ID form (vk_id_client_id + "
            "token_file); nothing to sign in to",
            platform="vk",
        )
    start = start_login(account.vk_id_client_id)
    pasted = ask(start.url)
    session = new_session("vk", account.api_base, timeout)
    path = Path(account.token_file)
    tokens = finish_login(
        session, start, pasted, client_id=account.vk_id_client_id, path=path, account=account.name, now=now()
    )
    until = datetime.fromtimestamp(tokens.expires_at, UTC).isoformat(timespec="minutes")
    return (
        f"signed in; tokens written to {path} (mode 0600); access token valid until {until}, "
        "then refreshed by crosspost"
    )


# ------------------------------------------------------------ the adapter's keeper


class TokenKeeper:
    """The current access token of one VK ID account, refreshed before expiry and when VK refuses it.

    ``clock`` gives Unix seconds (passed in, so tests and callers own time).
    """

    def __init__(
        self,
        path: Path,
        client_id: str | int,
        account: str,
        session: requests.Session,
        clock: Callable[[], float],
        margin: float = REFRESH_MARGIN,
    ) -> None:
        self.path = path
        self.client_id = str(client_id)
        self.account = account
        self.session = session
        self.clock = clock
        self.margin = margin
        self.tokens: Tokens | None = None

    def current(self) -> Tokens:
        """Usable tokens: as the file has them, or refreshed first when they expire within the margin."""
        tokens = self.tokens or read_tokens(self.path, self.account)
        if tokens.expires_within(self.margin, self.clock()):
            tokens = self.refresh(tokens.access_token)
        self.tokens = tokens
        return tokens

    def refresh(self, refused: str) -> Tokens:
        """New tokens after ``refused`` (an access token that expired or that VK refused).

        Under the lock the file is read again: when another process has already replaced ``refused``
        with a token that is not about to expire, that one is used and the refresh token is not spent.
        """
        with locked(self.path):
            tokens = read_tokens(self.path, self.account)
            now = self.clock()
            if tokens.access_token != refused and not tokens.expires_within(self.margin, now):
                self.tokens = tokens
                return tokens
            form = {
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token,
                "client_id": self.client_id,
                "device_id": tokens.device_id,
                "state": secrets.token_urlsafe(24),
            }
            fresh, _ = token_request(self.session, form, self.account, now, "refresh the access token")
            fresh = Tokens(
                fresh.access_token,
                fresh.refresh_token,
                fresh.expires_at,
                fresh.device_id,
                tuple(sorted({**dict(tokens.extra), **dict(fresh.extra)}.items())),
            )
            write_tokens(self.path, fresh)
        self.tokens = fresh
        return fresh

    def secrets(self) -> tuple[str, ...]:
        """The token values known now, for scrubbing messages."""
        tokens = self.tokens
        return (tokens.access_token, tokens.refresh_token) if tokens else ()
