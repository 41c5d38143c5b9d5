"""Model-event features: modify handling, mid estimator, δp / Δp / Δt formulas, on hand-built and real flow."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from data_prep.features import FEATURE_SCHEMA, session_features, traded_volume
from data_prep.schema import EVENT_SCHEMA, DataFormatError
from data_prep.vwap import EWVWAP, ew_vwap_mid


def events(rows):
    """rows: (t_seconds, action, side, price, size, order_id[, is_snapshot])."""
    cols = {k: [] for k in EVENT_SCHEMA.names}
    for i, r in enumerate(rows):
        t, action, side, price, size, oid = r[:6]
        snap = r[6] if len(r) > 6 else False
        for k, v in (("instrument", "XYZ"), ("date", dt.date(2024, 1, 2)), ("ts_recv", int(t * 1e9)),
                     ("ts_event", int(t * 1e9)), ("action", action), ("side", side), ("price", price),
                     ("size", size), ("order_id", oid), ("flags", 32 if snap else 0), ("is_snapshot", snap),
                     ("source_row", i)):
            cols[k].append(v)
    return pa.table(cols, schema=EVENT_SCHEMA)


def test_modify_becomes_cancel_and_add():
    table = events([
        (0.0, "A", "B", 99.0, 10, 1, True),   # opening book (snapshot): bid 99 x10
        (0.0, "A", "A", 101.0, 10, 2, True),  # ask 101 x10  -> opening mid 100
        (1.0, "M", "B", 99.0, 6, 1),          # same price, smaller: partial cancel of 4
        (2.0, "F", "B", 99.0, 2, 1),          # fill 2 -> remaining 4
        (3.0, "M", "B", 98.0, 4, 1),          # new price: cancel 4 @99, add 4 @98
        (4.0, "M", "B", 98.0, 4, 1),          # no change: skipped
        (5.0, "M", "A", 102.0, 3, 7),         # unknown order: add
        (6.0, "C", "A", 101.0, 10, 2),        # full cancel
    ])
    f, counts = session_features(table, average_daily_volume=1e6)
    got = list(zip(f.column("action_id").to_pylist(), f.column("side_id").to_pylist(), f.column("price").to_pylist(),
                   f.column("size").to_pylist()))
    assert got == [(1, 0, 99.0, 4), (1, 0, 99.0, 4), (0, 0, 98.0, 4), (0, 1, 102.0, 3), (1, 1, 101.0, 10)]
    assert counts["skipped_modify_noop"] == 1 and counts["modify_of_unknown_order"] == 1
    assert f.column("inter_arrival").to_pylist() == [0.0, 2.0, 0.0, 2.0, 1.0]
    # mid: opening-book midpoint until the fill at t=2, then the fill price
    assert f.column("mid").to_pylist() == [100.0, 99.0, 99.0, 99.0, 99.0]
    np.testing.assert_allclose(f.column("price_offset").to_numpy(), (f.column("price").to_numpy() - f.column("mid").to_numpy()) / f.column("mid").to_numpy())
    assert f.schema == FEATURE_SCHEMA


def test_session_without_prints_or_book_is_an_error():
    with pytest.raises(DataFormatError, match="no mid-price"):
        session_features(events([(0.0, "A", "B", 99.0, 10, 1)]), 1.0)


def test_ew_vwap_matches_the_recursion():
    ts = np.array([0, 1, 3, 10, 11]) * 1_000_000_000
    price = np.array([100.0, 0.0, 102.0, 0.0, 101.0])
    size = np.array([5, 0, 1, 0, 2])
    is_print = np.array([True, False, True, False, True])
    mid = ew_vwap_mid(ts, price, size, is_print, half_life_s=2.0)
    w = 2.0 ** (-3 / 2.0)  # decay of the first print at t=3
    assert mid[0] == 100.0 and mid[1] == 100.0 and mid[2] == 100.0  # before/at first print: first price
    assert mid[3] == pytest.approx((100 * 5 * w + 102) / (5 * w + 1))
    est = EWVWAP(2.0)
    for t, p, v in zip(ts[is_print], price[is_print], size[is_print]):
        est.update(int(t), p, v)
    assert est.mid == pytest.approx((100 * 5 * 2 ** (-11 / 2) + 102 * 2 ** (-8 / 2) + 101 * 2) /
                                    (5 * 2 ** (-11 / 2) + 2 ** (-8 / 2) + 2))


def test_prints_prefer_fills_over_trades():
    # Databento sends T (aggressor) and F (resting) for one execution: only one may count.
    table = events([(0, "A", "A", 10.0, 5, 1), (1, "T", "B", 10.0, 5, 0), (1, "F", "A", 10.0, 5, 1)])
    assert traded_volume(table) == 5


def test_executions_as_aggressor_adds_hand_built():
    table = events([
        (0.0, "A", "B", 99.0, 10, 1, True),   # opening book: bid 99 x10, ask 101 x5 + 102 x5
        (0.0, "A", "A", 101.0, 5, 2, True),
        (0.0, "A", "A", 102.0, 5, 3, True),
        (1.0, "A", "B", 100.0, 3, 4),         # a passive buy
        (2.0, "F", "A", 101.0, 5, 2),         # a buyer sweeps the ask: two fills at one time stamp
        (2.0, "F", "A", 102.0, 2, 3),
        (3.0, "F", "B", 100.0, 3, 4),         # a seller hits the new bid
        (4.0, "C", "A", 102.0, 3, 3),
    ])
    paper, _ = session_features(table, 1e6)
    f, counts = session_features(table, 1e6, executions="aggressor_adds")
    assert counts["aggressor_adds"] == 2 and f.num_rows == paper.num_rows + 2
    got = list(zip(f.column("action_id").to_pylist(), f.column("side_id").to_pylist(), f.column("price").to_pylist(),
                   f.column("size").to_pylist(), f.column("source_row").to_pylist()))
    assert got == [(0, 0, 100.0, 3, 3),      # the passive buy
                   (0, 0, 102.0, 7, 5),      # the sweep: a buy (resting asks were filled) of 7 at its last price
                   (0, 1, 100.0, 3, 6),      # a sell of 3
                   (1, 1, 102.0, 3, 7)]
    mid = f.column("mid").to_numpy()
    assert mid[1] == 100.0  # the mid before the sweep's first print (opening-book midpoint)
    assert f.column("inter_arrival").to_pylist() == [0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="executions must be one of"):
        session_features(table, 1e6, executions="trades")
    crosses = events([(0.0, "A", "B", 99.0, 10, 1, True), (0.0, "A", "A", 101.0, 5, 2, True),
                      (1.0, "T", "N", 100.0, 50, 0), (2.0, "A", "B", 100.0, 3, 4)])
    f, counts = session_features(crosses, 1e6, executions="aggressor_adds")  # prints without a side: no adds
    assert counts["aggressor_adds"] == 0 and f.num_rows == 1


@pytest.mark.parametrize("path", ["lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst",
                                  "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"])
def test_executions_as_aggressor_adds_on_real_flow(path):
    from data_prep.sources import read_events

    from .conftest import DATA

    table = read_events(DATA / path)
    paper, _ = session_features(table, 1e6)
    f, counts = session_features(table, 1e6, executions="aggressor_adds")
    rows = f.column("source_row").to_numpy()
    added = ~np.isin(rows, paper.column("source_row").to_numpy())
    assert added.sum() == counts["aggressor_adds"] > 1000 and f.num_rows == paper.num_rows + added.sum()
    assert (np.diff(f.column("ts_recv").to_numpy()) >= 0).all() and (f.column("inter_arrival").to_numpy() >= 0).all()
    # the model events of the paper's features are untouched, in the same order (but for Δt: events came in between)
    same = [c for c in paper.column_names if c != "inter_arrival"]
    assert f.filter(pa.array(~added)).select(same).equals(paper.select(same))
    # an aggressive buy pays more than the EW-VWAP mid on the whole, an aggressive sell less
    side, offset = f.column("side_id").to_numpy()[added], f.column("price_offset").to_numpy()[added]
    assert np.median(offset[side == 0]) > 0 > np.median(offset[side == 1])
    assert (f.column("action_id").to_numpy()[added] == 0).all()


def test_spread_context_hand_built():
    """``book_context="spread"``: the relative spread of the book each event met; NaN while a side is empty."""
    table = events([
        (0.0, "A", "B", 99.0, 10, 1, True),   # opening book: bid 99 x10
        (0.0, "A", "A", 101.0, 10, 2, True),  # ask 101 x10
        (1.0, "A", "B", 99.5, 5, 3),          # meets 99 | 101: spread 2 / 100
        (2.0, "C", "A", 101.0, 10, 2),        # meets 99.5 | 101
        (3.0, "A", "B", 99.0, 2, 4),          # the ask side is empty: NaN
        (4.0, "A", "A", 100.0, 3, 5),         # NaN again
        (5.0, "C", "B", 99.5, 5, 3),          # meets 99.5 | 100
    ])
    f, _ = session_features(table, 1e6, book_context="spread")
    np.testing.assert_allclose(f.column("spread").to_numpy(),
                               [2 / 100, 1.5 / 100.25, np.nan, np.nan, 0.5 / 99.75], rtol=1e-12)
    paper, _ = session_features(table, 1e6)
    assert paper.schema == FEATURE_SCHEMA and f.drop_columns(["spread"]).equals(paper)
    with pytest.raises(ValueError, match="book_context must be one of"):
        session_features(table, 1e6, book_context="depth")


def test_spread_context_on_level1_lobster_is_the_orderbook_spread():
    """The quotes come from the orderbook file (row k − 1 is the book before message k); a replay of a level-1
    message file alone would not see the orders that leave level 1, so its spread would be too tight."""
    from data_prep.lobster import read_orderbook
    from data_prep.sources import read_events

    from .conftest import DATA

    path = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"
    table = read_events(path)
    f, _ = session_features(table, 1e6, book_context="spread", path=path)
    book = read_orderbook(path)
    bid = book.column("bid_price_1").to_numpy() / 1e4
    ask = book.column("ask_price_1").to_numpy() / 1e4
    rows = f.column("source_row").to_numpy()
    plain = f.column("action_id").to_numpy() == 1  # cancels: one source row each, no sweep
    before = rows[plain] - 1
    expected = (ask[before] - bid[before]) / ((ask[before] + bid[before]) / 2)
    np.testing.assert_allclose(f.column("spread").to_numpy()[plain], expected, rtol=1e-12)
    spread = f.column("spread").to_numpy()
    assert np.isfinite(spread).mean() > 0.999 and (spread[np.isfinite(spread)] > 0).all()
    replayed, _ = session_features(table, 1e6, book_context="spread")  # no orderbook file: a replay
    assert np.nanmedian(replayed.column("spread").to_numpy()) < np.nanmedian(spread) / 2


def test_quotes_on_databento_are_the_replayed_book():
    """Full-depth MBO: the quotes before each row are the simulator's own replayed book."""
    from data_prep.quotes import quotes_before
    from data_prep.sources import read_events
    from simulator import OrderBook, replay

    from .conftest import TEST_DATA

    table = read_events(TEST_DATA / "databento/esh4-glbx-mdp3-20231225-slice.mbo.dbn")
    quotes = quotes_before(table)
    tick = OrderBook.tick_size_of(table)
    for i in np.linspace(1, table.num_rows - 1, 25).astype(int):
        book, _ = replay(table.slice(0, i), tick)
        for side in (0, 1):
            best = book.best(side)
            assert quotes[i, side] == pytest.approx(np.nan if best is None else book.to_price(best), abs=1e-9,
                                                    nan_ok=True), (i, side)
    assert np.isfinite(quotes).all(axis=1).mean() > 0.5
