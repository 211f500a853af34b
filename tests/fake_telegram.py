"""A Telegram Bot API on 127.0.0.1, as mean as the real one's documentation allows.

From https://core.telegram.org/bots/api:
- every method is `/bot<token>/<method>`; a wrong token answers 401 "Unauthorized";
- answers are `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description"}`,
  with `parameters.retry_after` on 429 (flood control);
- getUpdates long-polls up to `timeout` seconds; an update stays and is sent again until
  a call asks with an `offset` above its `update_id` ("confirmed");
- two getUpdates at once on the same token: the earlier one gets 409 "Conflict:
  terminated by other getUpdates request";
- its front proxy answers 502 Bad Gateway with an HTML page now and then;
- sendMessage to a chat that never talked to the bot: 400 "chat not found"; over 4096
  characters: 400 "message is too long";
- getMe answers the bot's User, `username` included (what `/command@username` names).
And what a network can do to any answer: cut it short (`cut_next`: fewer bytes than its
Content-Length, then the connection closes) or answer something that is not HTTP
(`garbage_next`). Tests add user messages with `say`, updates of any shape with `push`,
and read the bot's replies in `sent`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: list[tuple[int, str]] = []
        self.known_chats: set[int] = set()
        self.flood_next = 0  # answer 429 (retry_after 1) to this many calls
        self.bad_gateway_next = 0  # answer 502 with an HTML page (as its proxy does)
        self.cut_next = 0  # answer with a body cut short of its Content-Length
        self.garbage_next = 0  # answer bytes that are not HTTP
        self.username = "TradeBot_Test_Bot"
        self.calls: list[str] = []
        self._next_id = 100
        self._cond = threading.Condition()
        self._poll_generation = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, code: int, description: str, **parameters: Any) -> None:
                payload: dict[str, Any] = {
                    "ok": False,
                    "error_code": code,
                    "description": description,
                }
                if parameters:
                    payload["parameters"] = parameters
                self._answer(code, payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                params = json.loads(self.rfile.read(length) or b"{}")
                self._handle(params)

            def do_GET(self) -> None:
                self._handle({})

            def _handle(self, params: dict[str, Any]) -> None:
                _, _, rest = self.path.partition("/bot")
                token, _, method = rest.partition("/")
                method = method.split("?")[0]
                with fake._cond:
                    fake.calls.append(method)
                if token != fake.token:
                    self._error(401, "Unauthorized")
                    return
                with fake._cond:
                    if fake.cut_next > 0:
                        fake.cut_next -= 1
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", "100")
                        self.end_headers()
                        self.wfile.write(b'{"ok": true, "res')
                        self.close_connection = True
                        return
                    if fake.garbage_next > 0:
                        fake.garbage_next -= 1
                        self.wfile.write(b"\x00\x01 this is not HTTP\r\n\r\n")
                        self.close_connection = True
                        return
                    if fake.bad_gateway_next > 0:
                        fake.bad_gateway_next -= 1
                        page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                        self.send_response(502)
                        self.send_header("Content-Type", "text/html")
                        self.send_header("Content-Length", str(len(page)))
                        self.end_headers()
                        self.wfile.write(page)
                        return
                    if fake.flood_next > 0:
                        fake.flood_next -= 1
                        self._error(429, "Too Many Requests: retry after 1", retry_after=1)
                        return
                if method == "getUpdates":
                    self._get_updates(params)
                elif method == "sendMessage":
                    self._send_message(params)
                elif method == "getMe":
                    me = {
                        "id": 1,
                        "is_bot": True,
                        "first_name": "Tradebot",
                        "username": fake.username,
                    }
                    self._answer(200, {"ok": True, "result": me})
                else:
                    self._error(404, "Not Found")

            def _get_updates(self, params: dict[str, Any]) -> None:
                offset = int(params.get("offset") or 0)
                timeout = min(float(params.get("timeout") or 0), 50)
                deadline = time.monotonic() + timeout
                with fake._cond:
                    fake._poll_generation += 1
                    mine = fake._poll_generation
                    fake._cond.notify_all()
                    # Updates below the offset are confirmed: gone for good.
                    fake.updates = [u for u in fake.updates if _update_id(u) >= offset]
                    while not fake.updates:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        fake._cond.wait(left)
                        if fake._poll_generation != mine:
                            self._error(
                                409,
                                "Conflict: terminated by other getUpdates request; make sure "
                                "that only one bot instance is running",
                            )
                            return
                    result = list(fake.updates)
                self._answer(200, {"ok": True, "result": result})

            def _send_message(self, params: dict[str, Any]) -> None:
                chat, text = int(params.get("chat_id", 0)), str(params.get("text", ""))
                if chat not in fake.known_chats:
                    self._error(400, "Bad Request: chat not found")
                    return
                if not text or len(text) > 4096:
                    self._error(400, "Bad Request: message is too long")
                    return
                with fake._cond:
                    fake.sent.append((chat, text))
                    fake._cond.notify_all()
                self._answer(200, {"ok": True, "result": {"message_id": len(fake.sent)}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def say(self, chat: int, text: str) -> None:
        """A user in `chat` sends `text` to the bot."""
        with self._cond:
            self.known_chats.add(chat)
            self._next_id += 1
            self.updates.append(
                {
                    "update_id": self._next_id,
                    "message": {
                        "message_id": self._next_id,
                        "date": int(time.time()),
                        "chat": {"id": chat, "type": "private"},
                        "from": {"id": chat, "is_bot": False, "first_name": "Owner"},
                        "text": text,
                    },
                }
            )
            self._cond.notify_all()

    def push(self, update: Any) -> int:
        """An update of any shape, with the next update_id when it is an object without
        one; returns that id."""
        with self._cond:
            self._next_id += 1
            if isinstance(update, dict):
                update = {"update_id": self._next_id, **update}
            self.updates.append(update)
            self._cond.notify_all()
            return self._next_id

    def replies(self, chat: int) -> list[str]:
        with self._cond:
            return [text for c, text in self.sent if c == chat]

    def __enter__(self) -> FakeTelegram:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._poll_generation += 1  # long polls end
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def _update_id(update: Any) -> int:
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) else 1 << 62  # never confirmed
