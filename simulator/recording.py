"""Recording a book's messages and states, and writing them as Parquet or LOBSTER files.

:class:`BookRecorder` is an :class:`simulator.book.OrderBook` listener: after every message it stores the
message (the *event log*) and the book it left (the *book series*: best bid/ask and sizes, mid, spread,
EW-VWAP mid, and ``levels`` price levels per side). Both become Arrow tables in dollars and shares.

LOBSTER output (LOBSTER_SampleFiles_ReadMe.txt, in ``data/lobster/``): a message file (time in seconds
after midnight, event type, order id, size, price × 10,000, direction) and an orderbook file whose row
*k* is the book after message *k* (``ask_price_1, ask_size_1, bid_price_1, bid_size_1, …``; empty levels
9999999999 / −9999999999 with size 0). Types: ``A`` → 1, partial ``C`` → 2, full ``C`` → 3, ``F`` → 4,
``T`` → 5 (order id 0); the direction of 4/5 is the resting side. ``R`` has no LOBSTER type and is
left out of the LOBSTER files (it stays in the Parquet event log).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from .book import ASK, BID, Message, OrderBook

LOBSTER_EMPTY_ASK, LOBSTER_EMPTY_BID = 9999999999, -9999999999
LOBSTER_PRICE_SCALE = 10_000


class BookRecorder:
    """Collects messages and book states from an :class:`OrderBook` (pass it as ``listener``).

    Args:
        levels: price levels per side kept in the book series (for LOBSTER orderbook files).
    """

    def __init__(self, levels: int = 5):
        self.levels = levels
        self.rows: list[tuple] = []
        self.depth: list[list[int]] = []

    def __call__(self, book: OrderBook, message: Message):
        bid, ask = book.best_bid(), book.best_ask()
        self.rows.append((message.ts_ns, message.action, message.side, message.price * book.tick_size,
                          message.size, message.order_id, message.remaining, message.participant,
                          np.nan if bid is None else bid * book.tick_size,
                          0 if bid is None else book.volume_at[BID][bid],
                          np.nan if ask is None else ask * book.tick_size,
                          0 if ask is None else book.volume_at[ASK][ask],
                          np.nan if book.mid() is None else book.mid(), book.ew_vwap_mid()))
        row = []
        asks, bids = book.depth(ASK, self.levels), book.depth(BID, self.levels)
        for i in range(self.levels):
            ap, asz = asks[i] if i < len(asks) else (None, 0)
            bp, bsz = bids[i] if i < len(bids) else (None, 0)
            row += [LOBSTER_EMPTY_ASK if ap is None else int(round(ap * book.tick_size * LOBSTER_PRICE_SCALE)), asz,
                    LOBSTER_EMPTY_BID if bp is None else int(round(bp * book.tick_size * LOBSTER_PRICE_SCALE)), bsz]
        self.depth.append(row)

    def events(self) -> pa.Table:
        """Event log: ``ts_ns`` int64, ``action`` (A/C/F/T/R), ``side`` int8 (0 bid, 1 ask), ``price``
        (dollars), ``size`` (shares), ``order_id`` uint64, ``remaining`` (shares left on the order),
        ``participant`` bool."""
        cols = list(zip(*self.rows)) if self.rows else [[]] * 14
        return pa.table({
            "ts_ns": pa.array(cols[0], pa.int64()), "action": pa.array(cols[1], pa.string()),
            "side": pa.array(cols[2], pa.int8()), "price": pa.array(cols[3], pa.float64()),
            "size": pa.array(cols[4], pa.int64()), "order_id": pa.array(cols[5], pa.uint64()),
            "remaining": pa.array(cols[6], pa.int64()), "participant": pa.array(cols[7], pa.bool_()),
        })

    def book_series(self) -> pa.Table:
        """Book after each message: ``ts_ns``, ``best_bid``/``best_ask`` (dollars, NaN if empty),
        ``bid_size``/``ask_size`` (shares), ``mid`` (book midpoint, dollars), ``spread`` (dollars),
        ``ew_vwap_mid`` (dollars)."""
        cols = list(zip(*self.rows)) if self.rows else [[]] * 14
        bid, ask = np.asarray(cols[8], np.float64), np.asarray(cols[10], np.float64)
        return pa.table({
            "ts_ns": pa.array(cols[0], pa.int64()), "best_bid": bid, "bid_size": pa.array(cols[9], pa.int64()),
            "best_ask": ask, "ask_size": pa.array(cols[11], pa.int64()), "mid": np.asarray(cols[12], np.float64),
            "spread": ask - bid, "ew_vwap_mid": np.asarray(cols[13], np.float64),
        })

    def lobster_tables(self, midnight_ns: int) -> tuple[pa.Table, pa.Table]:
        """(message, orderbook) tables in LOBSTER layout; ``midnight_ns`` = UTC ns of the local midnight
        the LOBSTER time column counts from."""
        events = self.events()
        action = np.asarray(events.column("action").to_pylist(), dtype=object)
        keep = action != "R"
        remaining = events.column("remaining").to_numpy()
        kind = np.select([action == "A", (action == "C") & (remaining > 0), action == "C", action == "F",
                          action == "T"], [1, 2, 3, 4, 5], 0)[keep]
        side = events.column("side").to_numpy()[keep]
        message = pa.table({
            "time": (events.column("ts_ns").to_numpy()[keep] - midnight_ns) / 1e9,
            "type": kind,
            "order_id": np.where(kind == 5, 0, events.column("order_id").to_numpy()[keep].astype(np.int64)),
            "size": events.column("size").to_numpy()[keep],
            "price": np.round(events.column("price").to_numpy()[keep] * LOBSTER_PRICE_SCALE).astype(np.int64),
            "direction": np.where(side == BID, 1, -1),
        })
        depth = np.asarray(self.depth, dtype=np.int64).reshape(len(self.depth), 4 * self.levels)[keep]
        names = [f"{k}_{i}" for i in range(1, self.levels + 1) for k in ("ask_price", "ask_size", "bid_price", "bid_size")]
        return message, pa.table({n: depth[:, j] for j, n in enumerate(names)})


def _atomic(path: Path, write):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(table: pa.Table, path) -> Path:
    """Write a table as Parquet (temporary file, then rename)."""
    path = Path(path)
    _atomic(path, lambda tmp: pq.write_table(table, tmp))
    return path


def write_lobster(recorder: BookRecorder, directory, ticker: str, date: str, midnight_ns: int) -> tuple[Path, Path]:
    """Write ``TICKER_DATE_start_end_message_L.csv`` and ``…_orderbook_L.csv`` (no header, LOBSTER layout).

    Args:
        ticker, date: for the file names (``date`` as ``YYYY-MM-DD``); ``midnight_ns``: see
            :meth:`BookRecorder.lobster_tables`.

    Returns:
        (message path, orderbook path).
    """
    message, book = recorder.lobster_tables(midnight_ns)
    times = message.column("time").to_numpy()
    start, end = (int(times[0] * 1000), int(np.ceil(times[-1] * 1000))) if len(times) else (0, 0)
    stem = f"{ticker}_{date}_{start}_{end}"
    paths = []
    for kind, table in (("message", message), ("orderbook", book)):
        path = Path(directory) / f"{stem}_{kind}_{recorder.levels}.csv"
        options = pcsv.WriteOptions(include_header=False)
        _atomic(path, lambda tmp, t=table: pcsv.write_csv(t, tmp, options))
        paths.append(path)
    return paths[0], paths[1]
