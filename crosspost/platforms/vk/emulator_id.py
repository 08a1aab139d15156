"""The VK ID part of the VK emulator: id.vk.com's sign-in and token endpoint, and the tokens it hands out.

As VK ID documents it: ``GET /authorize`` (here it signs the sandbox admin in at
once and redirects to ``redirect_uri`` with ``code``, ``state`` and
``device_id``), and ``POST /oauth2/auth`` with ``grant_type=authorization_code``
(the PKCE S256 check of ``code_verifier``, the code used once, the same
``device_id`` and ``redirect_uri``) or ``grant_type=refresh_token`` (single use:
each refresh spends the refresh token and returns a new pair; a spent one is
refused). Access tokens expire after :attr:`VkIdServer.lifetime` seconds of the
emulator's own clock, which tests move on with :meth:`VkIdServer.advance`.

``refreshes`` records every refresh token received, in order, so a test can
prove that no refresh token was ever sent twice.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from crosspost.sandbox.core import SandboxRequest, SandboxResponse

DEFAULT_CLIENT_ID = "51234567"
DEFAULT_LIFETIME = 3600  # VK ID: "the access token lives 1 hour"
SCOPE = "wall photos groups"


@dataclass
class _Code:
    challenge: str
    client_id: str
    redirect_uri: str
    device_id: str
    scope: str


class VkIdServer:
    """The tokens of one VK ID app (``client_id``) for the sandbox's one admin user."""

    def __init__(self, client_id: str | int = DEFAULT_CLIENT_ID, lifetime: int = DEFAULT_LIFETIME) -> None:
        self.client_id = str(client_id)
        self.lifetime = lifetime
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.offset = 0.0
            self.codes: dict[str, _Code] = {}
            self.access: dict[str, float] = {}  # access token -> expiry (emulator clock)
            self.live: dict[str, str] = {}  # unspent refresh token -> its device_id
            self.spent: set[str] = set()
            self.refreshes: list[str] = []  # every refresh token received, in order
            self.scope = SCOPE

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock on: tokens expire without a test waiting."""
        with self.lock:
            self.offset += seconds

    def owns(self, path: str) -> bool:
        return path in ("/authorize", "/oauth2/auth")

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/authorize":
            return self._authorize(request)
        if request.method != "POST":
            return _error("invalid_request", "use POST", 405)
        params = request.params()
        if params.get("client_id") != self.client_id:
            return _error("invalid_client", "unknown client_id", 401)
        grant = params.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                return self._exchange(params)
            if grant == "refresh_token":
                return self._refresh(params)
        return _error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def check(self, token: str) -> str:
        """``"ok"``, ``"expired"`` or ``"unknown"`` for an access token sent to the API."""
        with self.lock:
            expires = self.access.get(token)
            if expires is None:
                return "unknown"
            return "ok" if self.now() < expires else "expired"

    def issue(self, device_id: str | None = None) -> dict[str, Any]:
        """A fresh token pair as the token endpoint answers it (tests provision token files with it)."""
        device = device_id or secrets.token_urlsafe(16)
        access, refresh = "vk2.a." + secrets.token_urlsafe(32), "vk2.r." + secrets.token_urlsafe(32)
        self.access[access] = self.now() + self.lifetime
        self.live[refresh] = device
        return {
            "access_token": access,
            "refresh_token": refresh,
            "id_token": "",
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "user_id": 1000001,
            "device_id": device,
            "scope": self.scope,
        }

    # ------------------------------------------------------------ endpoints

    def _authorize(self, request: SandboxRequest) -> SandboxResponse:
        q = request.params()
        if q.get("client_id") != self.client_id:
            return SandboxResponse.html("<p>unknown client_id</p>", 400)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return SandboxResponse.html("<p>response_type=code and a S256 code_challenge are required</p>", 400)
        redirect = q.get("redirect_uri", "")
        if not redirect:
            return SandboxResponse.html("<p>redirect_uri is required</p>", 400)
        code, device = "vk2.c." + secrets.token_urlsafe(24), secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = _Code(q["code_challenge"], self.client_id, redirect, device, q.get("scope", ""))
        query = urlencode({"code": code, "state": q.get("state", ""), "device_id": device, "type": "code_v2"})
        return SandboxResponse(302, b"", {"Location": f"{redirect}?{query}"})

    def _exchange(self, params: dict[str, str]) -> SandboxResponse:
        code = self.codes.pop(params.get("code", ""), None)  # a code is used once, right or wrong
        if code is None:
            return _error("invalid_grant", "code is invalid or expired")
        verifier = params.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != code.challenge:
            return _error("invalid_grant", "code_verifier does not match code_challenge")
        if params.get("device_id") != code.device_id:
            return _error("invalid_grant", "device_id does not match")
        if params.get("redirect_uri") != code.redirect_uri:
            return _error("invalid_grant", "redirect_uri does not match")
        return SandboxResponse.json({**self.issue(code.device_id), "state": params.get("state", "")})

    def _refresh(self, params: dict[str, str]) -> SandboxResponse:
        token = params.get("refresh_token", "")
        self.refreshes.append(token)
        if token in self.spent:
            return _error("invalid_grant", "refresh token is already used")
        device = self.live.pop(token, None)
        if device is None:
            return _error("invalid_grant", "refresh token is invalid")
        self.spent.add(token)
        if params.get("device_id") != device:
            return _error("invalid_grant", "device_id does not match")
        return SandboxResponse.json({**self.issue(device), "state": params.get("state", "")})


def _error(error: str, description: str, status: int = 400) -> SandboxResponse:
    return SandboxResponse.json({"error": error, "error_description": description}, status)
