"""The sandbox's HTTP server answers without Nagle's delay, so benchmarks measure crosspost, not a 40 ms stall."""

from __future__ import annotations

import socket

from crosspost.sandbox.core import _Handler, _Server


def test_accepted_connections_have_nagle_off() -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10):
            conn, _ = server.get_request()  # the accept the serving loop makes for each client
            try:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            finally:
                conn.close()
    finally:
        server.server_close()
