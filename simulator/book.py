"""A deterministic limit order book with price–time priority (TradeFM §8).

Prices are integer ticks inside the book (``price_ticks = round(price / tick_size)``) and sizes integer
shares/contracts; dollars appear only in :meth:`OrderBook.mid` / :meth:`OrderBook.to_price` and at the
edges (readers, writers). Sides: 0 = bid (buy), 1 = ask (sell).

Every state change is reported as one *message* — the granularity of LOBSTER's message file — to an
optional listener (e.g. :class:`simulator.recording.BookRecorder`) right after it is applied:

========  ==============================================================================
action    message
========  ==============================================================================
``A``     an order rests (after any matching of a marketable add)
``C``     shares cancelled from a resting order (``size`` = amount; ``remaining`` = 0 → deleted)
``F``     a resting order executed (``side`` = the resting order's side, price = its price)
``T``     an execution print without a resting order in this book (e.g. a hidden fill)
``R``     the book was cleared
========  ==============================================================================

Same calls in the same order → the same messages and states, bit for bit: no randomness, no wall clock,
and iteration only over insertion-ordered dicts and sorted price lists.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from data_prep.vwap import DEFAULT_HALF_LIFE_S, EWVWAP

BID, ASK = 0, 1
GENERATED_ID_BASE = 1 << 62
"""Order ids the book assigns itself start here, far above venue reference numbers."""


@dataclass
class Order:
    order_id: int
    side: int
    price: int  # ticks
    size: int
    ts_ns: int
    participant: bool = False


@dataclass(frozen=True)
class Message:
    """One elementary book change (see the module docstring); ``price`` in ticks."""

    ts_ns: int
    action: str
    side: int
    price: int
    size: int
    order_id: int
    remaining: int = 0
    participant: bool = False


class UnknownOrderError(KeyError):
    """A cancel, modify or execution names an order id that is not resting in the book."""


def infer_tick_size(prices: np.ndarray) -> float:
    """Tick size of an instrument from observed limit-order prices (dollars): the greatest common divisor
    of the price differences, at 1e-9 dollar resolution (Databento's fixed-point unit). Pass order (add)
    prices: executions may print between ticks (e.g. midpoint hidden fills).

    Raises:
        ValueError: fewer than two distinct finite prices.
    """
    prices = np.asarray(prices, dtype=np.float64)
    units = np.unique(np.round(prices[np.isfinite(prices)] * 1e9).astype(np.int64))
    if len(units) < 2:
        raise ValueError("need at least two distinct prices to infer the tick size")
    return float(np.gcd.reduce(np.diff(units))) / 1e9


class OrderBook:
    """Limit order book with price–time priority.

    Args:
        tick_size: price increment, dollars (> 0).
        lot_size: size increment, shares (>= 1); generated sizes are rounded to it by
            :func:`simulator.orders.apply_model_event`.
        half_life_s: half-life of the EW-VWAP mid computed from this book's own executions
            (:class:`data_prep.vwap.EWVWAP`, the estimator of the training features).
        listener: called with each :class:`Message` after it is applied.
    """

    @staticmethod
    def tick_size_of(events) -> float:
        """:func:`infer_tick_size` over the ``A`` (add) rows of an EVENT_SCHEMA table."""
        import pyarrow.compute as pc

        return infer_tick_size(events.filter(pc.equal(events.column("action"), "A")).column("price")
                               .to_numpy(zero_copy_only=False))

    def __init__(self, tick_size: float, lot_size: int = 1, half_life_s: float = DEFAULT_HALF_LIFE_S,
                 listener: Callable[["OrderBook", Message], None] | None = None):
        if not tick_size > 0 or lot_size < 1:
            raise ValueError(f"tick_size must be > 0 and lot_size >= 1, got {tick_size}, {lot_size}")
        self.tick_size, self.lot_size = tick_size, int(lot_size)
        self.orders: dict[int, Order] = {}
        self.levels: tuple[dict[int, dict[int, Order]], dict[int, dict[int, Order]]] = ({}, {})
        self.prices: tuple[list[int], list[int]] = ([], [])  # ascending prices with resting volume
        self.volume_at: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.vwap = EWVWAP(half_life_s)
        self.listener = listener
        self.next_order_id = GENERATED_ID_BASE
        self.last_mid: float | None = None
        self.totals = {"added": 0, "cancelled": 0, "executed": 0}

    # ------------------------------------------------------------------ conversion
    def to_ticks(self, price: float) -> int:
        """Dollars → nearest tick (int)."""
        return int(round(price / self.tick_size))

    def to_price(self, ticks: int) -> float:
        """Ticks → dollars."""
        return ticks * self.tick_size

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> int | None:
        return self.prices[BID][-1] if self.prices[BID] else None

    def best_ask(self) -> int | None:
        return self.prices[ASK][0] if self.prices[ASK] else None

    def best(self, side: int) -> int | None:
        return self.best_bid() if side == BID else self.best_ask()

    def quotes(self) -> tuple[float, float]:
        """(best bid, best ask) in dollars, NaN for an empty side."""
        return tuple(float("nan") if p is None else self.to_price(p) for p in (self.best_bid(), self.best_ask()))

    def has_volume(self, side: int) -> bool:
        return bool(self.prices[side])

    def volume(self, side: int) -> int:
        """Total resting size on a side (shares)."""
        return sum(self.volume_at[side].values())

    def depth(self, side: int, n_levels: int) -> list[tuple[int, int]]:
        """Up to ``n_levels`` (price ticks, size) pairs from the touch outwards."""
        prices = self.prices[side]
        chosen = prices[::-1][:n_levels] if side == BID else prices[:n_levels]
        return [(p, self.volume_at[side][p]) for p in chosen]

    def mid(self) -> float | None:
        """Book midpoint in dollars (the paper's simulation mid, §8); the last known midpoint while a side
        is empty; ``None`` before both sides were ever quoted."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None:
            self.last_mid = (bid + ask) * self.tick_size / 2
        return self.last_mid

    def spread(self) -> int | None:
        """Best ask − best bid in ticks; ``None`` if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        return None if bid is None or ask is None else ask - bid

    def ew_vwap_mid(self) -> float:
        """EW-VWAP of this book's executions (dollars; NaN before the first one)."""
        return self.vwap.mid

    # ------------------------------------------------------------------ internals
    def _emit(self, ts_ns, action, side, price, size, order_id, remaining=0, participant=False):
        if self.listener is not None:
            self.listener(self, Message(ts_ns, action, side, price, size, order_id, remaining, participant))

    def _rest(self, order: Order):
        level = self.levels[order.side].get(order.price)
        if level is None:
            level = self.levels[order.side][order.price] = {}
            bisect.insort(self.prices[order.side], order.price)
            self.volume_at[order.side][order.price] = 0
        level[order.order_id] = order
        self.volume_at[order.side][order.price] += order.size
        self.orders[order.order_id] = order

    def _reduce(self, order: Order, size: int):
        """Take ``size`` shares off a resting order; delete it (and its level) when empty."""
        order.size -= size
        self.volume_at[order.side][order.price] -= size
        if order.size == 0:
            del self.orders[order.order_id]
            level = self.levels[order.side][order.price]
            del level[order.order_id]
            if not level:
                del self.levels[order.side][order.price]
                del self.volume_at[order.side][order.price]
                prices = self.prices[order.side]
                prices.pop(bisect.bisect_left(prices, order.price))

    def _print(self, ts_ns: int, price: int, size: int):
        self.vwap.update(ts_ns, price * self.tick_size, size)
        self.totals["executed"] += size

    # ------------------------------------------------------------------ operations
    def add(self, side: int, price: int, size: int, ts_ns: int, order_id: int | None = None,
            participant: bool = False, match: bool = True) -> tuple[int, list[Message]]:
        """Submit a limit order.

        A marketable order (a buy at or above the best ask, a sell at or below the best bid) executes
        against the opposite side level by level, oldest order first, at the resting orders' prices; the
        remainder rests at ``price``. With ``match=False`` the order rests without matching (replaying a
        feed that reports executions itself).

        Args:
            side: 0 bid, 1 ask. price: ticks. size: shares (> 0). ts_ns: UTC ns.
            order_id: venue id; ``None`` assigns a fresh id.

        Returns:
            ``(order_id, fills)``: the fills (``F`` messages) of the matching, oldest first.

        Raises:
            ValueError: non-positive size, bad side, or an order id already resting.
        """
        if size <= 0 or side not in (BID, ASK):
            raise ValueError(f"add needs size > 0 and side 0/1, got size={size}, side={side}")
        if order_id is None:
            order_id, self.next_order_id = self.next_order_id, self.next_order_id + 1
        elif order_id in self.orders:
            raise ValueError(f"order id {order_id} is already resting")
        self.totals["added"] += size
        fills = []
        other = 1 - side
        while match and size > 0 and self.prices[other]:
            best = self.best(other)
            if (side == BID and best > price) or (side == ASK and best < price):
                break
            maker = next(iter(self.levels[other][best].values()))  # time priority: oldest first
            take = min(size, maker.size)
            self._reduce(maker, take)
            self._print(ts_ns, best, take)
            size -= take
            message = Message(ts_ns, "F", other, best, take, maker.order_id, maker.size, maker.participant)
            fills.append(message)
            if self.listener is not None:
                self.listener(self, message)
        if size > 0:
            self._rest(Order(order_id, side, price, size, ts_ns, participant))
            self._emit(ts_ns, "A", side, price, size, order_id, size, participant)
        return order_id, fills

    def cancel(self, order_id: int, ts_ns: int, size: int | None = None) -> int:
        """Cancel ``size`` shares of a resting order (all of it when ``None`` or larger).

        Returns:
            Shares cancelled.

        Raises:
            UnknownOrderError: the order is not resting.
        """
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrderError(order_id)
        amount = order.size if size is None else min(int(size), order.size)
        self._reduce(order, amount)
        self.totals["cancelled"] += amount
        self._emit(ts_ns, "C", order.side, order.price, amount, order_id, order.size, order.participant)
        return amount

    def nearest_level(self, side: int, price: int) -> int | None:
        """The price level with volume on ``side`` nearest to ``price`` (ties: the one nearer the touch)."""
        prices = self.prices[side]
        if not prices:
            return None
        i = bisect.bisect_left(prices, price)
        candidates = prices[max(0, i - 1):i + 1]
        # nearer the touch = higher for bids, lower for asks
        return min(candidates, key=lambda p: (abs(p - price), -p if side == BID else p))

    def cancel_nearest(self, side: int, price: int, size: int, ts_ns: int) -> tuple[int, int] | None:
        """Cancel for a generated event, which names no order: **one whole order** is deleted — at the level
        with volume nearest to ``price`` on ``side``, the order whose remaining size is closest to ``size``
        (ties: the most recent).

        Whole, because real cancels delete orders: LOBSTER type 3 (deletion) is 99.1 % of AAPL's and 99.9 %
        of AMZN's cancels on 2012-06-21 (type 2, partial, the rest), and a Databento MBO ``C`` removes the
        order (size reductions arrive as ``M``). Taking ``size`` shares off whatever order sits there instead
        leaves odd remainders resting at the touch, which a real book does not have.

        Returns:
            ``(order_id, shares cancelled)``, or ``None`` when the side has no resting volume.
        """
        level = self.nearest_level(side, price)
        if level is None:
            return None
        newest_first = reversed(self.levels[side][level].values())
        order = min(newest_first, key=lambda o: abs(o.size - size))  # min keeps the first (newest) of ties
        return order.order_id, self.cancel(order.order_id, ts_ns)

    def modify(self, order_id: int, price: int, size: int, ts_ns: int) -> list[Message]:
        """Change a resting order's price and/or size (Databento ``M`` semantics): a size decrease at the
        same price keeps queue priority; any other change cancels and re-submits it (it may then match).

        Returns:
            Fills of the re-submitted order (empty when priority is kept).

        Raises:
            UnknownOrderError: the order is not resting. ValueError: ``size <= 0``.
        """
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrderError(order_id)
        if size <= 0:
            raise ValueError(f"modify to size {size}: cancel the order instead")
        if price == order.price and size <= order.size:
            if size < order.size:
                self.cancel(order_id, ts_ns, order.size - size)
            return []
        side, participant = order.side, order.participant
        self.cancel(order_id, ts_ns)
        return self.add(side, price, size, ts_ns, order_id, participant)[1]

    def execute(self, order_id: int, size: int, ts_ns: int) -> int:
        """A venue-reported execution of a resting order (replay): reduce it and record the print.

        Returns:
            Shares executed. Raises UnknownOrderError if the order is not resting.
        """
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrderError(order_id)
        amount = min(int(size), order.size)
        self._reduce(order, amount)
        self._print(ts_ns, order.price, amount)
        self._emit(ts_ns, "F", order.side, order.price, amount, order_id, order.size, order.participant)
        return amount

    def trade(self, price: int, size: int, ts_ns: int, side: int = BID):
        """An execution print with no resting order in this book (hidden liquidity): mid estimator only."""
        self._print(ts_ns, price, size)
        self._emit(ts_ns, "T", side, price, size, 0)

    def clear(self, ts_ns: int):
        """Remove every resting order (Databento ``R``)."""
        for side in (BID, ASK):
            self.levels[side].clear()
            self.prices[side].clear()
            self.volume_at[side].clear()
        self.orders.clear()
        self._emit(ts_ns, "R", BID, 0, 0, 0)

    def remove_crossed(self, side: int, price: int, ts_ns: int) -> int:
        """Delete opposite-side orders that a *passive* order at ``price`` on ``side`` would cross.

        Used by replay: a level-L feed never reports the removal of orders that left its visible levels,
        so such stale orders are dropped when real quotes cross them. Returns shares removed.
        """
        other, removed = 1 - side, 0
        while self.prices[other]:
            best = self.best(other)
            if (side == BID and best > price) or (side == ASK and best < price):
                break
            for order in list(self.levels[other][best].values()):
                removed += self.cancel(order.order_id, ts_ns)
        return removed

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_levels(cls, bid_prices, bid_sizes, ask_prices, ask_sizes, tick_size: float, ts_ns: int,
                    order_size: int | None = None, **kwargs) -> "OrderBook":
        """A book from aggregate levels (a LOBSTER orderbook row), whose queues the data does not give.

        Args:
            bid_prices, ask_prices: dollars, one per level. bid_sizes, ask_sizes: shares, one per level
                (levels of size 0 are skipped).
            order_size: shares; each level becomes a queue of orders of this size, the remainder as its last
                order (a 250-share level with ``order_size=100``: 100, 100, 50), so that a generated cancel,
                which deletes one whole order, takes one order's worth off the level as a real cancel does.
                ``None``: one synthetic order per level.

        Raises:
            ValueError: ``order_size`` below 1.
        """
        if order_size is not None and order_size < 1:
            raise ValueError(f"order_size must be at least 1 share, got {order_size}")
        book = cls(tick_size, **kwargs)
        for side, prices, sizes in ((BID, bid_prices, bid_sizes), (ASK, ask_prices, ask_sizes)):
            for price, size in zip(prices, sizes):
                size = int(size)
                if size <= 0:
                    continue
                step = order_size or size
                for queued in range(0, size, step):
                    book.add(side, book.to_ticks(price), min(step, size - queued), ts_ns, match=False)
        return book
