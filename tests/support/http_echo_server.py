# -*- coding: utf-8 -*-
"""A real, small HTTP backend for tests: answers every request with its own id, the path it saw and the request's
cookies, so a test can tell which server (and which route) served a request and what HAProxy rewrote.

Run as a script: `python tests/support/http_echo_server.py <port> <id>`. `GET /health` answers 200 (`/health/fail` 503).
"""

from __future__ import annotations

import http.server
import json
import sys


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_id = "backend"
    # headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add 40 ms to every keep-alive reply
    disable_nagle_algorithm = True

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend-Id", self.server_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path == "/health/fail":
            self._answer(503, b"{}")
            return
        body = json.dumps({"id": self.server_id, "path": self.path, "cookie": self.headers.get("Cookie", "")}).encode()
        self._answer(200, body)

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):  # quiet: thousands of requests per test
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # HAProxy closes idle keep-alive connections; a reset there is normal, not an error
        pass


def main() -> None:
    port, server_id = int(sys.argv[1]), sys.argv[2]
    handler = type("Handler", (EchoHandler,), {"server_id": server_id})
    QuietServer(("127.0.0.1", port), handler).serve_forever()


if __name__ == "__main__":
    main()
