"""Real servers on 127.0.0.1 that receive crosspost's notices: SMTP (aiosmtpd) and a JSON webhook.

Nothing is faked on crosspost's side: Apprise speaks real SMTP and real HTTP to these.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "crosspost"
SMTP_PASSWORD = "smtp-pass-5ecret-9271"


@dataclass
class Mail:
    sender: str
    to: list[str]
    subject: str
    text: str
    raw: str


class _MailBox:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.logins: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        with self.lock:
            self.mails.append(
                Mail(envelope.mail_from, list(envelope.rcpt_tos), str(message["subject"]), text, raw.decode("latin-1"))
            )
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            with self.lock:
                self.logins.append((user, password))
            return AuthResult(success=(user, password) == (SMTP_USER, SMTP_PASSWORD))
        return AuthResult(success=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Hook:
    """What the webhook got: each request's JSON body; ``fail`` answers the next N requests with a 500."""

    port: int
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    fail: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While clear, every request waits here (a target that hangs); set by default.
    open: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.open.set()


@contextmanager
def smtp_server() -> Iterator[tuple[int, _MailBox]]:
    box = _MailBox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


@contextmanager
def webhook() -> Iterator[Hook]:
    hook = Hook(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            hook.arrived.set()
            hook.open.wait(60)
            with hook.lock:
                hook.raw.append(data + "\n" + str(self.headers))
                failing = hook.fail > 0
                if failing:
                    hook.fail -= 1
                else:
                    hook.bodies.append(json.loads(data))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.open.set()
        server.shutdown()
        server.server_close()


def mail_url(port: int) -> str:
    """Apprise's mailto:// to the local server: login with ${SMTP_PASSWORD}, no TLS."""
    return (
        f"mailto://{SMTP_USER}:${{SMTP_PASSWORD}}@127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure"
        "&from=crosspost@example.org&to=press@example.org"
    )


def hook_url(hook: Hook) -> str:
    return f"json://127.0.0.1:{hook.port}/crosspost"
