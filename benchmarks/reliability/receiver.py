"""A local webhook that receives crosspost's notices (Apprise's ``json://``), for the crash soak.

A real HTTP server on 127.0.0.1: Apprise speaks real HTTP to it. It keeps each notice's JSON body and
reads which deliveries it tells of from the body's lines (``Post N "title"``, then one
``account (platform): status`` line per account; see :mod:`crosspost.notify.compose`).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_POST = re.compile(r"^Post (\d+) ")
_ACCOUNT = re.compile(r"^(\S+) \([^)]+\): (\w+)$")


class Receiver:
    """``with Receiver() as hook``: ``hook.url`` for ``[notify] urls``; ``hook.bodies`` as they arrive."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.bodies.append(json.loads(data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/crosspost"

    def told(self) -> Counter[tuple[int, str, str]]:
        """How many notices told of each (post id, account, status)."""
        seen: Counter[tuple[int, str, str]] = Counter()
        with self.lock:
            messages = [str(b.get("message") or "") for b in self.bodies]
        for message in messages:
            post = 0
            for line in message.splitlines():
                if m := _POST.match(line):
                    post = int(m.group(1))
                elif (m := _ACCOUNT.match(line)) and post:
                    seen[(post, m.group(1), m.group(2))] += 1
        return seen

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
