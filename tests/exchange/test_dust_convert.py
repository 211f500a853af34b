"""Converting dust to BNB on the fake Binance (tests/fake_dust.py): one request for every
coin, Binance's refusals shown, a lost answer settled by the conversion log and the
balance, never sent again."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
import trio

from tests.exchange.test_live_broker import make_broker, make_client
from tests.fake_exchange import FakeBinance, Fault
from tradebot_tui.core.exits import ExitReason
from tradebot_tui.core.orders import (
    BrokerEvent,
    Fill,
    OrderClosed,
    OrderIntent,
    OrderKind,
    OrderStatus,
    OutcomeUnknown,
    Purpose,
    Side,
    Unexplained,
)
from tradebot_tui.exchange.ccxt_broker import CcxtBroker
from tradebot_tui.exchange.dust_convert import ConversionInDoubt, parse_conversion, parse_log
from tradebot_tui.exchange.reports import MalformedReport

SOL, ETH = D("0.012"), D("0.0009")  # 1.80 and 1.80 USDT: far below the value limit


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(balances={"USDT": "10000", "SOL": str(SOL), "ETH": str(ETH)}) as exchange:
        exchange.dust.log_lag_s = 0.3
        yield exchange


def dust(cid: str, symbol: str, qty: D) -> OrderIntent:
    return OrderIntent(
        cid,
        symbol,
        Side.SELL,
        Purpose.EXIT,
        qty,
        D(1),
        1000,
        reason=ExitReason.DUST_CONVERTED,
        kind=OrderKind.DUST_CONVERT,
    )


def run(fake: FakeBinance, go: Any, limit: float = 20.0) -> tuple[list[BrokerEvent], list[Any]]:
    events: list[BrokerEvent] = []
    credits: list[Any] = []

    async def main() -> None:
        with trio.fail_after(limit):
            client = make_client(fake)
            await client.call("load_markets", priority=3)  # type: ignore[arg-type]
            broker = make_broker(client)
            broker.on_credit = lambda asset, amount: credits.append((asset, amount))
            await go(broker, events.append)

    trio.run(main)
    return events, credits


def posts(fake: FakeBinance) -> int:
    """Conversions asked for (answered or not)."""
    return fake.requests.count(("POST", "/sapi/v1/asset/dust"))


INTENTS = [dust("c-sol", "SOL/USDT", SOL), dust("c-eth", "ETH/USDT", ETH)]


def test_every_coin_converts_in_one_request_and_each_is_booked_at_no_quote(
    fake: FakeBinance,
) -> None:
    events, credits = run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    assert fake.dust.requests == [["SOL", "ETH"]]
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.client_id, f.qty, f.price, f.fee) for f in fills] == [
        ("c-sol", SOL, 0, 0),
        ("c-eth", ETH, 0, 0),
    ]
    closed = [e for e in events if isinstance(e, OrderClosed)]
    assert [c.status for c in closed] == [OrderStatus.FILLED] * 2
    # SOL 0.012 at 150 = 1.8 USDT = 0.003 BNB at 600, less 2 %: 0.00294 credited.
    assert closed[0].message == (
        "converted 0.012 SOL to 0.00294 BNB (charge 0.00006 BNB, transaction 45178372831)"
    )
    assert fake.balances["SOL"] == fake.balances["ETH"] == 0
    assert fake.balances["BNB"] == D("0.00588") == sum(amount for _, amount in credits)
    assert {asset for asset, _ in credits} == {"BNB"}


def test_a_second_conversion_within_six_hours_is_refused_with_binances_reason(
    fake: FakeBinance,
) -> None:
    run(fake, lambda b, emit: b.convert_dust(INTENTS[:1], emit))
    events, credits = run(fake, lambda b, emit: b.convert_dust(INTENTS[1:], emit))
    [refused] = events
    assert isinstance(refused, OrderClosed) and refused.status is OrderStatus.REJECTED
    assert refused.message == (
        'refused: ExchangeError: binance {"code": -5006, "msg": "Only transfer once in 24 hours."}'
    )
    assert fake.balances["ETH"] == ETH and credits == []


def test_a_coin_worth_too_much_refuses_the_whole_request(fake: FakeBinance) -> None:
    fake.balances["SOL"] = D("0.2")  # 30 USDT: over 0.0003 BTC (21 USDT)
    events, _ = run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    assert [(e.client_id, e.status) for e in events if isinstance(e, OrderClosed)] == [
        ("c-sol", OrderStatus.REJECTED),
        ("c-eth", OrderStatus.REJECTED),
    ]
    assert len(events) == 2
    assert all('"code": -5005' in e.message for e in events if isinstance(e, OrderClosed))
    assert fake.balances["ETH"] == ETH and fake.balances["SOL"] == D("0.2")


def test_an_answer_lost_after_converting_is_found_in_the_lagging_log_and_never_sent_again(
    fake: FakeBinance,
) -> None:
    fake.faults.append(Fault(503, "POST", "/sapi/v1/asset/dust", applied=True))
    fake.dust.log_lag_s = 0.6  # the log shows it after a few looks
    events, credits = run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    assert posts(fake) == 1 and len(fake.dust.requests) == 1  # asked once
    assert [type(e) for e in events[:2]] == [OutcomeUnknown, OutcomeUnknown]
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.client_id, f.qty) for f in fills] == [("c-sol", SOL), ("c-eth", ETH)]
    assert [e.status for e in events if isinstance(e, OrderClosed)] == [OrderStatus.FILLED] * 2
    assert sum(a for _, a in credits) == D("0.00588")


def test_an_answer_lost_before_converting_settles_as_not_converted_once_the_log_had_time(
    fake: FakeBinance,
) -> None:
    fake.faults.append(Fault(503, "POST", "/sapi/v1/asset/dust"))  # not applied
    events, credits = run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    assert posts(fake) == 1 and fake.dust.requests == []  # sent once; the fault answered
    closed = [e for e in events if isinstance(e, OrderClosed)]
    assert [c.status for c in closed] == [OrderStatus.CANCELED] * 2
    assert all(c.message == "not converted: the exchange shows the coin still held" for c in closed)
    assert not any(isinstance(e, Fill) for e in events) and credits == []
    assert fake.balances["SOL"] == SOL and fake.balances["ETH"] == ETH


def test_a_conversion_the_journal_left_open_is_settled_without_asking_again(
    fake: FakeBinance,
) -> None:
    async def go(broker: CcxtBroker, emit: Any) -> None:
        await broker.recover(INTENTS[0], emit, [], fake.server_ms())

    events, _ = run(fake, go)
    assert posts(fake) == 0
    assert [(type(e), getattr(e, "status", None)) for e in events] == [
        (OrderClosed, OrderStatus.CANCELED)
    ]


def test_a_conversion_made_before_a_restart_is_booked_from_the_log(fake: FakeBinance) -> None:
    run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    journaled = fake.server_ms() - 5_000

    async def go(broker: CcxtBroker, emit: Any) -> None:
        await broker.recover(INTENTS[1], emit, [], journaled)

    events, _ = run(fake, go)
    assert posts(fake) == 1
    assert [(e.client_id, e.qty) for e in events if isinstance(e, Fill)] == [("c-eth", ETH)]


def test_a_conversion_booked_before_the_restart_only_ends(fake: FakeBinance) -> None:
    known = [Fill("c-sol", SOL, D(0), D(0), 5)]

    async def go(broker: CcxtBroker, emit: Any) -> None:
        await broker.recover(INTENTS[0], emit, known, 7)

    events, _ = run(fake, go)
    assert events == [OrderClosed("c-sol", OrderStatus.FILLED, 7, "converted")]
    assert not [path for _, path in fake.requests if path.startswith("/sapi/")]


def test_a_coin_gone_from_the_account_yet_in_no_log_stays_in_doubt(fake: FakeBinance) -> None:
    fake.balances["SOL"] = D(0)  # sold by hand, say: the log shows no conversion

    async def go(broker: CcxtBroker, emit: Any) -> None:
        broker.dust.doubt_s = 1.5
        await broker.recover(INTENTS[0], emit, [], fake.server_ms())

    with pytest.raises(ConversionInDoubt, match="in no log, yet the coin is gone"):
        run(fake, go)


def test_an_amount_converted_that_is_not_the_dust_is_shown(fake: FakeBinance) -> None:
    fake.balances["SOL"] = SOL + D("0.0005")  # a rest below a step, ours or not
    events, _ = run(fake, lambda b, emit: b.convert_dust(INTENTS[:1], emit))
    unexplained = [e for e in events if isinstance(e, Unexplained)]
    assert unexplained and "converted 0.0125 SOL, the bot held 0.012" in unexplained[0].message
    assert [(e.qty) for e in events if isinstance(e, Fill)] == [SOL]


@pytest.mark.parametrize(
    "raw",
    [None, [], {"transferResult": "x"}, {"transferResult": [{"fromAsset": "SOL"}]}],
)
def test_an_answer_of_the_wrong_shape_is_named(raw: Any) -> None:
    with pytest.raises(MalformedReport):
        parse_conversion(raw)


def test_a_log_of_the_wrong_shape_is_named() -> None:
    with pytest.raises(MalformedReport, match="userAssetDribbletDetails"):
        parse_log({"userAssetDribblets": [{"transId": 1}]})
    with pytest.raises(MalformedReport, match="amount"):
        parse_log(
            {
                "userAssetDribblets": [
                    {
                        "userAssetDribbletDetails": [
                            {
                                "fromAsset": "SOL",
                                "amount": "-1",
                                "transferedAmount": "1",
                                "serviceChargeAmount": "0",
                            }
                        ]
                    }
                ]
            }
        )


def test_an_answer_cut_short_after_converting_is_settled_from_the_log_without_a_traceback(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    fake.faults.append(Fault("malformed", "POST", "/sapi/v1/asset/dust", applied=True))
    events, credits = run(fake, lambda b, emit: b.convert_dust(INTENTS, emit))
    assert posts(fake) == 1
    assert [type(e) for e in events[:2]] == [OutcomeUnknown, OutcomeUnknown]
    assert [(e.client_id, e.qty) for e in events if isinstance(e, Fill)] == [
        ("c-sol", SOL),
        ("c-eth", ETH),
    ]
    assert sum(a for _, a in credits) == D("0.00588")
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
