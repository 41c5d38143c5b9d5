"""From a model event (action, side, δp, size) to a concrete order on the book (TradeFM §8, Algorithm 3).

The rule, shared by TradeFM rollouts and the Hawkes / Zero-Intelligence baselines so that all are
measured through the same book:

* reference mid: the book midpoint (the paper's choice in simulation, §8) or, with
  ``mid_mode="ew_vwap"``, the book's EW-VWAP of its own executions (the estimator of the training
  features); while a side is empty the last known midpoint is used, and before any execution the
  EW-VWAP falls back to the midpoint;
* price = mid · (1 + δp), rounded to the nearest tick;
* size rounded to the nearest lot, at least one lot;
* add (action 0): a limit order on the side (0 buy → bid, 1 sell → ask); a marketable price executes
  against the opposite side and the remainder rests;
* cancel (action 1): the event names no order, so :meth:`simulator.book.OrderBook.cancel_nearest` deletes
  one whole order: at the level with volume nearest to the price on that side, the one whose size is
  closest to the event's (ties: the most recent), as real cancels are deletions. A cancel on a side
  without resting volume is infeasible (:func:`is_feasible`).
"""

from __future__ import annotations

import math

from .book import OrderBook

MID_MODES = ("book", "ew_vwap")


class InfeasibleEventError(ValueError):
    """The event cannot be applied to the current book (a cancel with nothing resting on its side, or no
    reference mid yet)."""


def reference_mid(book: OrderBook, mid_mode: str = "book") -> float | None:
    """The mid a generated price is relative to, in dollars (see the module docstring)."""
    if mid_mode not in MID_MODES:
        raise ValueError(f"mid_mode must be one of {MID_MODES}, got {mid_mode!r}")
    book_mid = book.mid()
    if mid_mode == "ew_vwap":
        vwap = book.ew_vwap_mid()
        return book_mid if math.isnan(vwap) else vwap
    return book_mid


def is_feasible(book: OrderBook, action_id: int, side_id: int) -> bool:
    """Whether an event of this action and side can be applied: a cancel needs resting volume on its side."""
    return action_id == 0 or book.has_volume(side_id)


def apply_model_event(book: OrderBook, action_id: int, side_id: int, price_offset: float, size: float, ts_ns: int,
                      mid_mode: str = "book", participant: bool = False) -> dict:
    """Apply one model event to ``book``.

    Args:
        action_id: 0 add, 1 cancel. side_id: 0 buy/bid, 1 sell/ask.
        price_offset: δp as a fraction of the mid. size: shares (rounded to lots, ≥ 1 lot).
        ts_ns: event time, UTC ns.
        participant: flag the order as a participant's (agent) order.

    Returns:
        dict with ``ts_ns``, ``action_id``, ``side_id``, ``price`` (dollars), ``size`` (shares requested),
        ``order_id`` (new or cancelled order), ``executed`` (shares filled by an add), ``cancelled``.

    Raises:
        InfeasibleEventError: see :func:`is_feasible`, or no mid exists yet (empty book).
    """
    if not is_feasible(book, action_id, side_id):
        raise InfeasibleEventError(f"cancel on side {side_id} with no resting volume")
    mid = reference_mid(book, mid_mode)
    if mid is None:
        raise InfeasibleEventError("the book has never had both sides quoted: no mid to price from")
    price = max(1, book.to_ticks(mid * (1.0 + price_offset)))  # prices stay positive
    lots = max(1, int(round(size / book.lot_size)))
    shares = lots * book.lot_size
    record = {"ts_ns": ts_ns, "action_id": action_id, "side_id": side_id, "price": book.to_price(price),
              "size": shares, "executed": 0, "cancelled": 0}
    if action_id == 0:
        record["order_id"], fills = book.add(side_id, price, shares, ts_ns, participant=participant)
        record["executed"] = sum(f.size for f in fills)
    else:
        record["order_id"], record["cancelled"] = book.cancel_nearest(side_id, price, shares, ts_ns)
    return record
