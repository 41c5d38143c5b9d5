"""Scale-invariant model-event features per (instrument, session) (TradeFM §5.3, App. A.4).

Input: normalized L3 events (:data:`data_prep.schema.EVENT_SCHEMA`) of one or more sessions. Output: one
row per *model event* — an add or a cancel, the only token types of the paper (§5) — with:

==================  =======  =======================================================================
column              type     definition (source)
==================  =======  =======================================================================
instrument, date    str/date the session
ts_recv             int64    UTC ns
action_id           int8     0 add, 1 cancel
side_id             int8     0 buy (bid), 1 sell (ask)
price               float64  order price, dollars
size                int64    shares added / cancelled
mid                 float64  p̂_mid: EW-VWAP of prints before the event (:mod:`data_prep.vwap`, §5.3)
inter_arrival       float64  Δt = seconds since the session's previous model event (0 for the first)
price_offset        float64  δp = (price − p̂_mid) / p̂_mid (§5.3; bids below the mid are negative)
log_size            float64  v = log(1 + size) (§5.3)
mid_return_open     float64  Δp = (p̂_mid − p_open) / p_open, p_open = the session's first print (§5.3)
average_daily_volume float64 instrument's mean traded volume per session in this run (liquidity tier input)
spread              float64  only with ``book_context="spread"``: (best ask − best bid) / their midpoint of the
                             book the event met (:mod:`data_prep.quotes`), NaN while a side is empty
flag                int8     0 = market-level stream (public feeds carry no participant ids, §5)
source_row          int64    the source row the event came from (a modify gives two events)
==================  =======  =======================================================================

How each source action becomes model events:

* ``A`` → add; ``C`` → cancel (full or partial, ``size`` = amount cancelled).
* ``M`` (modify an order id to a new price/size): a size decrease at the same price is a partial cancel
  of the difference (the order keeps its queue priority, as on the venue); any other change is a cancel
  of the remaining size at the old price followed by an add at the new price and size, both at the
  modify's timestamp (Δt = 0 for the add). A modify of an order never seen (placed before the capture)
  becomes an add; a modify that changes nothing is skipped and counted.
* ``T`` / ``F`` (executions) are not tokens; they update the mid estimator (``executions="mid_only"``, the
  paper's §5 design). With ``executions="aggressor_adds"`` each aggressive order also becomes an add: the
  prints of one time stamp on one resting side (one sweep) give one add on the *aggressor's* side (the
  opposite of the resting side of an ``F``, LOBSTER type 4/5 included; the side of a ``T`` when the session
  has no ``F``), sized by their total, priced at the last print (the worst level reached), with the mid
  before the first print and the last print's ``source_row``. In a LOBSTER or MBO feed an order that
  executes on arrival never appears as an add, so without this the model never sees the flow that takes
  liquidity; in simulation such an add is marketable and executes against the book as the real order did.
  Where the venue reports the book change of a fill as a separate ``C``/``M`` on the filled order
  (Databento MBO; see :func:`data_prep.schema.fills_update_book`), that ``C``/``M`` is not a cancel either
  and is skipped. Each execution is reported twice by venues that send both (Databento sends a ``T`` for
  the aggressor and ``F`` for every resting order), so the prints are the session's ``F`` rows if it has
  any, else its ``T`` rows.
* Book context (``book_context``): the paper's model sees no book state besides the mid's move (Δp), so in
  closed loop it cannot tell a one-tick from a twenty-tick spread, while in the data where an order is placed
  depends on it. ``"spread"`` adds the relative quoted spread of the book each event met as a feature (a
  sweep: the book before its first print; both events of a modify: the book before the modify), which the
  tokenizer bins as a fourth context input and the simulator computes from its own book.
* ``R`` (clear book) and ``N`` carry no order flow; snapshot records (``is_snapshot``) only give the
  opening book, whose midpoint seeds the mid before the first print.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .quotes import quotes_before, relative_spread
from .schema import DataFormatError, char_codes, fills_update_book, one_of, repeated
from .vwap import DEFAULT_HALF_LIFE_S, ew_vwap_mid

A, C, M, T, F, R, N, B, ASK = (ord(c) for c in "ACMTFRNBA")  # ASCII codes of actions and sides

FEATURE_SCHEMA = pa.schema([
    ("instrument", pa.string()), ("date", pa.date32()), ("ts_recv", pa.int64()), ("action_id", pa.int8()),
    ("side_id", pa.int8()), ("price", pa.float64()), ("size", pa.int64()), ("mid", pa.float64()),
    ("inter_arrival", pa.float64()), ("price_offset", pa.float64()), ("log_size", pa.float64()),
    ("mid_return_open", pa.float64()), ("average_daily_volume", pa.float64()), ("flag", pa.int8()),
    ("source_row", pa.int64()),
])
SPREAD_FIELD = pa.field("spread", pa.float64())
"""The column ``book_context="spread"`` appends to FEATURE_SCHEMA."""


EXECUTION_MODES = ("mid_only", "aggressor_adds")
"""How executions enter the model events (module docstring): only through the mid, or also as the
aggressor's add."""
BOOK_CONTEXTS = ("none", "spread")
"""Book state the features carry for the context (module docstring): none (the paper's) or the spread."""


def sessions(events: pa.Table) -> list[pa.Table]:
    """Split normalized events into (instrument, date) sessions, each in its original row order.

    Args:
        events: EVENT_SCHEMA table, possibly holding many instruments and days.

    Returns:
        One table per session, sorted by (instrument, date); ``[events]`` itself when it holds one session.
    """
    instrument, date = events.column("instrument"), events.column("date")
    days = pc.min_max(date)
    if events.num_rows and days["min"] == days["max"] and pc.all(pc.equal(instrument, instrument[0])).as_py():
        return [events]  # the usual file of one session: no filtered copy
    groups = pa.table({"i": instrument, "d": date}).group_by(["i", "d"], use_threads=False).aggregate([])
    groups = groups.sort_by([("i", "ascending"), ("d", "ascending")])
    out = []
    for inst, day in zip(groups.column("i").to_pylist(), groups.column("d").to_pylist()):
        mask = pc.and_(pc.equal(events.column("instrument"), inst), pc.equal(events.column("date"), day))
        out.append(events.filter(mask))
    return out


def _expand_modifies(order_id, action, price, size, fills_update_book=True):
    """Turn M rows into cancel/add rows (see the module docstring).

    Args:
        order_id, action, price, size: (N,) arrays of the session's book events, in time order,
            ``action`` in {A, C, M, F} (other actions removed beforehand).
        fills_update_book: see :func:`data_prep.schema.fills_update_book`; when False, an ``F`` leaves the
            order's size alone and the ``C``/``M`` that follows it on the same order (the venue's book
            update for the fill) is not a model event.

    Returns:
        ``(src, action_id, price, size, counts)``: for each emitted model event the index of its source
        row, 0/1 action, price and size; counts of modifies/cancels of orders never added (placed before
        the capture; kept as events) and of no-op modifies (skipped).
    """
    # Per row: emit a cancel (old price, shares removed) and/or an add (new price and size), cancel first;
    # an A is an add and a C a cancel, unless the order's state before the row says otherwise.
    emit = np.column_stack((action == C, action == A))
    out_price, out_size = np.column_stack((price, price)), np.column_stack((size, size))
    if (action == M).any() or not fills_update_book:
        counts = _apply_order_state(order_id, action, price, size, fills_update_book, emit, out_price, out_size)
    else:  # every row is what it says: only count the cancels of orders that no A ever placed
        cancel_ids = pa.array(order_id[action == C])
        placed = pc.sum(pc.is_in(cancel_ids, value_set=pa.array(order_id[action == A]))).as_py() or 0
        counts = {"modify_of_unknown_order": 0, "skipped_modify_noop": 0,
                  "cancel_of_unknown_order": len(cancel_ids) - placed, "skipped_fill_book_update": 0}
    out = np.flatnonzero(emit)  # cells (row, [cancel, add]) in row order
    return out >> 1, (1 - (out & 1)).astype(np.int8), out_price.ravel()[out], out_size.ravel()[out], counts


def _apply_order_state(order_id, action, price, size, fills_update_book, emit, out_price, out_size) -> dict:
    """Decide the modifies (and the C/M that only report a fill) from each order's state before the row.

    Updates the ``(N, 2)`` ``emit`` / ``out_price`` / ``out_size`` cells of :func:`_expand_modifies` in place
    and returns its counts.
    """
    n = len(order_id)
    # Rows of each order together, in time order. An order's state is a run of segments: one starts at the
    # order's first row and at every A/M (which set size and price), and shrinks at every C (and F).
    idx = np.argsort(order_id, kind="stable")
    oid, act, sz = order_id[idx], action[idx], size[idx]
    first = np.ones(n, dtype=bool)
    first[1:] = oid[1:] != oid[:-1]
    is_set = (act == A) | (act == M)
    starts = np.flatnonzero(is_set | first)
    dec = sz * ((act == C) | ((act == F) & fills_update_book))
    cum = np.cumsum(dec)
    base = (sz * is_set + cum - dec)[starts]  # remaining size after sorted row j = base[its segment] - cum[j]

    # The state just before a row matters for modifies, and for cancels when they may follow a fill.
    probe = np.flatnonzero((act == M) | ((act == C) & (not fills_update_book)))
    known = ~first[probe]  # the order has an earlier row
    prev = probe - 1
    prev_seg = np.searchsorted(starts, prev, side="right") - 1
    prev_remaining = np.where(known, base[prev_seg] - cum[prev], 0)
    prev_price = np.where(known, price[idx[starts[prev_seg]]], np.nan)
    fill_update = known & (act[prev] == F) & (not fills_update_book)
    rows, modify = idx[probe], act[probe] == M
    new_size, new_price = size[rows], price[rows]
    is_m = modify & ~fill_update
    same_price = prev_price == new_price
    partial = is_m & known & same_price & (new_size < prev_remaining)
    noop = is_m & known & same_price & (new_size == prev_remaining)
    replace = is_m & known & ~partial & ~noop & (prev_remaining > 0)
    unknown = is_m & ~known
    emit[rows, 0] = np.where(modify, partial | replace, ~fill_update)
    emit[rows, 1] = unknown | (is_m & known & ~partial & ~noop)
    out_price[rows, 0] = np.where(replace, prev_price, new_price)
    out_size[rows, 0] = np.where(partial, prev_remaining - new_size, np.where(replace, prev_remaining, new_size))

    # A cancel of an order never added: its order has no A or M row, so it is one segment whose start sets nothing.
    cancels = act == C
    cancels[probe[fill_update]] = False
    order_starts = np.flatnonzero(first[starts])  # where each order's segments begin among ``starts``
    never_added = (np.diff(order_starts, append=len(starts)) == 1) & ~is_set[starts[order_starts]]
    cancel_count = np.concatenate([[0], np.cumsum(cancels.view(np.uint8), dtype=np.int64)])
    order_bounds = np.append(starts[order_starts], n)
    per_order = cancel_count[order_bounds[1:]] - cancel_count[order_bounds[:-1]]
    return {"modify_of_unknown_order": int(unknown.sum()), "skipped_modify_noop": int(noop.sum()),
            "cancel_of_unknown_order": int(per_order[never_added].sum()),
            "skipped_fill_book_update": int(fill_update.sum())}


def _aggressor_adds(ts: np.ndarray, side: np.ndarray, size: np.ndarray, prints: np.ndarray,
                    prints_are_fills: bool):
    """One add per sweep of executions (module docstring).

    Args:
        ts: (N,) int64 ``ts_recv`` of the session's events; side: (N,) side codes (B, A, N); size: (N,)
            int64 shares/contracts.
        prints: (K,) indices of the print rows, in feed order. prints_are_fills: their action is ``F`` (side =
            the resting order's) rather than ``T`` (side = the aggressor's).

    Returns:
        ``(first, last, swept, side_id)``, one entry per sweep: the index of its first and last print, the
        shares it executed (int64) and the aggressor's side_id (int8, 0 buy, 1 sell). Prints without a side
        (``N``) are left out.
    """
    prints = prints[side[prints] != N]
    if not len(prints):  # e.g. only auction crosses (LOBSTER type 6), which name no side
        none = np.zeros(0, dtype=np.int64)
        return none, none, none, np.zeros(0, dtype=np.int8)
    aggressor = np.where(side[prints] == B, 0, 1).astype(np.int8)  # side of a T: the aggressor's
    if prints_are_fills:
        aggressor = 1 - aggressor  # an F names the resting order: the aggressor is on the other side
    starts = np.ones(len(prints), dtype=bool)
    starts[1:] = (ts[prints][1:] != ts[prints][:-1]) | (aggressor[1:] != aggressor[:-1])
    swept = np.bincount(np.cumsum(starts) - 1, weights=size[prints]).astype(np.int64)
    ends = np.append(np.flatnonzero(starts)[1:] - 1, len(prints) - 1)
    return prints[starts], prints[ends], swept, aggressor[starts]


def session_features(events: pa.Table, average_daily_volume: float, half_life_s: float = DEFAULT_HALF_LIFE_S,
                     executions: str = "mid_only", book_context: str = "none",
                     path=None) -> tuple[pa.Table, dict]:
    """Model-event features of one (instrument, date) session (see the module docstring).

    Args:
        events: EVENT_SCHEMA rows of one session, in feed order.
        average_daily_volume: the instrument's mean traded volume per session (shares/contracts).
        half_life_s: EW-VWAP half-life, seconds.
        executions: one of :data:`EXECUTION_MODES` (module docstring).
        book_context: one of :data:`BOOK_CONTEXTS` (module docstring).
        path: the file ``events`` were read from; with ``book_context="spread"`` a LOBSTER message file's
            orderbook file gives the exact quotes (:func:`data_prep.quotes.quotes_before`), else a replay.

    Returns:
        ``(features, counts)``: FEATURE_SCHEMA table (plus ``spread`` with ``book_context="spread"``), and
        counts of events by outcome (``model_events``, ``prints``, ``snapshot``, ``skipped_modify_noop``,
        ``modify_of_unknown_order``, ``cancel_of_unknown_order``, ``skipped_fill_book_update``,
        ``skipped_no_flow``, and with ``aggressor_adds`` the number of them).

    Raises:
        DataFormatError: the session has no print and no opening book, so no mid can be estimated.
        ValueError: unknown ``executions`` or ``book_context``; from :func:`data_prep.quotes.quotes_before`.
    """
    if executions not in EXECUTION_MODES:
        raise ValueError(f"executions must be one of {EXECUTION_MODES}, got {executions!r}")
    if book_context not in BOOK_CONTEXTS:
        raise ValueError(f"book_context must be one of {BOOK_CONTEXTS}, got {book_context!r}")
    col = {k: events.column(k).to_numpy(zero_copy_only=False)
           for k in ("ts_recv", "price", "size", "order_id", "is_snapshot", "source_row")}
    col["action"], col["side"] = char_codes(events.column("action")), char_codes(events.column("side"))
    snap = col["is_snapshot"]
    live = ~snap
    action, side = col["action"], col["side"]
    initial_mid = np.nan
    if snap.any():
        bids = col["price"][snap & (side == B)]
        asks = col["price"][snap & (side == ASK)]
        if len(bids) and len(asks):
            initial_mid = (np.nanmax(bids) + np.nanmin(asks)) / 2
    has_fills = (live & (action == F)).any()
    is_print = live & (action == (F if has_fills else T)) & (col["size"] > 0) & np.isfinite(col["price"])
    prints = np.flatnonzero(is_print)
    instrument = events.column("instrument")[0].as_py() if events.num_rows else "?"
    if not len(prints) and not np.isfinite(initial_mid):
        raise DataFormatError(instrument, "session has neither executions nor an opening book: no mid-price")
    mid_all = ew_vwap_mid(col["ts_recv"], col["price"], col["size"], is_print, half_life_s, initial_mid)
    p_open = col["price"][prints[0]] if len(prints) else initial_mid

    # Book events (snapshot rows included so modifies/cancels of opening orders know their state).
    book = np.flatnonzero(one_of(action, "ACMF") & (side != N))
    src, action_id, price, size, modify_counts = _expand_modifies(
        col["order_id"][book], action[book], col["price"][book], col["size"][book],
        fills_update_book(events.column("flags").to_numpy()))
    rows = book[src]
    model = live[rows]
    rows, action_id, price, size = rows[model], action_id[model], price[model], size[model]
    side_id = (side[rows] == ASK).astype(np.int8)
    n_aggressor, mid_rows = 0, rows
    if executions == "aggressor_adds" and len(prints):
        first, last, swept, aggressor = _aggressor_adds(col["ts_recv"], side, col["size"], prints, has_fills)
        # feed order, a sweep at its last print (its source row: the book after it is the book after the sweep)
        order = np.argsort(np.concatenate([rows, last]), kind="stable")
        mid_rows = np.concatenate([rows, first])[order]  # a sweep sees the mid before its first print
        rows = np.concatenate([rows, last])[order]
        action_id = np.concatenate([action_id, np.zeros(len(first), np.int8)])[order]
        price = np.concatenate([price, col["price"][last]])[order]
        size = np.concatenate([size, swept])[order]
        side_id = np.concatenate([side_id, aggressor])[order]
        n_aggressor = len(first)
    ts = col["ts_recv"][rows]
    mid = mid_all[mid_rows]
    inter_arrival = np.zeros(len(ts))
    np.subtract(ts[1:], ts[:-1], out=inter_arrival[1:], casting="unsafe")  # exact int64 ns, then float64
    inter_arrival /= 1e9
    table = pa.table({
        "instrument": repeated(events.column("instrument")[0].as_py(), len(rows)),  # one session: one of each
        "date": repeated(events.column("date")[0].as_py(), len(rows)),
        "ts_recv": ts,
        "action_id": action_id.astype(np.int8),
        "side_id": side_id,
        "price": price,
        "size": size,
        "mid": mid,
        "inter_arrival": inter_arrival,
        "price_offset": (price - mid) / mid,
        "log_size": np.log1p(size.astype(np.float64)),
        "mid_return_open": (mid - p_open) / p_open,
        "average_daily_volume": np.full(len(rows), float(average_daily_volume)),
        "flag": np.zeros(len(rows), np.int8),
        "source_row": col["source_row"][rows],
    }, schema=FEATURE_SCHEMA)
    if book_context == "spread":
        quotes = quotes_before(events, path)[mid_rows]
        table = table.append_column(SPREAD_FIELD, pa.array(relative_spread(quotes[:, 0], quotes[:, 1])))
    counts = {
        "events": events.num_rows,
        "snapshot": int(snap.sum()),
        "prints": len(prints),
        "model_events": table.num_rows,
        **modify_counts,
        "skipped_no_flow": int((live & one_of(action, "RN")).sum()),
    }
    if executions == "aggressor_adds":
        counts["aggressor_adds"] = n_aggressor
    return table, counts


def traded_volume(events: pa.Table) -> float:
    """Volume traded in one session (shares/contracts): the sum of its print sizes (F rows, else T)."""
    live = ~events.column("is_snapshot").to_numpy(zero_copy_only=False)
    action = char_codes(events.column("action"))
    prints = live & (action == F)
    if not prints.any():
        prints = live & (action == T)
    return float(events.column("size").to_numpy()[prints].sum())
