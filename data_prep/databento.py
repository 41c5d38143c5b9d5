"""Databento MBO reader: DBN (``.dbn``, ``.dbn.zst``) and CSV (``.csv``, ``.csv.zst``) → EVENT_SCHEMA.

DBN is decoded by the ``databento-dbn`` package (its ``Transcoder`` re-encodes the records as Databento's
own CSV, with raw fixed-point prices and integer nanosecond timestamps), so both encodings go through one
vectorized pyarrow CSV path. The CSV layout is the one Databento writes
(``ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,order_id,flags,
ts_in_delta,sequence[,symbol]``), with raw or ``pretty_px`` prices and raw or ``pretty_ts`` timestamps.

Field mapping (https://databento.com/docs/schemas-and-data-formats/mbo):

* ``price``: fixed-point integer, 1e-9 dollars per unit (index points for ES), or a decimal with
  ``pretty_px``; ``UNDEF_PRICE`` (2**63 − 1) or an empty field → NaN. Undefined prices are allowed only
  on actions that carry none (T/F without a price print, R, N); on A, C and M they are an error.
* ``ts_recv`` / ``ts_event``: UTC ns (integers, or ISO-8601 with ``pretty_ts``).
* ``instrument``: the ``symbol`` column when present, else the numeric ``instrument_id``.
* ``date``: the UTC calendar date of ``ts_recv`` of the file's *first live* (non-snapshot) record, for
  every row of the file: snapshot records, stamped at the start of the replay, belong to the session they
  open. One file is one session per instrument (Databento's daily files).
* ``is_snapshot``: flag bit 32 (``F_SNAPSHOT``). All actions A, C, M, T, F, R, N are kept.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from .schema import F_SNAPSHOT, DataFormatError
from .validation import decompress, finish_events

UNDEF_PRICE = 2**63 - 1
PRICE_DIVISOR = 1e9
"""Fixed-point prices are integers of 1e-9 dollars (DBN spec FIXED_PRICE_SCALE)."""
REQUIRED = ("ts_recv", "ts_event", "action", "side", "price", "size", "order_id", "flags")


def _dbn_to_csv(path: Path, raw: bytes) -> bytes:
    import databento_dbn as dbn

    out = io.BytesIO()
    try:
        transcoder = dbn.Transcoder(out, dbn.Encoding.CSV, dbn.Compression.NONE, pretty_px=False, pretty_ts=False,
                                    map_symbols=True)
        transcoder.write(raw)
        transcoder.flush()
    except Exception as err:  # databento_dbn raises its own DBNError
        raise DataFormatError(path, f"not a valid DBN stream ({err})") from err
    return out.getvalue()


def _timestamps(path, table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
    if pa.types.is_integer(column.type):
        return column.cast(pa.int64()).to_numpy()
    raise DataFormatError(path, f"expected integer ns or ISO-8601 timestamps, got {column.type}", field=name)


def _prices(path, table: pa.Table) -> np.ndarray:
    column = table.column("price")
    if pa.types.is_integer(column.type) or pa.types.is_null(column.type):
        raw = column.cast(pa.int64()).fill_null(UNDEF_PRICE).to_numpy()
        price = raw / PRICE_DIVISOR  # true division: correctly rounded, equal to parsing the decimal
        price[raw == UNDEF_PRICE] = np.nan
        return price
    if pa.types.is_floating(column.type):
        return column.fill_null(np.nan).to_numpy()
    raise DataFormatError(path, f"expected fixed-point integers or decimals, got {column.type}", field="price")


def read_databento(path) -> pa.Table:
    """Read one Databento MBO file (DBN or CSV, optionally zstd-compressed) into EVENT_SCHEMA.

    Args:
        path: ``*.dbn``, ``*.dbn.zst``, ``*.csv`` or ``*.csv.zst``.

    Returns:
        EVENT_SCHEMA table, rows in file order (``source_row`` = 0-based record index).

    Raises:
        DataFormatError: corrupt/truncated compression or DBN, missing columns, bad values (naming the
            file, row and field; see :func:`data_prep.validation.finish_events`).
    """
    path = Path(path)
    raw = decompress(path)
    if ".dbn" in path.suffixes:
        raw = _dbn_to_csv(path, raw)
    if not raw.strip():
        raise DataFormatError(path, "file is empty")
    try:
        table = pcsv.read_csv(io.BytesIO(raw), convert_options=pcsv.ConvertOptions(
            column_types={"action": pa.string(), "side": pa.string(), "symbol": pa.string(),
                          "order_id": pa.uint64()}))
    except pa.ArrowInvalid as err:
        raise DataFormatError(path, f"not a Databento MBO CSV ({err})") from err
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise DataFormatError(path, f"missing Databento MBO column(s) {missing}", field=missing[0])
    ts_recv = _timestamps(path, table, "ts_recv")
    flags = table.column("flags").cast(pa.uint8()).to_numpy()
    is_snapshot = (flags & F_SNAPSHOT) > 0
    if "symbol" in table.column_names:
        instrument = table.column("symbol").fill_null("")
    else:
        instrument = pc.cast(table.column("instrument_id"), pa.string())
    live = np.flatnonzero(~is_snapshot)
    first_live = ts_recv[live[0]] if len(live) else ts_recv[0]
    date = np.datetime64(int(first_live), "ns").astype("datetime64[D]")
    n = table.num_rows
    events = pa.table({
        "instrument": instrument,
        "date": pa.array(np.full(n, date), pa.date32()),
        "ts_recv": ts_recv,
        "ts_event": _timestamps(path, table, "ts_event"),
        "action": table.column("action").fill_null(""),
        "side": table.column("side").fill_null(""),
        "price": _prices(path, table),
        "size": table.column("size").cast(pa.int64()),
        "order_id": table.column("order_id").cast(pa.uint64()),
        "flags": flags,
        "is_snapshot": is_snapshot,
        "source_row": np.arange(n, dtype=np.int64),
    })
    return finish_events(path, events)
