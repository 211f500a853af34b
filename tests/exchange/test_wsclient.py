"""The websocket client against a raw RFC 6455 server on 127.0.0.1 that does what the
protocol allows and a kind server would not: pings, fragmented messages, frames split
across reads and packed into one, a close with a reason, a refused upgrade."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
import trio.lowlevel
import trustme
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from tradebot_tui.core.errors import cause_text
from tradebot_tui.exchange import wsclient

Script = Callable[[trio.SocketStream, WSConnection], Awaitable[None]]


async def _accept(stream: trio.SocketStream) -> WSConnection:
    ws = WSConnection(ConnectionType.SERVER)
    for _ in range(50):
        ws.receive_data(await stream.receive_some(65536))
        for event in ws.events():
            if isinstance(event, Request):
                assert event.target.startswith("/stream?streams=")
                await stream.send_all(ws.send(AcceptConnection()))
                return ws
    raise AssertionError("no upgrade request")


async def _events(stream: trio.SocketStream, ws: WSConnection) -> list[object]:
    ws.receive_data(await stream.receive_some(65536))
    return list(ws.events())


def run(
    script: Script,
    client: Callable[[wsclient.WebsocketClient], Awaitable[object]],
    *,
    tls: str = "",
) -> object:
    """`script` serves one connection on 127.0.0.1 while `client` uses it; its result.

    `tls`: "trusted" serves wss:// with a certificate from a throwaway authority the
    client trusts; "untrusted" with one it does not (the default trust store).
    """
    client_context = None
    serve = partial(trio.serve_tcp, port=0, host="127.0.0.1")
    if tls:
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        client_context = ssl.create_default_context()
        if tls == "trusted":
            ca.configure_trust(client_context)
        serve = partial(
            trio.serve_ssl_over_tcp, port=0, ssl_context=server_context, host="127.0.0.1"
        )

    async def main() -> object:
        async with trio.open_nursery() as nursery:

            async def handler(stream: trio.SocketStream) -> None:
                if isinstance(stream, trio.SSLStream):
                    try:
                        await stream.do_handshake()
                    except trio.BrokenResourceError:
                        return  # the client refused the certificate
                await script(stream, await _accept(stream))

            listeners = await nursery.start(partial(serve, handler))
            port = getattr(listeners[0], "transport_listener", listeners[0]).socket.getsockname()[1]
            url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/stream?streams=a@b"
            with trio.fail_after(10):
                conn = await wsclient.connect(url, ssl_context=client_context)
                try:
                    result = await client(conn)
                finally:
                    await conn.aclose()
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main)


async def read_all(conn: wsclient.WebsocketClient) -> tuple[list[list[str | bytes]], int]:
    batches = []
    try:
        for _ in range(100):
            batches.append(await conn.receive_batch())
    except wsclient.ConnectionClosed as exc:
        return batches, exc.code
    raise AssertionError("the connection never closed")


def test_messages_arrive_whole_whatever_the_framing() -> None:
    pong_seen = trio.Event()

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        # Two messages packed into one write: one batch.
        await stream.send_all(ws.send(Message(data="one")) + ws.send(Message(data="two")))
        # A ping: the client must answer with the same payload.
        await stream.send_all(ws.send(Ping(payload=b"hb-1")))
        for _ in range(20):
            if any(isinstance(e, Pong) and e.payload == b"hb-1" for e in await _events(stream, ws)):
                pong_seen.set()
                break
        # One message in three fragments, and a frame cut in single bytes.
        await stream.send_all(ws.send(TextMessage(data="fr", message_finished=False)))
        await stream.send_all(ws.send(TextMessage(data="ag", message_finished=False)))
        await stream.send_all(ws.send(TextMessage(data="ment", message_finished=True)))
        for byte in ws.send(Message(data='{"s": "BTCUSDT"}')):
            await stream.send_all(bytes([byte]))
            await trio.lowlevel.checkpoint()
        await stream.send_all(ws.send(CloseConnection(code=1001, reason="going away")))
        await _events(stream, ws)  # the client's answer to the close

    batches, code = run(script, read_all)  # type: ignore[misc]
    assert batches[0] == ["one", "two"]
    assert [m for b in batches for m in b] == ["one", "two", "fragment", '{"s": "BTCUSDT"}']
    assert pong_seen.is_set()
    assert code == 1001


def test_a_message_over_64_kb_arrives_whole() -> None:
    """Binance's all-market array is hundreds of KB: one frame with a 64-bit length,
    which the network delivers in many reads."""
    big = (
        '{"stream": "!miniTicker@arr", "data": ['
        + ",".join(f'{{"s": "C{i:04d}USDT", "c": "{i}.5"}}' for i in range(12_000))
        + "]}"
    )
    assert len(big) > 300_000

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        data = ws.send(Message(data=big))
        assert data[1] & 0x7F == 127  # the 64-bit length form
        for at in range(0, len(data), 7_001):
            await stream.send_all(data[at : at + 7_001])
        await stream.send_all(ws.send(CloseConnection(code=1000)))
        await _events(stream, ws)

    batches, code = run(script, read_all)  # type: ignore[misc]
    assert [m for b in batches for m in b] == [big] and code == 1000


def test_a_ping_of_ours_waits_for_its_pong() -> None:
    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        for _ in range(20):
            for event in await _events(stream, ws):
                if isinstance(event, Ping):
                    await stream.send_all(ws.send(Pong(payload=b"not ours")))
                    await trio.sleep(0.05)
                    await stream.send_all(ws.send(event.response()))
                    await stream.send_all(ws.send(Message(data="after")))
                    return

    async def client(conn: wsclient.WebsocketClient) -> list[str | bytes]:
        async with trio.open_nursery() as nursery:
            got: list[str | bytes] = []

            async def reader() -> None:
                got.extend(await conn.receive_batch())

            nursery.start_soon(reader)
            with trio.fail_after(5):
                await conn.ping()
        return got

    assert run(script, client) == ["after"]


def test_a_closed_socket_without_a_close_frame_is_a_lost_connection() -> None:
    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(Message(data="last")))
        await stream.aclose()

    batches, code = run(script, read_all)  # type: ignore[misc]
    assert batches == [["last"]] and code == 1006


def test_an_oversized_message_closes_with_1009() -> None:
    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        chunk = "x" * (1024 * 1024)
        for _ in range(5):
            await stream.send_all(ws.send(TextMessage(data=chunk, message_finished=False)))
        await trio.sleep(1)

    batches, code = run(script, read_all)  # type: ignore[misc]
    assert batches == [] and code == 1009


@pytest.mark.parametrize("status", [403, 429])
def test_a_refused_upgrade_names_the_http_status(status: int) -> None:
    async def main() -> None:
        async def handler(stream: trio.SocketStream) -> None:
            ws = WSConnection(ConnectionType.SERVER)
            ws.receive_data(await stream.receive_some(65536))
            list(ws.events())
            body = b'{"code": -1003, "msg": "Too many requests"}'
            headers = [(b"content-length", str(len(body)).encode())]
            await stream.send_all(
                ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
                + ws.send(RejectData(data=body))
            )
            await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            with trio.fail_after(5), pytest.raises(wsclient.HandshakeFailed) as info:
                await wsclient.connect(f"ws://127.0.0.1:{port}/stream?streams=a@b")
            assert info.value.status == status
            assert f"HTTP {status}" in str(info.value) and "Too many requests" in str(info.value)
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_not_a_websocket_url() -> None:
    with pytest.raises(ValueError, match="not a websocket URL"):
        trio.run(wsclient.connect, "https://stream.binance.com/ws")


# -- wss:// (TLS), as Binance's streams are served ----------------------------------------------


def test_wss_messages_larger_than_a_tls_record_arrive_whole() -> None:
    """TLS cuts the stream into records of at most 16 KB: a 200 KB all-market array
    arrives in many decrypted reads, between pings, and is one message."""
    entries = ",".join(f'{{"s": "C{i:04d}USDT", "c": "1.0"}}' for i in range(7000))
    big = '{"data": [' + entries + "]}"
    assert len(big) > 200_000

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(Message(data="first")))
        await stream.send_all(ws.send(Ping(payload=b"tls")))
        await stream.send_all(ws.send(Message(data=big)))
        await stream.send_all(ws.send(CloseConnection(code=1000, reason="done")))
        await _events(stream, ws)

    batches, code = run(script, read_all, tls="trusted")  # type: ignore[misc]
    assert [m for b in batches for m in b] == ["first", big] and code == 1000


def test_wss_with_a_certificate_it_cannot_trust_fails_and_says_why() -> None:
    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        raise AssertionError("no websocket over a TLS connection that was refused")

    with pytest.raises(BaseExceptionGroup) as info:
        run(script, read_all, tls="untrusted")
    # What the feed logs and shows: the certificate, not a bare "broken resource".
    said = cause_text(info.value)
    assert "TLS handshake failed" in said and "CERTIFICATE_VERIFY_FAILED" in said, said


def test_wss_cut_without_a_tls_goodbye_is_a_lost_connection() -> None:
    """A network drop (or a proxy) ends TCP without TLS's close_notify: the reader sees a
    lost connection (1006) and the feed reconnects, rather than hanging or crashing."""

    async def script(stream: trio.SocketStream, ws: WSConnection) -> None:
        await stream.send_all(ws.send(Message(data="before")))
        transport = stream.transport_stream  # type: ignore[attr-defined]
        await transport.aclose()

    batches, code = run(script, read_all, tls="trusted")  # type: ignore[misc]
    assert [m for b in batches for m in b] == ["before"] and code == 1006
