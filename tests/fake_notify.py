"""A notification target on 127.0.0.1: what Apprise's `json://` URL posts to.

Apprise's JSON service POSTs `{"version": "1.0", "title", "message", "type", ...}` with
`Content-Type: application/json`, and counts any answer outside 2xx as a failure. Real
targets misbehave: they answer 5xx for a while, take longer than any deadline, or insist
on a login. This one can do each, on demand.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotifyTarget:
    """Records what it receives; `fail_next`, `delay_s` and `password` make it mean."""

    def __init__(self, *, user: str = "", password: str = "") -> None:
        self.messages: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_next = 0  # answer 500 to this many requests
        self.delay_s = 0.0  # wait this long before answering
        self.user, self.password = user, password
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target.lock:
                    target.attempts += 1
                    failing = target.fail_next > 0
                    target.fail_next -= failing
                    delay = target.delay_s
                if delay:
                    time.sleep(delay)
                if target.password:
                    wanted = base64.b64encode(f"{target.user}:{target.password}".encode())
                    if self.headers.get("Authorization", "") != f"Basic {wanted.decode()}":
                        self.send_response(401)
                        self.end_headers()
                        return
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"internal error")
                    return
                payload = json.loads(body)
                assert {"version", "title", "message", "type"} <= set(payload), payload
                with target.lock:
                    target.messages.append(payload)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.password else ""
        return f"json://{auth}127.0.0.1:{self.port}/hook"

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def __enter__(self) -> NotifyTarget:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
