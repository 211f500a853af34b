"""Our websocket client held to RFC 6455, against a server that commits each violation.

The frames come from wsproto (`FrameProtocol`, as a server would build them), bent where
a violation needs it: a bit set, an opcode changed, a length in more bytes than it
needs. Frames wsproto refuses to build (a close code it would not send) are written by
`raw`, a few lines of the RFC's section 5.2. For each, the client must fail the
connection with the code the RFC gives (sections 5, 7.4 and 8.1), send its own Close
with that code, and never echo a code it may not send.

Then what the RFC asks of an orderly close: the server's code echoed, our Close
followed by a wait for the server's (bounded), and control frames sent whole even when
the reader's own timeout strikes mid-send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pytest
import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol

from tradebot_tui.exchange import wsclient

TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9


def server_frames() -> FrameProtocol:
    """wsproto building frames as a server does (unmasked)."""
    return FrameProtocol(client=False, extensions=[])


def text(payload: str, *, fin: bool = True, proto: FrameProtocol | None = None) -> bytes:
    return bytes((proto or server_frames()).send_data(payload, fin))


def raw(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked frame, for what wsproto will not build (section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        return head + bytes([size]) + payload
    if size < 1 << 16:
        return head + bytes([126]) + size.to_bytes(2, "big") + payload
    return head + bytes([127]) + size.to_bytes(8, "big") + payload


def close(code: int, reason: bytes = b"") -> bytes:
    return raw(CLOSE, code.to_bytes(2, "big") + reason)


def with_bits(frame: bytes, *, set_first: int = 0, clear_first: int = 0) -> bytes:
    return bytes([(frame[0] | set_first) & ~clear_first & 0xFF]) + frame[1:]


def with_opcode(frame: bytes, opcode: int) -> bytes:
    return bytes([(frame[0] & 0xF0) | opcode]) + frame[1:]


def two_fragments(first: str, second: str) -> tuple[bytes, bytes]:
    proto = server_frames()
    return text(first, fin=False, proto=proto), text(second, proto=proto)


def non_minimal_16(payload: bytes) -> bytes:
    return bytes([0x80 | TEXT, 126]) + len(payload).to_bytes(2, "big") + payload


def non_minimal_64(payload: bytes) -> bytes:
    return bytes([0x80 | TEXT, 127]) + len(payload).to_bytes(8, "big") + payload


@dataclass(frozen=True)
class Seen:
    """What the client saw (the exception that ended its reading) and what it sent."""

    code: int
    reason: str
    messages: list[str | bytes]
    client_close: int | None  # the code of the Close the client sent; None: none


async def _accept(stream: trio.abc.Stream) -> WSConnection:
    ws = WSConnection(ConnectionType.SERVER)
    for _ in range(50):
        ws.receive_data(await stream.receive_some(65536))
        for event in ws.events():
            if isinstance(event, Request):
                await stream.send_all(ws.send(AcceptConnection()))
                return ws
    raise AssertionError("no upgrade request")


async def _client_close(stream: trio.abc.Stream, ws: WSConnection) -> int | None:
    """The code of the Close the client sends, reading until it comes or the stream ends."""
    with trio.move_on_after(5):
        for _ in range(100):
            data = await stream.receive_some(65536)
            if not data:
                return None
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    return int(event.code)
    return None


def serve(frames: list[bytes]) -> Seen:
    """A server on 127.0.0.1 that sends `frames` as they are; the client reads until the
    connection ends."""

    async def main() -> Seen:
        sent: list[int | None] = []
        async with trio.open_nursery() as nursery:

            async def handler(stream: trio.SocketStream) -> None:
                ws = await _accept(stream)
                await stream.send_all(b"".join(frames))
                sent.append(await _client_close(stream, ws))
                await stream.aclose()

            [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            port = listener.socket.getsockname()[1]
            client = await wsclient.connect(f"ws://127.0.0.1:{port}/stream?streams=x")
            messages: list[str | bytes] = []
            with trio.fail_after(10):
                try:
                    for _ in range(100):
                        messages += await client.receive_batch()
                    raise AssertionError("the connection never ended")
                except wsclient.ConnectionClosed as exc:
                    ended = exc
                finally:
                    await client.aclose()
                while not sent:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        return Seen(ended.code, ended.reason, messages, sent[0])

    return trio.run(main)


# (what the server does wrong, its frames, the close code the RFC gives)
VIOLATIONS: list[tuple[str, list[bytes], int]] = [
    # Section 5.1: a server must not mask its frames.
    ("a masked frame", [bytes(FrameProtocol(client=True, extensions=[]).send_data("x"))], 1002),
    # Section 5.2: reserved bits without an extension that defines them.
    ("RSV1 set", [with_bits(text("x"), set_first=0x40)], 1002),
    ("RSV2 set", [with_bits(text("x"), set_first=0x20)], 1002),
    ("RSV3 set", [with_bits(text("x"), set_first=0x10)], 1002),
    # Section 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    ("an unknown data opcode", [with_opcode(text("x"), 0x3)], 1002),
    ("an unknown control opcode", [with_opcode(bytes(server_frames().ping(b"")), 0xB)], 1002),
    # Section 5.2: the length in the minimal number of bytes.
    ("a 2-byte length for 5 bytes", [non_minimal_16(b"hello")], 1002),
    ("an 8-byte length for 200 bytes", [non_minimal_64(b"x" * 200)], 1002),
    ("an 8-byte length with its top bit set", [bytes([0x81, 127, 0x80]) + bytes(7)], 1002),
    # Section 5.5: control frames are not fragmented and carry 125 bytes at most.
    ("a fragmented ping", [with_bits(bytes(server_frames().ping(b"p")), clear_first=0x80)], 1002),
    ("a ping of 126 bytes", [raw(PING, b"p" * 126)], 1002),
    # Section 5.4: fragments of one message, in order, one message at a time.
    ("a continuation without a message", [two_fragments("a", "b")[1]], 1002),
    ("a message inside another", [two_fragments("a", "b")[0], text("new")], 1002),
    # Section 8.1: a text message is UTF-8.
    ("a text message that is not UTF-8", [raw(TEXT, b"\xc3\x28")], 1007),
    (
        "UTF-8 cut wrong across fragments",
        [raw(TEXT, b"\xc3", fin=False), raw(0x0, b"\x28")],
        1007,
    ),
    # Section 5.5.1: a close body is empty or a two-byte code, then a UTF-8 reason.
    ("a close of 1 byte", [raw(CLOSE, b"\x03")], 1002),
    ("close code 999", [close(999)], 1002),
    ("close code 5000", [close(5000)], 1002),
    # Section 7.4.1: 1004 is reserved; 1005, 1006 and 1015 are never sent.
    ("close code 1004", [close(1004)], 1002),
    ("close code 1005", [close(1005)], 1002),
    ("close code 1006", [close(1006)], 1002),
    ("close code 1015", [close(1015)], 1002),
    ("close code 2999 (unassigned)", [close(2999)], 1002),
    ("a close reason that is not UTF-8", [close(1000, b"\xff")], 1007),
]


@pytest.mark.parametrize(("what", "frames", "code"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_violation_fails_the_connection_with_the_rfcs_code(
    what: str, frames: list[bytes], code: int
) -> None:
    seen = serve(frames)
    assert (seen.code, seen.client_close) == (code, code), what
    assert seen.reason.startswith("protocol error: ")
    assert seen.messages == []


def test_messages_before_a_violation_are_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = serve([text("first"), with_opcode(text("x"), 0x7)])
    assert seen.messages == ["first"] and seen.code == 1002


@pytest.mark.parametrize("split", [False, True], ids=["one frame", "fragments"])
def test_a_message_over_the_limit_fails_with_1009(
    split: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsclient, "MAX_MESSAGE_BYTES", 1000)
    frames = list(two_fragments("a" * 600, "b" * 600)) if split else [text("a" * 1001)]
    seen = serve(frames)
    assert (seen.code, seen.client_close) == (1009, 1009)


@pytest.mark.parametrize(
    ("frames", "code", "reason", "echoed"),
    [
        ([close(1000, b"bye")], 1000, "bye", 1000),
        ([close(1001)], 1001, "", 1001),
        ([close(3000, "é".encode())], 3000, "é", 3000),
        ([close(4999)], 4999, "", 4999),
        # No code: 1005 is what the client reports; it answers with 1000 (it may not send 1005).
        ([raw(CLOSE, b"")], 1005, "", 1000),
    ],
    ids=["1000 with a reason", "1001", "3000", "4999", "no code"],
)
def test_a_valid_close_is_reported_and_echoed(
    frames: list[bytes], code: int, reason: str, echoed: int
) -> None:
    seen = serve([text("last"), *frames])
    assert (seen.code, seen.reason, seen.messages, seen.client_close) == (
        code,
        reason,
        ["last"],
        echoed,
    )


def test_a_message_fragmented_across_a_multibyte_character_arrives_whole() -> None:
    seen = serve([raw(TEXT, b"caf\xc3", fin=False), raw(0x0, b"\xa9"), close(1000)])
    assert seen.messages == ["café"] and seen.code == 1000


# -- closing ---------------------------------------------------------------------------------


def close_by_us(reply_after_s: float | None) -> tuple[bool, int | None, bool]:
    """The client closes; the server answers its Close after `reply_after_s` (None:
    never). Returns (did the client's socket stay open until the server's Close went,
    the client's close code, did aclose end)."""

    async def main() -> tuple[bool, int | None, bool]:
        result: dict[str, object] = {}
        async with trio.open_nursery() as nursery:

            async def handler(stream: trio.SocketStream) -> None:
                ws = await _accept(stream)
                result["code"] = await _client_close(stream, ws)
                if reply_after_s is None:
                    await trio.sleep_forever()
                # Before answering: did the client drop the socket without waiting?
                with trio.move_on_after(reply_after_s):
                    result["dropped_early"] = await stream.receive_some(100) == b""
                await stream.send_all(ws.send(CloseConnection(code=1000)))
                with trio.move_on_after(5):
                    result["eof_after"] = await stream.receive_some(100) == b""

            [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            port = listener.socket.getsockname()[1]
            client = await wsclient.connect(f"ws://127.0.0.1:{port}/stream?streams=x")
            client.close_wait_s = 1.0
            with trio.fail_after(10):
                await client.aclose()
                result["ended"] = True
                while reply_after_s is not None and "eof_after" not in result:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        waited = not result.get("dropped_early", False) and bool(result.get("eof_after"))
        return waited, result["code"], bool(result["ended"])  # type: ignore[return-value]

    return trio.run(main)


def test_closing_waits_for_the_servers_close_before_dropping_the_socket() -> None:
    waited, code, ended = close_by_us(reply_after_s=0.3)
    assert (waited, code, ended) == (True, 1000, True)


def test_a_server_that_never_answers_our_close_does_not_hold_it_up() -> None:
    _, code, ended = close_by_us(reply_after_s=None)
    assert (code, ended) == (1000, True)


# -- control frames are sent whole ------------------------------------------------------------


async def _lockstep_client() -> tuple[wsclient.WebsocketClient, trio.abc.Stream, WSConnection]:
    """A client on a stream whose sends wait until the server side reads them."""
    client_side, server_side = trio.testing.lockstep_stream_pair()
    server: list[WSConnection] = []
    async with trio.open_nursery() as nursery:

        async def accept() -> None:
            server.append(await _accept(server_side))

        nursery.start_soon(accept)
        client = await wsclient.handshake(client_side, "127.0.0.1", "/stream?streams=x")
    return client, server_side, server[0]


Reply = Callable[[WSConnection], bytes]


@pytest.mark.parametrize(
    ("provoke", "expected"),
    [
        (lambda ws: ws.send(Ping(payload=b"hb")), Pong(payload=b"hb")),
        (lambda ws: ws.send(CloseConnection(code=4000)), CloseConnection(code=4000)),
    ],
    ids=["pong", "close"],
)
def test_a_read_timeout_never_cuts_a_control_reply_in_half(
    provoke: Reply, expected: object
) -> None:
    """The reader's silence timeout strikes while the reply waits for the slow peer: the
    reply is sent whole all the same, and the connection stays sound."""

    async def main() -> tuple[list[object], list[str | bytes]]:
        client, server_side, ws = await _lockstep_client()
        got: list[object] = []
        after: list[str | bytes] = []
        async with trio.open_nursery() as nursery:

            async def server() -> None:
                await server_side.send_all(provoke(ws))
                await trio.sleep(0.3)  # a slow reader: the reply waits in send_all
                for _ in range(20):
                    ws.receive_data(await server_side.receive_some(65536))
                    got.extend(e for e in ws.events() if not isinstance(e, TextMessage))
                    if got:
                        break
                if isinstance(expected, Pong):
                    await server_side.send_all(ws.send(TextMessage(data="after")))

            nursery.start_soon(server)
            with trio.move_on_after(0.05):  # the reader's own timeout, mid-reply
                try:
                    await client.receive_batch()
                except wsclient.ConnectionClosed as exc:  # the server's close, answered
                    assert exc.code == 4000
            if isinstance(expected, Pong):
                with trio.fail_after(5):
                    after = await client.receive_batch()
        return got, after

    got, after = trio.run(main)
    assert [type(e) for e in got] == [type(expected)]
    if isinstance(expected, Pong):
        assert got[0].payload == b"hb" and after == ["after"]  # type: ignore[attr-defined]
    else:
        assert got[0].code == 4000  # type: ignore[attr-defined]
