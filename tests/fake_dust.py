"""The fake Binance's small-asset conversion ("Convert small balances to BNB"), from
Binance's wallet docs and FAQ, surprises included:

- `POST /sapi/v1/asset/dust` (SIGNED, `asset` repeated or comma-separated) converts the
  whole *free* balance of every asset named, in one transaction (one `tranId`), at the
  current prices, less a 2 % service charge; the BNB credited is the amount transferred
  less that charge;
- one conversion every 6 hours (FAQ), refused with -5006 ("Only transfer once in 24
  hours.": the message Binance's error table gives, whatever the period);
- an asset worth more than the threshold (0.0003 BTC in the FAQ) is refused with -5005 and
  nothing is converted; an asset not held with -5003;
- `GET /sapi/v1/asset/dribblet` lists the last 100 conversions (`startTime`, `endTime`),
  and a conversion shows there only `log_lag_s` after it happened (the log lags, as
  Binance's order query does);
- an injected fault with `applied` answers 5xx after the conversion was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from tests.fake_exchange import FakeBinance

CHARGE = D("0.02")
EIGHT = D("0.00000001")


@dataclass
class Conversion:
    tran_id: int
    operate_ms: int
    parts: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        total = sum((D(p["transferedAmount"]) for p in self.parts), D(0))
        charge = sum((D(p["serviceChargeAmount"]) for p in self.parts), D(0))
        return {
            "operateTime": self.operate_ms,
            "totalTransferedAmount": str(total),
            "totalServiceChargeAmount": str(charge),
            "transId": self.tran_id,
            "userAssetDribbletDetails": [{**p, "transId": self.tran_id} for p in self.parts],
        }


class DustDesk:
    """The conversion endpoints of one fake Binance (called under its lock)."""

    def __init__(self, fake: FakeBinance) -> None:
        self.fake = fake
        self.cooldown_s = 6 * 3600.0
        self.threshold_btc = D("0.0003")
        self.log_lag_s = 0.3
        self.bnb_price = D("600")  # USDT, when the fake lists no BNBUSDT
        self.conversions: list[Conversion] = []
        self.requests: list[list[str]] = []  # the assets of every conversion asked for
        self.next_tran = 45178372831

    def route(self, method: str, path: str, raw: str) -> Any:
        from tests.fake_exchange import ApiError

        if method == "POST" and path == "/sapi/v1/asset/dust":
            return self.convert(raw)
        if method == "GET" and path == "/sapi/v1/asset/dribblet":
            return self.log(dict(parse_qsl(raw)))
        raise ApiError(404, -1100, f"no such endpoint in the fake: {method} {path}")

    def _usdt(self, asset: str) -> D | None:
        if asset == "USDT":
            return D(1)
        market = self.fake.markets.get(f"{asset}USDT")
        return market.price if market is not None else None

    def convert(self, raw: str) -> dict[str, Any]:
        from tests.fake_exchange import ApiError

        fake = self.fake
        assets: list[str] = []
        for key, value in parse_qsl(raw):
            if key == "asset":
                assets += [a for a in value.split(",") if a]
        self.requests.append(assets)
        if not assets:
            raise ApiError(
                400,
                -1102,
                "Mandatory parameter 'asset' was not sent, was empty/null, or malformed.",
            )
        now = fake.server_ms()
        if self.conversions and now - self.conversions[-1].operate_ms < self.cooldown_s * 1000:
            raise ApiError(400, -5006, "Only transfer once in 24 hours.")
        btc = self._usdt("BTC") or D(70000)
        bnb = self._usdt("BNB") or self.bnb_price
        parts = []
        for asset in assets:
            amount = fake.balances.get(asset, D(0))
            price = self._usdt(asset)
            if amount <= 0 or price is None:
                raise ApiError(400, -5003, "You don't have this asset.")
            if amount * price / btc > self.threshold_btc:
                raise ApiError(
                    400,
                    -5005,
                    f"The residual balances of {asset} have exceeded 0.001BTC, Please re-choose.",
                )
            gross = (amount * price / bnb).quantize(EIGHT)
            parts.append((asset, amount, gross, (gross * CHARGE).quantize(EIGHT)))
        conversion = Conversion(self.next_tran, now)
        self.next_tran += 1
        for asset, amount, gross, charge in parts:
            fake.balances[asset] = D(0)
            fake.balances["BNB"] = fake.balances.get("BNB", D(0)) + gross - charge
            conversion.parts.append(
                {
                    "amount": str(amount),
                    "fromAsset": asset,
                    "operateTime": now,
                    "serviceChargeAmount": str(charge),
                    "tranId": conversion.tran_id,
                    "transferedAmount": str(gross),
                }
            )
        self.conversions.append(conversion)
        total = sum((g for _, _, g, _ in parts), D(0))
        return {
            "totalServiceCharge": str(sum((c for _, _, _, c in parts), D(0))),
            "totalTransfered": str(total),
            "transferResult": conversion.parts,
        }

    def log(self, q: dict[str, str]) -> dict[str, Any]:
        now = self.fake.server_ms()
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", now))
        shown = [
            c
            for c in self.conversions
            if c.operate_ms + self.log_lag_s * 1000 <= now and start <= c.operate_ms <= end
        ][-100:]
        return {"total": len(shown), "userAssetDribblets": [c.json() for c in shown]}
