"""A websocket client for market data: a trio stream read in batches.

trio-websocket runs a reader task that hands every message to the caller through a
memory channel, and wsproto turns each frame into events through generators. At
exchange rates that per-message machinery, and above all one wake-up per message, was
most of the feed's cost (py-spy, 5,000 messages/s: 61 us of CPU a message before our
code saw it). This client:

- reads the socket at most once per `read_window_s` (2 ms by default) and returns every
  message that read completed, so a burst costs one wake-up; a message waits at most
  that long in the socket buffer;
- parses the server's frames itself (RFC 6455 section 5: header, length, opcode,
  fragmentation, control frames; about 1 us a frame) and fails the connection on
  what the RFC forbids a server (a masked frame, reserved bits, an unknown opcode, a
  length not in its minimal encoding, a fragmented or oversized control frame, a close
  frame wsproto would refuse, invalid UTF-8 in a text message or a close reason),
  sending its Close with the code the RFC gives (1002, 1007, 1009) first;
- keeps wsproto for the opening handshake and for the frames it sends (masked, as a
  client must): pongs, pings, close, subscriptions.

Sends are serialised by a lock, so the heartbeat and the resubscriber can send while the
reader reads. A frame is sent whole or not at all: each send is shielded from the
caller's cancellation (the reader's silence timeout, say) and bounded by a deadline of
its own, because a frame cut half-way corrupts the stream (a TLS one for good). Closing
waits, bounded, for the server's Close. `tests/exchange/test_ws_conformance.py` holds it
to the RFC (docs/architecture.md, "Decisions measured against the first design").
"""

from __future__ import annotations

import contextlib
import os
import ssl
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import (
    LOCAL_ONLY_CLOSE_REASONS,
    MAX_CLOSE_REASON,
    MAX_PROTOCOL_CLOSE_REASON,
    MIN_CLOSE_REASON,
    CloseReason,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

RECEIVE_BYTES = 256 * 1024  # one read of the socket at most
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a message larger than this closes the connection
READ_WINDOW_S = 0.002  # at most one read of the socket this often
HEADER_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 64 * 1024
SEND_S = 5.0  # a frame not sent whole within this is a lost connection
CLOSE_WAIT_S = 1.0  # closing waits this long at most for the server's Close
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN_CLOSE_CODES = frozenset(CloseReason)


def close_problem(payload: bytes) -> tuple[int, str] | None:
    """What is wrong with a Close frame's payload, as (close code, why), or None.

    The rules are wsproto's (RFC 6455 sections 5.5.1 and 7.4): no payload, or a two-byte
    code from 1000 to 4999 that is neither reserved for local use (1005, 1006, 1015) nor
    an unassigned protocol code (below 3000), then a UTF-8 reason.
    """
    if not payload:
        return None
    if len(payload) == 1:
        return 1002, "a close frame of 1 byte"
    code = int.from_bytes(payload[:2], "big")
    if code < MIN_CLOSE_REASON or code > MAX_CLOSE_REASON:
        return 1002, f"close code {code} out of range"
    if code in LOCAL_ONLY_CLOSE_REASONS:
        return 1002, f"close code {code} may not be sent"
    if code <= MAX_PROTOCOL_CLOSE_REASON and code not in _KNOWN_CLOSE_CODES:
        return 1002, f"close code {code} is reserved"
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return 1007, "close reason is not UTF-8"
    return None


class WebsocketError(Exception):
    """The websocket connection failed or ended."""


class HandshakeFailed(WebsocketError):
    """The server did not upgrade the connection (an HTTP status instead)."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(f"websocket handshake failed: {reason}")
        self.status = status


class ConnectionClosed(WebsocketError):
    """The connection was closed (by the server, a protocol error, or the network)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class WebsocketClient:
    """One open websocket connection. Make it with `connect`."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: WSConnection,
        buffered: bytes = b"",
        *,
        read_window_s: float = READ_WINDOW_S,
    ) -> None:
        self._stream = stream
        self._ws = ws  # for the handshake (done) and the frames we send
        self._send_lock = trio.Lock()
        self._buf = bytearray(buffered)
        self._ready: list[str | bytes] = []
        self._parts: list[bytes] = []
        self._part_opcode = 0
        self._part_bytes = 0
        self._pongs: dict[bytes, trio.Event] = {}
        self._pings: list[bytes] = []  # payloads of pings read, answered before returning
        self._closed: ConnectionClosed | None = None
        self._close_reply: tuple[int, str] | None = None
        self._failed_with = 0  # a protocol failure's close code, until our Close is sent
        self.read_window_s = read_window_s
        self.close_wait_s = CLOSE_WAIT_S
        self._next_read = 0.0

    async def receive_batch(self) -> list[str | bytes]:
        """Every message completed by the next read of the socket (waits for one).

        Raises:
            ConnectionClosed: the server closed, the network dropped, or a protocol error.
        """
        self._parse()
        while not self._ready:
            await self._answer_control()
            if self._closed is not None:
                raise self._closed
            now = trio.current_time()
            if now < self._next_read:  # let a burst gather in the socket buffer
                await trio.sleep_until(self._next_read)
            try:
                data = await self._stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                self._closed = ConnectionClosed(1006, f"connection lost: {exc}")
                raise self._closed from None
            self._next_read = trio.current_time() + self.read_window_s
            if not data:
                self._closed = ConnectionClosed(1006, "connection lost: end of stream")
                raise self._closed
            self._buf += data
            self._parse()
        await self._answer_control()
        out, self._ready = self._ready, []
        return out

    def _parse(self) -> None:
        """Every complete frame in the buffer: messages to `_ready`, control frames noted."""
        buf = self._buf
        size = len(buf)
        at = 0
        while self._closed is None and self._close_reply is None and size - at >= 2:
            b0, b1 = buf[at], buf[at + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - at < 4:
                    break
                length = int.from_bytes(buf[at + 2 : at + 4], "big")
                head = 4
                if length < 126:
                    self._fail(1002, f"a 2-byte length for {length} bytes (not minimal)")
                    break
            elif length == 127:
                if size - at < 10:
                    break
                length = int.from_bytes(buf[at + 2 : at + 10], "big")
                head = 10
                if length >> 63:
                    self._fail(1002, "an 8-byte length with its highest bit set")
                    break
                if length <= 0xFFFF:
                    self._fail(1002, f"an 8-byte length for {length} bytes (not minimal)")
                    break
            if b1 & 0x80 or b0 & 0x70:
                self._fail(1002, "masked frame or reserved bits from the server")
                break
            if length > MAX_MESSAGE_BYTES:
                self._fail(1009, f"frame over {MAX_MESSAGE_BYTES} bytes")
                break
            end = at + head + length
            if end > size:
                break  # the rest of this frame comes with a later read
            self._frame(b0 & 0x80, b0 & 0x0F, bytes(buf[at + head : end]))
            at = end
        if at:
            del buf[:at]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode >= CLOSE:
            if not fin or len(payload) > 125:
                self._fail(1002, "fragmented or oversized control frame")
            elif opcode == PING:
                self._pings.append(payload)
            elif opcode == PONG:
                waiter = self._pongs.pop(payload, None)
                if waiter is not None:
                    waiter.set()
            elif opcode == CLOSE:
                problem = close_problem(payload)
                if problem is not None:
                    self._fail(*problem)
                    return
                code = int.from_bytes(payload[:2], "big") if payload else 1005
                self._close_reply = (code, payload[2:].decode("utf-8"))
            else:
                self._fail(1002, f"unknown opcode {opcode:#x}")
            return
        if opcode == CONTINUATION:
            if not self._part_opcode:
                self._fail(1002, "continuation frame without a message")
                return
        elif opcode in (TEXT, BINARY):
            if self._part_opcode:
                self._fail(1002, "new message before the last one ended")
                return
            if fin:  # the common case: one frame, one message
                self._deliver(opcode, payload)
                return
            self._part_opcode = opcode
        else:
            self._fail(1002, f"unknown opcode {opcode:#x}")
            return
        self._part_bytes += len(payload)
        if self._part_bytes > MAX_MESSAGE_BYTES:
            self._fail(1009, f"message over {MAX_MESSAGE_BYTES} bytes")
            return
        self._parts.append(payload)
        if fin:
            kind, whole = self._part_opcode, b"".join(self._parts)
            self._parts, self._part_opcode, self._part_bytes = [], 0, 0
            self._deliver(kind, whole)

    def _deliver(self, opcode: int, payload: bytes) -> None:
        if opcode == BINARY:
            self._ready.append(payload)
            return
        try:
            self._ready.append(payload.decode("utf-8"))
        except UnicodeDecodeError:
            self._fail(1007, "text message is not UTF-8")

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 section 7.1.7): our Close with `code` goes next."""
        self._closed = ConnectionClosed(code, f"protocol error: {reason}")
        self._failed_with = code

    async def _answer_control(self) -> None:
        """Pongs for the pings read; the server's close answered, or ours after a failure."""
        if self._pings and self._closed is None:
            pings, self._pings = self._pings, []
            for payload in pings:
                await self._send(Pong(payload=payload))
        if self._close_reply is not None and self._closed is None:
            code, reason = self._close_reply
            with contextlib.suppress(WebsocketError):
                await self._send(CloseConnection(code=1000 if code == 1005 else code))
            self._closed = ConnectionClosed(code, reason)
        if self._failed_with:
            code, self._failed_with = self._failed_with, 0
            with contextlib.suppress(WebsocketError):
                await self._send(CloseConnection(code=code), closing=True)

    async def _send(self, event: Event, *, closing: bool = False) -> None:
        """Send one frame whole: shielded from the caller's cancellation, within `SEND_S`.

        Raises:
            ConnectionClosed: the connection is closed (or being failed, unless `closing`),
                the frame cannot be sent in its state, or it was not sent in time.
        """
        if self._closed is not None and not closing:
            raise self._closed
        try:
            data = self._ws.send(event)
        except LocalProtocolError as exc:
            raise ConnectionClosed(1006, f"cannot send: {exc}") from None
        with trio.move_on_after(SEND_S, shield=True) as scope:
            async with self._send_lock:
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    self._closed = ConnectionClosed(1006, f"connection lost: {exc}")
                    raise self._closed from None
        if scope.cancelled_caught:
            self._closed = ConnectionClosed(1006, f"connection lost: not sent in {SEND_S:g}s")
            raise self._closed

    async def send_text(self, text: str) -> None:
        await self._send(TextMessage(data=text))

    async def ping(self) -> None:
        """Send a ping and wait for its pong (the reader must be reading)."""
        payload = os.urandom(8)
        done = self._pongs[payload] = trio.Event()
        await self._send(Ping(payload=payload))
        await done.wait()

    async def aclose(self, code: int = 1000) -> None:
        """Close politely if the connection is still open (our Close, then the server's
        awaited for at most `close_wait_s`), then drop the socket."""
        with trio.move_on_after(self.close_wait_s, shield=True):
            if self._closed is None and self._ws.state == ConnectionState.OPEN:
                with contextlib.suppress(WebsocketError):
                    await self._send(CloseConnection(code=code))
                    await self._until_server_closes()
        self._closed = self._closed or ConnectionClosed(code, "closed by us")
        with trio.move_on_after(1, shield=True) as scope:
            await self._stream.aclose()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self._stream)

    async def _until_server_closes(self) -> None:
        """Read, dropping messages, until the server's Close or the end of the stream."""
        while self._close_reply is None and self._closed is None:
            try:
                data = await self._stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return
            if not data:
                return
            self._buf += data
            self._parse()
            self._ready.clear()
            self._pings.clear()


async def connect(url: str, *, ssl_context: ssl.SSLContext | None = None) -> WebsocketClient:
    """Open a ws:// or wss:// URL and complete the upgrade handshake.

    Raises:
        HandshakeFailed: the server answered with an HTTP status instead of upgrading.
        ConnectionClosed: the connection dropped during the handshake, or TLS failed (code
            1015, saying why: a certificate that cannot be trusted, say).
        OSError: the host could not be reached.
        ValueError: not a ws:// or wss:// URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a websocket URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    stream: trio.abc.Stream = await trio.open_tcp_stream(parts.hostname, port)
    try:
        if secure:
            context = ssl_context or ssl.create_default_context()
            tls = trio.SSLStream(stream, context, server_hostname=parts.hostname)
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as exc:  # its cause says why (a certificate?)
                raise ConnectionClosed(1015, f"TLS handshake failed: {exc.__cause__}") from None
            stream = tls
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return await handshake(stream, host, target)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def handshake(stream: trio.abc.Stream, host: str, target: str) -> WebsocketClient:
    """The opening handshake (RFC 6455 section 4) on a stream already open.

    Raises:
        HandshakeFailed: the server answered with an HTTP status instead of upgrading.
        ConnectionClosed: the connection dropped during the handshake.
    """
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=host, target=target)))
    rest = await _await_accept(stream, ws)
    return WebsocketClient(stream, ws, rest)


async def _await_accept(stream: trio.abc.Stream, ws: WSConnection) -> bytes:
    """Read the server's answer to the upgrade; the bytes after it (frames) are returned."""
    data = b""
    while HEADER_END not in data:
        if len(data) > MAX_HEADER_BYTES:
            raise HandshakeFailed(None, "answer headers too long")
        more = await stream.receive_some(RECEIVE_BYTES)
        if not more:
            raise ConnectionClosed(1006, "connection lost during the handshake")
        data += more
    cut = data.index(HEADER_END) + len(HEADER_END)
    head, rest = data[:cut], data[cut:]
    try:
        ws.receive_data(head)
        events = list(ws.events())
    except RemoteProtocolError as exc:
        raise HandshakeFailed(None, f"bad answer: {exc}") from None
    for event in events:
        if isinstance(event, AcceptConnection):
            return rest
        if isinstance(event, RejectConnection):
            body = b""
            if event.has_body:
                body = await _reject_body(stream, ws, rest)
            text = body[:200].decode("utf-8", "replace").strip()
            raise HandshakeFailed(event.status_code, f"HTTP {event.status_code} {text}".strip())
    raise HandshakeFailed(None, "no answer to the upgrade request")


async def _reject_body(stream: trio.abc.Stream, ws: WSConnection, data: bytes) -> bytes:
    """The body of a refusal, as far as it comes within a second (for the message)."""
    body = b""
    with trio.move_on_after(1):
        for _ in range(64):
            if data:
                try:
                    ws.receive_data(data)
                    for event in ws.events():
                        if isinstance(event, RejectData):
                            body += event.data
                            if event.body_finished:
                                return body
                except RemoteProtocolError:
                    return body
            data = bytes(await stream.receive_some(RECEIVE_BYTES))
            if not data:
                return body
    return body
