"""LOBSTER reader: ``TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst]`` (+ orderbook) → EVENT_SCHEMA.

Format (LOBSTER_SampleFiles_ReadMe.txt, shipped in ``data/lobster/``): no header; columns time (seconds
after midnight, US/Eastern, up to ns), event type, order id, size (shares), price (dollars × 10,000),
direction (1 buy, −1 sell). The orderbook file's row *k* is the book after message *k*:
``ask_price_1, ask_size_1, bid_price_1, bid_size_1, …``.

Event types → Databento actions (one schema for every source):

====  =====================================  ======  ======================================================
type  LOBSTER meaning                        action  notes
====  =====================================  ======  ======================================================
1     new limit order                        A
2     partial cancellation                   C       size = shares cancelled
3     full deletion                          C       size = shares deleted
4     execution of a visible limit order     F       side = the resting order's side
5     execution of a hidden limit order      F       order id 0, side = the resting side; no book change
6     cross trade (auction)                  T       side N
7     trading halt                           N       side N, price NaN (the file's −1/0/1 is a halt/quote/
                                                     resume code, not a price)
====  =====================================  ======  ======================================================

``instrument`` and ``date`` come from the file name. Times are wall-clock seconds after midnight in
America/New_York; they become UTC ns with that hour's UTC offset (so a day that switches daylight saving time
is right too); the seconds are parsed as float64 and rounded to the ns (exact: 9 decimals below 86,400 need
47 bits). ``ts_event`` = ``ts_recv`` (LOBSTER has one timestamp); ``flags`` = 0.

Opening book: orderbook row 0 is the book *after* message 0, so message 0 is undone on it (an add removed, a
cancel or visible execution restored) and each occupied level becomes one synthetic snapshot order
(``is_snapshot``, action A, flags ``F_SNAPSHOT``, at the first message's time, order ids counting down from
2**64 − 1, which NASDAQ reference numbers never reach). Levels are the L visible ones only. Only the first
orderbook row is read.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from .schema import F_SNAPSHOT, DataFormatError, char_array, repeated
from .validation import decompress, finish_events, first_line, read_csv

NAME = re.compile(r"^(?P<ticker>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                  r"(?P<kind>message|orderbook)_(?P<level>\d+)\.csv(\.zst)?$")
EVENT_ACTIONS = {1: "A", 2: "C", 3: "C", 4: "F", 5: "F", 6: "T", 7: "N"}
PRICE_DIVISOR = 10_000
EMPTY_ASK, EMPTY_BID = 9999999999, -9999999999
EXCHANGE_TZ = ZoneInfo("America/New_York")
MESSAGE_TYPES = {"time": pa.float64(), "type": pa.int64(), "order_id": pa.int64(), "size": pa.int64(),
                 "price": pa.int64(), "direction": pa.int64()}
HOUR_NS = 3_600 * 10**9
_ACTION_CODES = np.frombuffer(b"?" + "".join(EVENT_ACTIONS[k] for k in range(1, 8)).encode(), np.uint8)


def parse_name(path: Path) -> re.Match:
    """Match a LOBSTER file name; raises DataFormatError when it does not follow the convention."""
    match = NAME.match(Path(path).name)
    if not match:
        raise DataFormatError(path, "not a LOBSTER file name (TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst])")
    return match


def orderbook_path(message_path: Path) -> Path:
    """The orderbook file that belongs to a message file (same name with ``orderbook``)."""
    return message_path.with_name(message_path.name.replace("_message_", "_orderbook_"))


def message_path(orderbook: Path) -> Path:
    """The message file that belongs to an orderbook file (same name with ``message``)."""
    return orderbook.with_name(orderbook.name.replace("_orderbook_", "_message_"))


def orderbook_columns(level: int) -> list[str]:
    """Column names of a level-``level`` orderbook file: ``ask_price_i, ask_size_i, bid_price_i, bid_size_i``
    for i = 1..level (LOBSTER output structure)."""
    return [f"{k}_{i}" for i in range(1, level + 1) for k in ("ask_price", "ask_size", "bid_price", "bid_size")]


def read_orderbook(message_file: Path) -> pa.Table:
    """The orderbook file of a LOBSTER message file, whole: row *k* is the book after message *k*.

    Returns:
        :func:`orderbook_columns` int64 columns; prices in dollars × 10⁴ (:data:`PRICE_DIVISOR`), sizes in
        shares; an empty level holds :data:`EMPTY_ASK` / :data:`EMPTY_BID` and size 0.

    Raises:
        FileNotFoundError: no orderbook file beside ``message_file``.
        DataFormatError: a row that is not a level-L orderbook row (file, row and field named).
    """
    path = orderbook_path(Path(message_file))
    names = orderbook_columns(int(parse_name(Path(message_file))["level"]))
    return read_csv(path, decompress(path), dict.fromkeys(names, pa.int64()), column_names=names)


def _utc_ns(path: Path, day: dt.date, seconds: np.ndarray) -> np.ndarray:
    """Wall-clock seconds after local midnight (America/New_York) → UTC ns since the epoch."""
    local_ns = np.round(seconds * 1e9).astype(np.int64)
    if not np.isfinite(seconds).all() or (local_ns < 0).any():
        row = int(np.flatnonzero(~np.isfinite(seconds) | (local_ns < 0))[0])
        raise DataFormatError(path, f"time {seconds[row]} is not seconds after midnight", row=row, field="time")
    midnight = dt.datetime.combine(day, dt.time())
    offset_ns = np.array([(midnight + dt.timedelta(hours=h)).replace(tzinfo=EXCHANGE_TZ).utcoffset()
                          // dt.timedelta(microseconds=1) * 1000 for h in range(int(local_ns.max()) // HOUR_NS + 1)],
                         np.int64)
    epoch_day_ns = (day - dt.date(1970, 1, 1)).days * 24 * HOUR_NS
    if (offset_ns == offset_ns[0]).all():  # no daylight-saving switch during the file: one offset
        return local_ns + (epoch_day_ns - offset_ns[0])
    return epoch_day_ns + local_ns - offset_ns[local_ns // HOUR_NS]


def _opening_book(path: Path, first: dict, level: int) -> dict[str, np.ndarray]:
    """Snapshot orders from orderbook row 0 with message 0 (``first``: its raw fields) undone."""
    names = orderbook_columns(level)
    try:
        book = pcsv.read_csv(io.BytesIO(first_line(path)), read_options=pcsv.ReadOptions(column_names=names),
                             convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.int64())))
        book = book.to_pylist()[0]
    except (pa.ArrowInvalid, OSError, IndexError) as err:
        raise DataFormatError(path, f"row 0 is not a level-{level} LOBSTER orderbook row ({err!r})") from err
    levels = {1: {}, -1: {}}  # direction → {price: size}
    for i in range(1, level + 1):
        for direction, side in ((-1, "ask"), (1, "bid")):
            price, size = book[f"{side}_price_{i}"], book[f"{side}_size_{i}"]
            if price not in (EMPTY_ASK, EMPTY_BID) and size > 0:
                levels[direction][price] = size
    if first["type"] in (1, 2, 3, 4):
        side_levels = levels[first["direction"]]
        undo = -first["size"] if first["type"] == 1 else first["size"]
        side_levels[first["price"]] = side_levels.get(first["price"], 0) + undo
    rows = [(d, p, s) for d in (1, -1) for p, s in sorted(levels[d].items(), reverse=d == 1) if s > 0]
    return {
        "direction": np.array([r[0] for r in rows], np.int64),
        "price": np.array([r[1] for r in rows], np.int64),
        "size": np.array([r[2] for r in rows], np.int64),
    }


def read_lobster(message_path, orderbook=None) -> pa.Table:
    """Read a LOBSTER message file (and the opening book from its orderbook file) into EVENT_SCHEMA.

    Args:
        message_path: ``TICKER_YYYY-MM-DD_start_end_message_L.csv`` or ``.csv.zst``.
        orderbook: orderbook file; default: the sibling file of the same name, used when it exists.
            ``False`` skips the opening book.

    Returns:
        EVENT_SCHEMA table: snapshot rows first (``source_row`` = −1 − level index), then every message
        (``source_row`` = its 0-based row).

    Raises:
        DataFormatError: bad name, empty, corrupt or truncated file, wrong column count, unparsable value,
            unknown event type or direction, negative order id, or a value check of
            :func:`data_prep.validation.finish_events` (each naming file, row and field).
    """
    message_path = Path(message_path)
    match = parse_name(message_path)
    if match["kind"] != "message":
        raise DataFormatError(message_path, "an orderbook file; read its message file")
    data = decompress(message_path)
    if not data or data.isspace():
        raise DataFormatError(message_path, "file is empty")
    message = read_csv(message_path, data, MESSAGE_TYPES, column_names=list(MESSAGE_TYPES))
    col = {name: message.column(name).to_numpy() for name in MESSAGE_TYPES}
    kind, direction = col["type"], col["direction"]
    unknown_type = (kind < min(EVENT_ACTIONS)) | (kind > max(EVENT_ACTIONS))  # the types are 1..7
    for field, bad, expected in (("type", unknown_type, f"one of {list(EVENT_ACTIONS)}"),
                                 ("direction", (direction != 1) & (direction != -1), "1 or -1"),
                                 ("order_id", col["order_id"] < 0, "≥ 0")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(message_path, f"got {int(col[field][i])}, expected {expected}", row=i, field=field)
    n = message.num_rows
    day = dt.date.fromisoformat(match["date"])
    ts = _utc_ns(message_path, day, col["time"])
    side = np.where((kind == 6) | (kind == 7), ord("N"), np.where(direction == 1, ord("B"), ord("A")))
    columns = {
        "ts": ts, "action": _ACTION_CODES[kind], "side": side,
        "price": np.where(kind == 7, np.nan, col["price"] / PRICE_DIVISOR), "size": col["size"],
        "order_id": col["order_id"].astype(np.uint64), "snap": np.zeros(n, bool), "row": np.arange(n, dtype=np.int64),
    }
    book_path = orderbook_path(message_path) if orderbook is None else orderbook
    if book_path is not False and Path(book_path).exists():
        book = _opening_book(Path(book_path), {k: int(v[0]) for k, v in col.items() if k != "time"},
                             int(match["level"]))
        m = len(book["price"])
        snapshot = {
            "ts": np.full(m, ts[0]), "action": np.full(m, ord("A")),
            "side": np.where(book["direction"] == 1, ord("B"), ord("A")), "price": book["price"] / PRICE_DIVISOR,
            "size": book["size"], "order_id": np.iinfo(np.uint64).max - np.arange(m, dtype=np.uint64),
            "snap": np.ones(m, bool), "row": -1 - np.arange(m, dtype=np.int64)}
        columns = {k: np.concatenate([snapshot[k], v]) for k, v in columns.items()}
    rows = len(columns["ts"])
    events = pa.table({
        "instrument": repeated(match["ticker"], rows), "date": repeated(day, rows),
        "ts_recv": columns["ts"], "ts_event": columns["ts"],
        "action": char_array(columns["action"]), "side": char_array(columns["side"]),
        "price": columns["price"], "size": columns["size"], "order_id": columns["order_id"],
        "flags": np.where(columns["snap"], F_SNAPSHOT, 0).astype(np.uint8),
        "is_snapshot": columns["snap"], "source_row": columns["row"],
    })
    return finish_events(message_path, events)
