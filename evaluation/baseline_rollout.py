"""Rolling a baseline out through the simulator (TradeFM §9): the Hawkes and Zero-Intelligence streams are
open loop (their events do not depend on the book), and each event becomes an order on the book with the
same rule TradeFM's tokens use (:func:`simulator.orders.apply_model_event`), so all sources are measured
on the same book the same way.
"""

from __future__ import annotations

import copy

import pyarrow as pa

from simulator.book import OrderBook
from simulator.orders import InfeasibleEventError, apply_model_event
from simulator.recording import BookRecorder
from simulator.rollout import EVENT_COLUMNS, Rollout


def apply_stream(stream: pa.Table, book: OrderBook, start_ts_ns: int, mid_mode: str = "book",
                 levels: int = 1) -> Rollout:
    """Apply an event stream to a copy of ``book`` (``book`` itself is left as it was).

    Args:
        stream: :data:`evaluation.streams.STREAM_SCHEMA` table (``ts_ns``, ``action_id``, ``side_id``,
            ``price_offset`` δp fraction, ``size`` shares), times ≥ ``start_ts_ns``.
        book: the starting book (e.g. the real book at the end of a prompt).
        start_ts_ns: UTC ns the stream starts from; the first event's ``inter_arrival`` is measured from it.
        mid_mode: reference mid of δp, see :func:`simulator.orders.reference_mid`.
        levels: price levels per side kept by the recorder.

    Returns:
        :class:`simulator.rollout.Rollout`: ``tokens`` has one row per applied event
        (:data:`simulator.rollout.EVENT_COLUMNS`; ``inter_arrival`` in seconds since the previous applied
        event), ``events`` every book message and ``book_series`` the book after each. Infeasible events
        (a cancel on a side with nothing resting) are skipped and leave no row.

    Raises:
        ValueError: ``book`` has never had both sides quoted (no mid to price δp from).
    """
    if book.mid() is None:
        raise ValueError("the starting book has never had both sides quoted: no mid to price δp from")
    listener, book.listener = book.listener, None  # the copy gets its own recorder, not the caller's
    try:
        played = copy.deepcopy(book)
    finally:
        book.listener = listener
    recorder = BookRecorder(levels)
    played.listener = recorder
    columns = {k: stream.column(k).to_numpy() for k in ("ts_ns", "action_id", "side_id", "price_offset", "size")}
    rows, last_ts = [], start_ts_ns
    for ts, action, side, offset, size in zip(*(columns[k].tolist() for k in columns)):
        try:
            record = apply_model_event(played, action, side, offset, size, ts, mid_mode)
        except InfeasibleEventError:
            continue
        record.update(price_offset=offset, inter_arrival=(ts - last_ts) / 1e9)
        rows.append(record)
        last_ts = ts
    tokens = pa.table({k: [r[k] for r in rows] for k in EVENT_COLUMNS})
    return Rollout(tokens, recorder.events(), recorder.book_series(), recorder)


def rollout(baseline, book: OrderBook, n_events: int, seed: int = 0, start_ts_ns: int = 0, mid_mode: str = "book",
            levels: int = 1) -> Rollout:
    """Sample ``n_events`` events from a fitted baseline (``CompoundHawkes`` or ``ZeroIntelligence``) with
    ``seed`` and apply them to a copy of ``book`` from ``start_ts_ns`` (see :func:`apply_stream`). The same
    seed and book give the same rollout."""
    return apply_stream(baseline.sample(n_events, seed=seed, start_ts_ns=start_ts_ns), book, start_ts_ns,
                        mid_mode, levels)
