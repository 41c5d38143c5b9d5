"""Order book invariants (hypothesis), priority rules, the token→order rule, and replay of real flow."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_prep.sources import read_events
from simulator import (ASK, BID, BookRecorder, InfeasibleEventError, OrderBook, UnknownOrderError,
                       apply_model_event, infer_tick_size, replay)

from .conftest import DATA

operation = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 1), st.integers(95, 105), st.integers(1, 50)),
    st.tuples(st.just("cancel"), st.integers(0, 40), st.integers(1, 60)),
    st.tuples(st.just("cancel_nearest"), st.integers(0, 1), st.integers(90, 110), st.integers(1, 60)),
    st.tuples(st.just("modify"), st.integers(0, 40), st.integers(95, 105), st.integers(1, 50)),
)


def run(ops):
    recorder = BookRecorder(levels=3)
    book = OrderBook(0.01, listener=recorder)
    ids = []
    for t, op in enumerate(ops):
        try:
            if op[0] == "add":
                ids.append(book.add(op[1], op[2], op[3], t)[0])
            elif op[0] == "cancel" and ids:
                book.cancel(ids[op[1] % len(ids)], t, op[2])
            elif op[0] == "cancel_nearest":
                book.cancel_nearest(op[1], op[2], op[3], t)
            elif op[0] == "modify" and ids:
                book.modify(ids[op[1] % len(ids)], op[2], op[3], t)
        except UnknownOrderError:
            pass
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask, "crossed after matching"
    return book, recorder


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=80))
def test_never_crossed_and_shares_conserved(ops):
    book, _ = run(ops)
    resting = book.volume(BID) + book.volume(ASK)
    assert sum(o.size for o in book.orders.values()) == resting
    # every share added is resting, cancelled or executed (each execution consumes a resting share and
    # the matching share of the incoming order)
    t = book.totals
    assert t["added"] == resting + t["cancelled"] + 2 * t["executed"]


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=60))
def test_determinism(ops):
    a, ra = run(ops)
    b, rb = run(ops)
    assert ra.events().equals(rb.events())
    assert ra.book_series().to_pandas().equals(rb.book_series().to_pandas())  # NaN-aware, exact


def test_price_time_priority():
    book = OrderBook(0.01)
    first, _ = book.add(ASK, 101, 5, 1)
    second, _ = book.add(ASK, 101, 5, 2)
    better, _ = book.add(ASK, 100, 3, 3)
    _, fills = book.add(BID, 101, 10, 4)
    assert [(f.order_id, f.price, f.size) for f in fills] == [(better, 100, 3), (first, 101, 5), (second, 101, 2)]
    assert book.best_ask() == 101 and book.volume(ASK) == 3 and book.best_bid() is None
    _, fills = book.add(BID, 99, 4, 5)  # not marketable: rests
    assert fills == [] and book.best_bid() == 99


def test_modify_priority_rules():
    book = OrderBook(0.01)
    a, _ = book.add(BID, 100, 10, 1)
    b, _ = book.add(BID, 100, 10, 2)
    book.modify(a, 100, 4, 3)  # smaller at the same price: keeps its place
    assert list(book.levels[BID][100]) == [a, b]
    book.modify(a, 100, 6, 4)  # larger: to the back of the queue
    assert list(book.levels[BID][100]) == [b, a]
    book.modify(b, 101, 10, 5)  # new price
    assert book.best_bid() == 101 and list(book.levels[BID][100]) == [a]


def test_cancel_nearest_rule():
    book = OrderBook(0.01)
    old, _ = book.add(BID, 98, 5, 1)
    new, _ = book.add(BID, 98, 5, 2)
    big, _ = book.add(BID, 98, 30, 3)
    touch, _ = book.add(BID, 100, 5, 4)
    assert book.cancel_nearest(BID, 97, 2, 5) == (new, 5)  # nearest level; sizes 5, 5 tie: the newer, deleted whole
    assert book.cancel_nearest(BID, 97, 28, 6) == (big, 30)  # the order whose size is closest to the event's
    assert book.cancel_nearest(BID, 99, 9, 7) == (touch, 5)  # tie 98/100: the level nearer the touch
    assert list(book.levels[BID]) == [98] and list(book.levels[BID][98]) == [old]
    assert book.cancel_nearest(ASK, 100, 1, 8) is None


def test_book_from_aggregate_levels_queues_orders_of_the_given_size():
    levels = ([100.00, 99.99], [250, 100], [100.02], [30])
    one_each = OrderBook.from_levels(*levels, tick_size=0.01, ts_ns=0)
    queued = OrderBook.from_levels(*levels, tick_size=0.01, ts_ns=0, order_size=100)
    for book in (one_each, queued):  # same levels and depth either way
        assert book.quotes() == (100.00, 100.02)
        assert [book.volume_at[BID][p] for p in (10000, 9999)] == [250, 100] and book.volume_at[ASK][10002] == 30
    assert [o.size for o in queued.levels[BID][10000].values()] == [100, 100, 50]
    assert [len(one_each.levels[BID][10000]), len(queued.levels[ASK][10002])] == [1, 1]
    # a generated cancel deletes one whole order: one order's worth, not the whole level
    assert queued.cancel_nearest(BID, 10000, 100, 1)[1] == 100 and queued.best_bid() == 10000
    assert one_each.cancel_nearest(BID, 10000, 100, 1)[1] == 250 and one_each.best_bid() == 9999
    for order_size in (None, 100):  # an empty level is skipped either way
        empty_level = OrderBook.from_levels([100.00, 99.99], [0, 10], [100.02], [30], tick_size=0.01, ts_ns=0,
                                            order_size=order_size)
        assert (empty_level.best_bid(), empty_level.best_ask(), len(empty_level.orders)) == (9999, 10002, 2)
    with pytest.raises(ValueError, match="order_size"):
        OrderBook.from_levels(*levels, tick_size=0.01, ts_ns=0, order_size=0)


def test_apply_model_event_rounds_and_validates():
    book = OrderBook.from_levels([99.99], [100], [100.01], [100], tick_size=0.01, ts_ns=0)
    assert book.mid() == pytest.approx(100.0)
    rec = apply_model_event(book, 0, BID, -0.0003, 7.4, 1)  # 100 * (1 - 3 bps) = 99.97
    assert rec["price"] == pytest.approx(99.97) and rec["size"] == 7 and rec["executed"] == 0
    rec = apply_model_event(book, 0, BID, 0.0002, 150, 2)  # marketable: lifts the 100 offered at 100.01
    assert rec["executed"] == 100 and book.best_bid() == 10002 and book.best_ask() is None
    with pytest.raises(InfeasibleEventError):
        apply_model_event(book, 1, ASK, 0.0, 1, 3)
    assert book.mid() == pytest.approx(100.0)  # last known midpoint while the ask side is empty


def test_tick_size_inference():
    assert infer_tick_size(np.array([4799.0, 4799.25, 4801.5])) == 0.25
    assert infer_tick_size(np.array([585.33, 585.91, 585.92])) == 0.01


def test_replay_of_full_depth_databento_flow():
    events = read_events(DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
    recorder = BookRecorder(levels=1)
    book, counts = replay(events, recorder=recorder)
    assert book.tick_size == 0.25
    assert counts["unknown_order"] < 0.001 * events.num_rows  # full depth: (almost) every id is known
    assert counts["print_only"] == 6371  # Databento fills are prints; the book changes by the C/M after
    series = recorder.book_series().to_pandas()
    live = series.iloc[-50000:]  # after the 22:00 UTC open
    # Databento's book is consistent at F_LAST record-group ends; inside a group it may lock briefly
    assert (live.spread <= 0).mean() < 0.01 and live.spread.median() == 0.25
    assert abs(series.mid.iloc[-1] - series.ew_vwap_mid.iloc[-1]) < 2.0  # mids agree within 8 ticks
