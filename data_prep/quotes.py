"""The quotes each real event met: best bid and best ask of the book *before* every row of a session.

They give the spread context of ``book_context="spread"`` (:mod:`data_prep.features`), the same quantity
the simulator feeds back from its own book in closed loop. The book comes from

* a LOBSTER message file's orderbook file (row *k* − 1 is the book before message *k*; before message 0, the
  opening book of the snapshot rows): the exact quotes, which a replay of a level-L message file cannot
  give, since such a file never reports the orders that leave its visible levels;
* otherwise (Databento MBO, full depth) a replay of the session through the simulator's book
  (:func:`simulator.replay.replay`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from .lobster import EMPTY_ASK, EMPTY_BID, NAME, PRICE_DIVISOR, orderbook_path, read_orderbook
from .schema import char_codes


def _lobster_quotes(events: pa.Table, path: Path) -> np.ndarray:
    """(N, 2) best bid, best ask (dollars; NaN on an empty side) before each row, from the orderbook file."""
    book = read_orderbook(path)
    bid = book.column("bid_price_1").to_numpy().astype(np.float64)
    ask = book.column("ask_price_1").to_numpy().astype(np.float64)
    bid[(bid == EMPTY_BID) | (book.column("bid_size_1").to_numpy() == 0)] = np.nan
    ask[(ask == EMPTY_ASK) | (book.column("ask_size_1").to_numpy() == 0)] = np.nan
    source_row = events.column("source_row").to_numpy()
    if source_row.max(initial=-1) >= book.num_rows:
        raise ValueError(f"{orderbook_path(path)}: {book.num_rows} rows, fewer than the messages of {path.name}")
    snap = events.column("is_snapshot").to_numpy(zero_copy_only=False)
    side, price = char_codes(events.column("side")), events.column("price").to_numpy(zero_copy_only=False)
    opening = [np.max(price[snap & (side == ord("B"))], initial=np.nan),
               np.min(price[snap & (side == ord("A"))], initial=np.nan)]
    before = source_row - 1  # orderbook row k is the book after message k
    quotes = np.column_stack([bid[np.maximum(before, 0)], ask[np.maximum(before, 0)]]) / PRICE_DIVISOR
    quotes[before < 0] = opening
    return quotes


def _replayed_quotes(events: pa.Table) -> np.ndarray:
    """(N, 2) best bid, best ask (dollars; NaN on an empty side) before each row, replaying the session."""
    from simulator.replay import replay  # the simulator builds on data_prep: import at call time

    quotes = np.full((events.num_rows, 2), np.nan)

    def record(i, book):
        quotes[i] = book.quotes()

    replay(events, before_row=record)
    return quotes


def quotes_before(events: pa.Table, path=None) -> np.ndarray:
    """Best bid and best ask of the book before each row of one session (module docstring).

    Args:
        events: EVENT_SCHEMA rows of one (instrument, date) session, in feed order.
        path: the file they were read from; a LOBSTER message file with its orderbook file beside it gives
            the exact quotes, anything else (or ``None``) a replay.

    Returns:
        (N, 2) float64 dollars: column 0 the best bid, column 1 the best ask; NaN where that side is empty.

    Raises:
        ValueError: the orderbook file has fewer rows than the message file.
    """
    path = None if path is None else Path(path)
    if path is not None and NAME.match(path.name) and orderbook_path(path).exists():
        return _lobster_quotes(events, path)
    return _replayed_quotes(events)


def relative_spread(bid, ask) -> np.ndarray:
    """(ask − bid) / ((ask + bid) / 2), fractions, elementwise; NaN where either quote is NaN."""
    bid, ask = np.asarray(bid, dtype=np.float64), np.asarray(ask, dtype=np.float64)
    return (ask - bid) / ((ask + bid) / 2)
