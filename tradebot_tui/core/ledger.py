"""The budget ledger of one quote currency, exact at every step.

Identity kept by every operation (docs/architecture.md, "Money rules"):

    free + reserved + in_positions_at_cost == initial + realized_pnl - fees_paid

`realized_pnl` is gross (proceeds minus cost basis); fees are counted apart, so a closed
trade's net result is its realized pnl minus its entry and exit fees.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from tradebot_tui.core.money import EXACT, ZERO


class LedgerError(Exception):
    """An operation the ledger refuses (unknown reservation, not enough budget...)."""


class InsufficientBudget(LedgerError):
    """The free budget does not cover a reservation."""


class Ledger:
    """Free, reserved and invested amounts of one quote currency."""

    def __init__(self, quote: str, initial: Decimal) -> None:
        if initial < 0:
            raise LedgerError(f"initial budget must not be negative, got {initial}")
        self.quote = quote
        self.initial = initial
        self.free = initial
        self.realized_pnl = ZERO
        self.fees_paid = ZERO
        self._reserved: dict[str, Decimal] = {}
        self._positions: dict[str, Decimal] = {}
        # Sums kept alongside the dicts so that reading them is O(1).
        self._reserved_total = ZERO
        self._positions_total = ZERO

    # -- reading -------------------------------------------------------------------------

    @property
    def reserved(self) -> Decimal:
        """Budget set aside for orders not yet settled."""
        return self._reserved_total

    @property
    def in_positions(self) -> Decimal:
        """Cost basis of everything currently held."""
        return self._positions_total

    def reservation(self, key: str) -> Decimal:
        """What is still reserved under `key` (0 if nothing)."""
        return self._reserved.get(key, ZERO)

    def position_cost(self, symbol: str) -> Decimal:
        return self._positions.get(symbol, ZERO)

    def reservations(self) -> dict[str, Decimal]:
        return dict(self._reserved)

    def positions(self) -> dict[str, Decimal]:
        return dict(self._positions)

    def equity_at_cost(self) -> Decimal:
        """free + reserved + in positions, all at cost."""
        with localcontext(EXACT):
            return self.free + self._reserved_total + self._positions_total

    def realized_equity(self) -> Decimal:
        """initial + realized pnl - fees: what the account is worth with positions at cost."""
        with localcontext(EXACT):
            return self.initial + self.realized_pnl - self.fees_paid

    def check(self) -> None:
        """Raise LedgerError unless the identity and the cached sums hold exactly."""
        with localcontext(EXACT):
            left = self.free + self._reserved_total + self._positions_total
            right = self.initial + self.realized_pnl - self.fees_paid
            if left != right:
                raise LedgerError(
                    f"{self.quote} ledger out of balance: free {self.free} + reserved "
                    f"{self._reserved_total} + positions {self._positions_total} = {left}, "
                    f"expected initial {self.initial} + pnl {self.realized_pnl} - fees "
                    f"{self.fees_paid} = {right}"
                )
            if sum(self._reserved.values(), ZERO) != self._reserved_total:
                raise LedgerError("reserved total does not match the reservations")
            if sum(self._positions.values(), ZERO) != self._positions_total:
                raise LedgerError("position total does not match the positions")
        if any(v < 0 for v in self._reserved.values()):
            raise LedgerError("a reservation went negative")

    # -- operations ----------------------------------------------------------------------

    def reserve(self, key: str, amount: Decimal) -> None:
        """Move `amount` from free to a reservation named `key` (an order's client id)."""
        if amount <= 0:
            raise LedgerError(f"reservation {key}: amount must be positive, got {amount}")
        if key in self._reserved:
            raise LedgerError(f"reservation {key} exists already")
        if amount > self.free:
            raise InsufficientBudget(
                f"reservation {key}: {amount} {self.quote} asked, {self.free} free"
            )
        with localcontext(EXACT):
            self.free -= amount
            self._reserved[key] = amount
            self._reserved_total += amount

    def release(self, key: str) -> Decimal:
        """Return what is left of a reservation to free; returns the amount released."""
        amount = self._reserved.pop(key, None)
        if amount is None:
            return ZERO
        with localcontext(EXACT):
            self._reserved_total -= amount
            self.free += amount
        return amount

    def fill_entry(self, key: str, symbol: str, cost: Decimal, fee: Decimal) -> None:
        """Settle a buy fill against its reservation.

        The cost and fee come out of the reservation; if a fill costs more than what is
        left reserved (slippage on a market order), the excess comes out of free.
        """
        if cost < 0 or fee < 0:
            raise LedgerError(f"fill {key}: negative cost or fee ({cost}, {fee})")
        if key not in self._reserved:
            raise LedgerError(f"fill {key}: no reservation under this id")
        with localcontext(EXACT):
            need = cost + fee
            held = self._reserved[key]
            taken = need if need <= held else held
            self._reserved[key] = held - taken
            self._reserved_total -= taken
            self.free -= need - taken
            self._positions[symbol] = self._positions.get(symbol, ZERO) + cost
            self._positions_total += cost
            self.fees_paid += fee

    def fill_exit(self, symbol: str, basis: Decimal, proceeds: Decimal, fee: Decimal) -> None:
        """Settle a sell fill: `basis` is the cost of the amount sold."""
        held = self._positions.get(symbol, ZERO)
        if basis < 0 or proceeds < 0 or fee < 0:
            raise LedgerError(f"exit {symbol}: negative basis, proceeds or fee")
        if basis > held:
            raise LedgerError(f"exit {symbol}: basis {basis} exceeds position cost {held}")
        with localcontext(EXACT):
            rest = held - basis
            if rest:
                self._positions[symbol] = rest
            else:
                self._positions.pop(symbol, None)
            self._positions_total -= basis
            self.free += proceeds - fee
            self.realized_pnl += proceeds - basis
            self.fees_paid += fee
