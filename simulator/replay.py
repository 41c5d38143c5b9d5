"""Replay real normalized events (EVENT_SCHEMA) through the simulator's order book.

Used to put real sessions on the same footing as generated ones (the evaluation measures both from the
same book), to set up the book at the end of a real prompt, and to check the simulator on real flow.

Per action (one session, in feed order): snapshot rows and ``A`` rest without matching (the venue reports
executions itself); ``C`` cancels; ``M`` modifies (``OrderBook.modify``); ``F`` executes the resting order
where fills are the book change (LOBSTER) and is a print only where the venue follows it with its own
``C``/``M`` (Databento; :func:`data_prep.schema.fills_update_book`); a print without a known resting order
(LOBSTER hidden executions, ``T`` when the session has no ``F``) only feeds the mid estimator; ``R`` clears; ``N`` is ignored. Cancels, modifies and fills of order ids the
book never saw — orders placed before the capture or outside a level-L file's visible levels — are
counted and skipped. A level-L LOBSTER file never reports orders leaving its visible levels, so there
resting orders that a new real quote crosses are removed as stale (counted); a full-depth Databento book
is left as the venue reports it (it may be crossed before the open).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np
import pyarrow as pa

from data_prep.schema import char_codes, fills_update_book

from .book import ASK, BID, OrderBook, UnknownOrderError
from .recording import BookRecorder

A, C, M, T, F, R = (ord(c) for c in "ACMTFR")


def replay(events: pa.Table, tick_size: float | None = None, book: OrderBook | None = None,
           recorder: BookRecorder | None = None,
           before_row: Callable[[int, OrderBook], None] | None = None) -> tuple[OrderBook, Counter]:
    """Apply one session's events to a book.

    Args:
        events: EVENT_SCHEMA rows of one (instrument, date) session, in feed order.
        tick_size: dollars; inferred from the add prices when ``None`` (:meth:`OrderBook.tick_size_of`).
        book: continue this book instead of starting an empty one.
        recorder: attached as the book's listener (records every message and state).
        before_row: called as ``before_row(i, book)`` before row ``i`` is applied (e.g. to read the book each
            real event met, :func:`data_prep.quotes.quotes_before`).

    Returns:
        ``(book, counts)``; counts by outcome: ``applied``, ``unknown_order`` (skipped), ``stale_removed``
        (shares), ``print_only``, ``ignored``.
    """
    price = events.column("price").to_numpy(zero_copy_only=False)
    if book is None:
        book = OrderBook(tick_size or OrderBook.tick_size_of(events))
    if recorder is not None:
        book.listener = recorder
    action, side_code = char_codes(events.column("action")), char_codes(events.column("side"))
    ts = events.column("ts_recv").to_numpy()
    size = events.column("size").to_numpy()
    order_id = events.column("order_id").to_numpy()
    has_fills = bool((action == F).any())
    fills_execute = fills_update_book(events.column("flags").to_numpy())
    drop_stale = fills_execute  # LOBSTER: partial depth
    ticks = np.where(np.isfinite(price), np.round(price / book.tick_size), 0).astype(np.int64)
    side = np.where(side_code == ord("A"), ASK, BID)
    counts: Counter = Counter()
    for i in range(len(action)):
        if before_row is not None:
            before_row(i, book)
        a, t, s, p, q, oid = action[i], int(ts[i]), int(side[i]), int(ticks[i]), int(size[i]), int(order_id[i])
        try:
            if a == A:
                if drop_stale:
                    counts["stale_removed"] += book.remove_crossed(s, p, t)
                if oid in book.orders:  # a re-used id: the earlier order must have left unseen
                    book.cancel(oid, t)
                book.add(s, p, q, t, order_id=oid, match=False)
            elif a == C:
                book.cancel(oid, t, q)
            elif a == M:
                if drop_stale:
                    counts["stale_removed"] += book.remove_crossed(s, p, t)
                book.modify(oid, p, q, t)
            elif a == F and fills_execute and oid in book.orders:
                book.execute(oid, q, t)
            elif (a == F or (a == T and not has_fills)) and q > 0 and np.isfinite(price[i]):
                book.trade(p, q, t, s)
                counts["print_only"] += 1
                continue
            elif a == R:
                book.clear(t)
            else:
                counts["ignored"] += 1
                continue
            counts["applied"] += 1
        except UnknownOrderError:
            counts["unknown_order"] += 1
    return book, counts
