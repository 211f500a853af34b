"""The REST side of the venue fakes: a stdlib HTTP server on 127.0.0.1, on a thread, that
answers GET requests with the JSON a function returns."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# (path, query) -> (HTTP status, JSON body)
Answer = Callable[[str, dict[str, str]], tuple[int, Any]]


class JsonRest:
    """Serves `answer(path, query)` for every GET; remembers the paths asked for."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.paths: list[str] = []
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        rest = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                rest.paths.append(parts.path)
                status, body = rest.answer(parts.path, dict(parse_qsl(parts.query)))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class RestFake:
    """A fake venue's REST side on a thread: `rest_answer(path, query)` answers every
    GET (by default `rest(path, query)` with status 200)."""

    rest_url = ""  # set by start_rest
    _http: JsonRest | None = None

    def rest(self, path: str, q: dict[str, str]) -> Any:
        raise NotImplementedError

    def rest_answer(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        return 200, self.rest(path, q)

    def start_rest(self) -> str:
        """Serve the REST calls on a thread; returns the base URL."""
        self._http = JsonRest(self.rest_answer)
        self.rest_url = self._http.start()
        return self.rest_url

    @property
    def rest_requests(self) -> list[str]:
        return self._http.paths if self._http is not None else []

    def stop_rest(self) -> None:
        if self._http is not None:
            self._http.stop()
