"""The sandbox's HTTP server: routing to the platform emulators, fault injection, state.

Each platform emulator is an :class:`Emulator` that answers the paths it owns.
The server adds what is common: a request log, faults injected per path
(status, delay, dropped connection before or after the handler ran, garbage
body, rate limit), JSON control endpoints under ``/_sandbox/`` and the page
at ``/`` that shows every wall.

Control endpoints (JSON):
  GET  /_sandbox/state          every emulator's published posts
  GET  /_sandbox/requests       the request log (method, path, status, time)
  POST /_sandbox/faults         add faults: a list of Fault fields (see :class:`Fault`)
  DELETE /_sandbox/faults       remove every fault
  POST /_sandbox/seed           put look-alike posts on a wall: {"platform": NAME, "posts": [SPEC, ...]}
                                (see each emulator's ``seed``): as if posted by someone else or earlier
  POST /_sandbox/reset          forget posts, faults and the request log
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import html
import json
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class UploadedFile:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    host: str  # host:port the client connected to, for URLs the emulator hands back

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def form(self) -> dict[str, list[str]]:
        """urlencoded body fields, or the plain fields of a multipart body."""
        if self.content_type.startswith("application/x-www-form-urlencoded"):
            return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        if self.content_type.startswith("multipart/form-data"):
            out: dict[str, list[str]] = {}
            for part in self._multipart():
                if not part.filename:
                    out.setdefault(part.name, []).append(part.data.decode("utf-8", "replace"))
            return out
        return {}

    def files(self) -> list[UploadedFile]:
        """The file fields of a multipart body."""
        if not self.content_type.startswith("multipart/form-data"):
            return []
        return [p for p in self._multipart() if p.filename]

    def multipart_fields(self) -> list[UploadedFile]:
        """Every multipart field, files and plain ones alike."""
        return self._multipart() if self.content_type.startswith("multipart/form-data") else []

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def params(self) -> dict[str, str]:
        """Query and form fields merged, first value each (form wins)."""
        merged = {k: v[0] for k, v in self.query.items()}
        merged.update({k: v[0] for k, v in self.form().items()})
        return merged

    def _multipart(self) -> list[UploadedFile]:
        head = f"Content-Type: {self.headers.get('content-type', '')}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        parts: list[UploadedFile] = []
        for part in message.iter_parts():
            disposition = part.get("Content-Disposition", "")
            params = dict(part.get_params(header="content-disposition") or [])
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = b""
            parts.append(
                UploadedFile(
                    name=str(params.get("name", "")),
                    filename=str(params.get("filename", "") or ""),
                    content_type=part.get_content_type() if "filename" in disposition else "text/plain",
                    data=payload,
                )
            )
        return parts


@dataclass
class SandboxResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
        return cls(
            status,
            json.dumps(obj, ensure_ascii=False).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    @classmethod
    def html(cls, text: str, status: int = 200) -> SandboxResponse:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


@dataclass(frozen=True)
class WallImage:
    """A photo as the sandbox page shows it: inline, so the page needs no media route."""

    mime: str
    data: bytes
    alt: str = ""


@dataclass(frozen=True)
class WallPost:
    """One post as the sandbox page shows it; each emulator maps its own post records to these."""

    text: str
    created: float  # Unix seconds
    url: str  # the post's public address, linked from the meta line
    label: str = ""  # the link's text; the URL itself when empty
    images: Sequence[WallImage] = ()
    byline: str = ""  # who posted it, before the link (X's @handle)
    extra: str = ""  # ready HTML after the text (a Page post's shared link)
    css: str = "post"  # "post reply" indents a thread's later parts


def render_wall(posts: Iterable[WallPost], empty: str = "No posts yet.") -> str:
    """Every emulator's wall in the same markup, so the page's one style sheet fits them all."""
    out = []
    for post in posts:
        images = "".join(
            f"<img src='data:{im.mime};base64,{base64.b64encode(im.data).decode()}' "
            f"alt='{html.escape(im.alt)}' title='{html.escape(im.alt)}'>"
            for im in post.images
        )
        when = datetime.fromtimestamp(post.created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        byline = f"{html.escape(post.byline)} · " if post.byline else ""
        link = f"<a href='{html.escape(post.url)}'>{html.escape(post.label or post.url)}</a>"
        out.append(
            f"<div class='{html.escape(post.css)}'><div class='meta'>{byline}{link} · {when}</div>"
            f"{html.escape(post.text)}{post.extra}<div>{images}</div></div>"
        )
    return "\n".join(out) if out else f"<p class='meta'>{html.escape(empty)}</p>"


class Emulator(ABC):
    """One platform's API. Thread-safe: the server calls ``handle`` from many threads."""

    name: str  # the platform's registered name (its spec's ``name``)
    title: str  # for the page

    def __init__(self) -> None:
        self.lock = threading.RLock()

    @abstractmethod
    def owns(self, path: str) -> bool:
        """Whether ``path`` belongs to this platform's API (or its upload server)."""

    @abstractmethod
    def handle(self, request: SandboxRequest) -> SandboxResponse | None:
        """Answer ``request`` (a path this emulator owns); None means 404."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """JSON-able state for tests: at least ``{"posts": [...]}`` in publishing order."""

    @abstractmethod
    def render_html(self) -> str:
        """An HTML fragment showing the wall as posted (text, images, threads): :func:`render_wall` of its posts."""

    @abstractmethod
    def reset(self) -> None:
        """Forget everything posted."""

    def seed(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Put one post described by ``spec`` on the wall without any client call; returns its public form.

        Keys every emulator reads: ``text`` (default empty), ``images`` (how many photos, default 0).
        Platforms add their own (a visitor's post on a Page, a reply on X). Tests use it for look-alikes.
        """
        raise LookupError(f"the {self.name} emulator cannot seed posts")

    @abstractmethod
    def error(self, kind: str, request: SandboxRequest, reset_in: int) -> SandboxResponse:
        """This platform's own documented error answer for ``kind`` (a :class:`Fault` ``error``).

        Kinds: "auth" (bad/expired token), "permission", "duplicate", "rate_limit"
        (with the platform's reset information, ``reset_in`` seconds ahead),
        "server" (the platform's own 5xx/temporary error), "bad_request",
        and "captcha" on VK.
        """


@dataclass
class Fault:
    """A fault injected on requests whose path matches ``path`` (a regex, searched).

    ``times``: how many matching requests it applies to (0 = every one).
    ``skip``: let this many matching requests through untouched first (``skip=1`` faults only the
    2nd match: a thread's second part, an album's second upload).
    ``drop``: "before" closes the connection without running the emulator;
    "after" runs it (the post is made) then closes without answering.
    ``after``: with ``status`` or ``error``, run the emulator first (the post or upload is made),
    then answer that status or error instead of its answer: the 5xx a gateway gives after the fact.
    ``delay``: seconds to wait before answering (beyond a client's timeout = read timeout).
    ``status``/``body``/``headers``: answer this instead of the emulator.
    ``garbage``: run the emulator, then answer its status with a garbled body.
    ``error``: answer the platform's own documented error of that kind (see
    :meth:`Emulator.error`): "auth", "permission", "duplicate", "rate_limit",
    "server", "bad_request", "captcha"; ``reset_in`` seconds until a rate limit resets.
    """

    path: str
    method: str = ""
    times: int = 1
    drop: str = ""
    delay: float = 0.0
    status: int = 0
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    garbage: bool = False
    error: str = ""
    reset_in: int = 0
    skip: int = 0
    after: bool = False
    used: int = 0
    seen: int = 0

    def matches(self, request: SandboxRequest) -> bool:
        if self.times and self.used >= self.times:
            return False
        if self.method and self.method.upper() != request.method:
            return False
        return re.search(self.path, request.path) is not None

    def fires(self) -> bool:
        """Count one matching request; True once the first ``skip`` of them went by."""
        self.seen += 1
        return self.seen > self.skip


class Sandbox:
    """The emulators behind one HTTP server on 127.0.0.1."""

    def __init__(self, emulators: list[Emulator]) -> None:
        self.emulators = emulators
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle
    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a background thread; returns the base URL."""
        self.server = _Server((host, port), _Handler)
        self.server.sandbox = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, name="sandbox", daemon=True)
        self.thread.start()
        return self.url

    def serve_forever(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.server = _Server((host, port), _Handler)
        self.server.sandbox = self  # type: ignore[attr-defined]
        self.server.serve_forever()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"  # type: ignore[str-bytes-safe]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- control
    def seed(self, platform: str, *specs: dict[str, Any]) -> list[dict[str, Any]]:
        """Put look-alike posts on ``platform``'s wall (in-process form of ``POST /_sandbox/seed``)."""
        emulator = next(e for e in self.emulators if e.name == platform)
        return [emulator.seed(spec) for spec in specs]

    def add_faults(self, faults: list[Fault]) -> None:
        with self.lock:
            self.faults.extend(faults)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
        for emulator in self.emulators:
            emulator.reset()

    def state(self) -> dict[str, Any]:
        return {e.name: e.state() for e in self.emulators}

    def take_fault(self, request: SandboxRequest) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(request) and fault.fires():
                    fault.used += 1
                    return fault
        return None

    def emulator_for(self, request: SandboxRequest) -> Emulator:
        """The emulator owning ``request``'s path (by each emulator's ``owns``)."""
        for emulator in self.emulators:
            if emulator.owns(request.path):
                return emulator
        raise LookupError(request.path)

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        for emulator in self.emulators:
            if emulator.owns(request.path):
                response = emulator.handle(request)
                if response is not None:
                    return response
        return SandboxResponse.json({"error": f"sandbox: no emulator serves {request.method} {request.path}"}, 404)

    def control(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path
        if path == "/_sandbox/state" and request.method == "GET":
            return SandboxResponse.json(self.state())
        if path == "/_sandbox/requests" and request.method == "GET":
            with self.lock:
                return SandboxResponse.json(list(self.requests))
        if path == "/_sandbox/faults" and request.method == "POST":
            items = request.json()
            self.add_faults([Fault(**item) for item in (items if isinstance(items, list) else [items])])
            return SandboxResponse.json({"ok": True})
        if path == "/_sandbox/faults" and request.method == "GET":
            with self.lock:
                return SandboxResponse.json([asdict(f) for f in self.faults])
        if path == "/_sandbox/faults" and request.method == "DELETE":
            self.clear_faults()
            return SandboxResponse.json({"ok": True})
        if path == "/_sandbox/seed" and request.method == "POST":
            body = request.json()
            try:
                emulator = next(e for e in self.emulators if e.name == body.get("platform"))
                seeded = [emulator.seed(spec) for spec in body.get("posts") or []]
            except (StopIteration, LookupError, TypeError, ValueError) as exc:
                return SandboxResponse.json({"error": f"cannot seed: {exc!r}"}, 400)
            return SandboxResponse.json({"posts": seeded})
        if path == "/_sandbox/reset" and request.method == "POST":
            self.reset()
            return SandboxResponse.json({"ok": True})
        return SandboxResponse.json({"error": "unknown control endpoint"}, 404)

    def page(self) -> SandboxResponse:
        sections = "\n".join(
            f"<section id='{e.name}'><h2>{html.escape(e.title)}</h2>{e.render_html()}</section>" for e in self.emulators
        )
        return SandboxResponse.html(
            "<!doctype html><html><head><meta charset='utf-8'><title>crosspost sandbox</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em;background:#f4f4f6}"
            "section{background:#fff;border-radius:8px;padding:1em;margin:1em 0}"
            ".post{border-top:1px solid #ddd;padding:.6em 0;white-space:pre-wrap}"
            ".post img{max-width:12em;max-height:9em;margin:.2em;border:1px solid #ccc}"
            ".meta{color:#666;font-size:.85em}"
            ".reply{margin-left:2em;border-left:3px solid #9cf;padding-left:.6em}</style>"
            "</head><body><h1>crosspost sandbox</h1><p>What each emulated platform has published, oldest first.</p>"
            f"{sections}</body></html>"
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def get_request(self) -> tuple[socket.socket, Any]:
        # Nagle off: an answer written in two pieces (headers, then body) would otherwise wait ~40 ms
        # for the client's delayed ACK, and every benchmark of the daemon would measure that stall.
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or are killed mid-request are part of the tests; stay quiet.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crosspost-sandbox"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        return

    def _serve(self) -> None:
        sandbox: Sandbox = self.server.sandbox  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SandboxRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            host=self.headers.get("Host") or "127.0.0.1",
        )
        if request.path.startswith("/_sandbox/"):
            self._send(sandbox.control(request))
            return
        if request.path in ("/", "/index.html") and request.method == "GET":
            self._send(sandbox.page())
            return
        started = time.time()
        fault = sandbox.take_fault(request)
        response: SandboxResponse | None = None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "before":
            self._log(sandbox, request, "dropped-before", started)  # logged first: the client sees the drop
            self._drop()
            return
        if fault is not None and fault.after:
            try:
                sandbox.dispatch(request)  # the platform acts; the answer below is all the client sees
            except Exception:  # noqa: BLE001 - the fault's answer goes out whatever the emulator did
                pass
        if fault is not None and fault.error:
            response = sandbox.emulator_for(request).error(fault.error, request, fault.reset_in)
        elif fault is not None and fault.status:
            response = SandboxResponse(
                fault.status, fault.body.encode(), dict(fault.headers) or {"Content-Type": "text/html"}
            )
        else:
            try:
                response = sandbox.dispatch(request)
            except Exception as exc:  # an emulator bug must not hang the client
                response = SandboxResponse.json({"error": f"sandbox emulator error: {exc!r}"}, 500)
        if fault is not None and fault.drop == "after":
            self._log(sandbox, request, "dropped-after", started)
            self._drop()
            return
        if fault is not None and fault.garbage:
            response = SandboxResponse(
                response.status,
                b"\x00<<garbled}{",
                {"Content-Type": response.headers.get("Content-Type", "application/json")},
            )
        if fault is not None and fault.headers and not fault.status:
            response.headers.update(fault.headers)
        # Logged before answering: the emulator has acted even if the client is gone by now.
        self._log(sandbox, request, response.status, started)
        try:
            self._send(response)
        except OSError:  # the client hung up (killed, timed out): nothing left to tell it
            self.close_connection = True

    def _log(self, sandbox: Sandbox, request: SandboxRequest, outcome: Any, started: float) -> None:
        with sandbox.lock:
            sandbox.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "outcome": outcome,
                    "at": started,
                    "seconds": round(time.time() - started, 4),
                }
            )

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, response: SandboxResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve
