"""LOBSTER reader: ``TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst]`` (+ orderbook) → EVENT_SCHEMA.

Format (LOBSTER_SampleFiles_ReadMe.txt, shipped in ``data/lobster/``): no header; columns time (seconds
after midnight, US/Eastern, up to ns), event type, order id, size (shares), price (dollars × 10,000),
direction (1 buy, −1 sell). The orderbook file's row *k* is the book after message *k*:
``ask_price_1, ask_size_1, bid_price_1, bid_size_1, …``.

Event types → Databento actions (one schema for every source):

====  =====================================  ======  ==========================================
type  LOBSTER meaning                         action  notes
====  =====================================  ======  ==========================================
1     new limit order                         A
2     partial cancellation                    C       size = shares cancelled
3     full deletion                           C       size = shares deleted
4     execution of a visible limit order      F       side = the resting order's side
5     execution of a hidden limit order       F       order id 0 (no book order); a print only
6     cross trade (auction)                   T       side N
7     trading halt                            N       side N
====  =====================================  ======  ==========================================

``instrument`` and ``date`` come from the file name; times become UTC ns through the America/New_York
time zone; ``ts_event`` = ``ts_recv`` (LOBSTER has one timestamp); ``flags`` = 0.

Opening book: the orderbook row 0 is the book *after* message 0, so message 0 is undone on it (an add is
removed, a cancel or execution restored) and each occupied level becomes one synthetic snapshot order
(``is_snapshot``, action A, flags ``F_SNAPSHOT``, at the first message's time, order ids counting down
from 2**64 − 1, which NASDAQ reference numbers never reach). Levels are the L visible ones only.
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

from .schema import F_SNAPSHOT, DataFormatError
from .validation import decompress, finish_events

NAME = re.compile(r"^(?P<ticker>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                  r"(?P<kind>message|orderbook)_(?P<level>\d+)\.csv(\.zst)?$")
EVENT_ACTIONS = {1: "A", 2: "C", 3: "C", 4: "F", 5: "F", 6: "T", 7: "N"}
PRICE_DIVISOR = 10_000
EMPTY_ASK, EMPTY_BID = 9999999999, -9999999999
EXCHANGE_TZ = ZoneInfo("America/New_York")
MESSAGE_COLUMNS = ["time", "type", "order_id", "size", "price", "direction"]


def parse_name(path: Path) -> re.Match:
    """Match a LOBSTER file name; raises DataFormatError when it does not follow the convention."""
    match = NAME.match(Path(path).name)
    if not match:
        raise DataFormatError(path, "not a LOBSTER file name (TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst])")
    return match


def orderbook_path(message_path: Path) -> Path:
    """The orderbook file that belongs to a message file (same name with ``orderbook``)."""
    return message_path.with_name(message_path.name.replace("_message_", "_orderbook_"))


def _read_csv(path: Path, names, types) -> pa.Table:
    raw = decompress(path)
    if not raw.strip():
        raise DataFormatError(path, "file is empty")
    try:
        return pcsv.read_csv(io.BytesIO(raw), read_options=pcsv.ReadOptions(column_names=names),
                             convert_options=pcsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as err:
        raise DataFormatError(path, f"not a LOBSTER CSV with columns {names} ({err})") from err


def _opening_book(path: Path, message: pa.Table, level: int) -> dict[str, np.ndarray]:
    """Snapshot orders from orderbook row 0 with message 0 undone."""
    names = [f"{k}_{i}" for i in range(1, level + 1) for k in ("ask_price", "ask_size", "bid_price", "bid_size")]
    book = _read_csv(path, names, {n: pa.int64() for n in names}).slice(0, 1).to_pylist()[0]
    if len(book) != 4 * level:
        raise DataFormatError(path, f"expected {4 * level} columns for level {level}")
    levels = {1: {}, -1: {}}  # direction → {price: size}
    for i in range(1, level + 1):
        for direction, side in ((-1, "ask"), (1, "bid")):
            price, size = book[f"{side}_price_{i}"], book[f"{side}_size_{i}"]
            if price not in (EMPTY_ASK, EMPTY_BID) and size > 0:
                levels[direction][price] = size
    first = message.slice(0, 1).to_pylist()[0]
    side_levels = levels[first["direction"]]
    if first["type"] == 1:
        side_levels[first["price"]] = side_levels.get(first["price"], 0) - first["size"]
    elif first["type"] in (2, 3, 4):
        side_levels[first["price"]] = side_levels.get(first["price"], 0) + first["size"]
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
        DataFormatError: bad name, corrupt file, wrong column count, unknown event type or direction,
            or a value check of :func:`data_prep.validation.finish_events`.
    """
    message_path = Path(message_path)
    match = parse_name(message_path)
    message = _read_csv(message_path, MESSAGE_COLUMNS, {"time": pa.float64(), "type": pa.int64(),
                                                         "order_id": pa.int64(), "size": pa.int64(),
                                                         "price": pa.int64(), "direction": pa.int64()})
    n = message.num_rows
    kind = message.column("type").to_numpy()
    direction = message.column("direction").to_numpy()
    for field, values, allowed in (("type", kind, list(EVENT_ACTIONS)), ("direction", direction, [1, -1])):
        bad = ~np.isin(values, allowed)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(message_path, f"unknown {field} {int(values[i])}; expected one of {allowed}",
                                  row=i, field=field)
    day = dt.date.fromisoformat(match["date"])
    midnight = dt.datetime.combine(day, dt.time(), EXCHANGE_TZ)
    # Seconds after local midnight → UTC ns (the offset is constant within a regular session).
    offset_ns = int(midnight.utcoffset().total_seconds() * -1e9) + int(
        dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1e9)
    ts = offset_ns + np.round(message.column("time").to_numpy() * 1e9).astype(np.int64)
    action = np.array([EVENT_ACTIONS[k] for k in range(1, 8)])[kind - 1]
    side = np.where(direction == 1, "B", "A")
    side = np.where(np.isin(kind, (6, 7)), "N", side)

    columns = {
        "ts": ts, "action": action, "side": side, "price": message.column("price").to_numpy(),
        "size": message.column("size").to_numpy(), "order_id": message.column("order_id").to_numpy().astype(np.uint64),
        "snap": np.zeros(n, bool), "row": np.arange(n, dtype=np.int64),
    }
    book_path = orderbook_path(message_path) if orderbook is None else orderbook
    if book_path is not False and Path(book_path).exists():
        book = _opening_book(Path(book_path), message, int(match["level"]))
        m = len(book["price"])
        columns = {k: np.concatenate([v, columns[k]]) for k, v in {
            "ts": np.full(m, ts[0]), "action": np.full(m, "A"), "side": np.where(book["direction"] == 1, "B", "A"),
            "price": book["price"], "size": book["size"],
            "order_id": (np.iinfo(np.uint64).max - np.arange(m, dtype=np.uint64)),
            "snap": np.ones(m, bool), "row": -1 - np.arange(m, dtype=np.int64)}.items()}
    rows = len(columns["ts"])
    events = pa.table({
        "instrument": pa.array(np.full(rows, match["ticker"]), pa.string()),
        "date": pa.array(np.full(rows, np.datetime64(day, "D")), pa.date32()),
        "ts_recv": columns["ts"], "ts_event": columns["ts"],
        "action": pa.array(columns["action"], pa.string()), "side": pa.array(columns["side"], pa.string()),
        "price": columns["price"] / PRICE_DIVISOR,
        "size": columns["size"], "order_id": columns["order_id"],
        "flags": np.where(columns["snap"], F_SNAPSHOT, 0).astype(np.uint8),
        "is_snapshot": columns["snap"], "source_row": columns["row"],
    })
    return finish_events(message_path, events)
