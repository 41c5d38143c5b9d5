"""Databento MBO reader: DBN (``.dbn``, ``.dbn.zst``) and CSV (``.csv``, ``.csv.zst``) → EVENT_SCHEMA.

DBN is decoded by the ``databento-dbn`` package: its ``Transcoder`` re-encodes the stream as uncompressed DBN of
the current version (upgrading older versions), and the records are then viewed as a numpy array with the
package's own record layout (``MBOMsg._dtypes``, as ``databento.DBNStore.to_ndarray`` does). CSV is Databento's
CSV encoding (``ts_recv,ts_event,rtype,publisher_id,instrument_id,action,side,price,size,channel_id,order_id,
flags,ts_in_delta,sequence[,symbol]``), parsed by pyarrow, with raw or ``pretty_px`` prices and raw or
``pretty_ts`` timestamps. Both encodings of the same records give identical tables.

Field mapping (https://databento.com/docs/schemas-and-data-formats/mbo):

* ``price``: fixed-point integer, 1e-9 dollars per unit (index points for ES; ``FIXED_PRICE_SCALE``), or a
  decimal with ``pretty_px``; ``UNDEF_PRICE`` (2**63 − 1) or an empty field → NaN. An undefined price is an
  error on A, C and M (they rest volume at a price); it is allowed on T and F (such a print is kept but does
  not feed the mid, see :mod:`data_prep.features`) and on R and N.
* ``ts_recv`` / ``ts_event``: UTC ns (integers, or ISO-8601 with ``pretty_ts``).
* ``instrument``: the ``symbol`` column (CSV) or the metadata's symbology mapping on the UTC date of
  ``ts_recv`` (DBN, as ``databento-dbn``'s ``map_symbols``); the numeric ``instrument_id`` where none is given.
* ``date``: the UTC calendar date of each row's ``ts_recv``. Databento's daily files are UTC days, and their
  snapshot records are stamped at the start (00:00 UTC) of the day they open; a CME trading session (17:00
  CT to 16:00 CT) therefore spans two dates.
* ``is_snapshot``: flag bit 32 (``F_SNAPSHOT``). All actions A, C, M, T, F, R, N are kept.
"""

from __future__ import annotations

import io
from pathlib import Path

import databento_dbn as dbn
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import F_SNAPSHOT, DataFormatError, char_array, repeated
from .validation import decompress, finish_events, read_csv

DAY_NS = 86_400_000_000_000
UNDEF_PRICE = dbn.UNDEF_PRICE
PRICE_SCALE = dbn.FIXED_PRICE_SCALE
"""Fixed-point prices are integers of 1e-9 dollars (DBN spec ``FIXED_PRICE_SCALE``)."""
CSV_FIELDS = {"ts_recv": None, "ts_event": None, "action": pa.string(), "side": pa.string(), "price": None,
              "size": pa.int64(), "order_id": pa.uint64(), "flags": pa.uint8()}
"""Required CSV columns and their Arrow types (``None``: raw integer or pretty form, decided when reading)."""


def read_databento(path) -> pa.Table:
    """Read one Databento MBO file (DBN or CSV, optionally zstd-compressed) into EVENT_SCHEMA.

    Args:
        path: ``*.dbn``, ``*.dbn.zst``, ``*.csv`` or ``*.csv.zst``.

    Returns:
        EVENT_SCHEMA table, rows in file order (``source_row`` = 0-based record / data row).

    Raises:
        DataFormatError: empty, corrupt or truncated file (zstd or DBN), a schema other than MBO, missing
            columns, unparsable or bad values (naming the file, row and field; see
            :func:`data_prep.validation.finish_events`).
    """
    path = Path(path)
    data = decompress(path)
    if not data or data.isspace():  # (no strip(): it would copy the whole file)
        raise DataFormatError(path, "file is empty")
    columns = _from_dbn(path, data) if ".dbn" in path.suffixes else _from_csv(path, data)
    n = len(columns["ts_recv"])
    if n == 0:
        raise DataFormatError(path, "no records")
    ts_recv = columns["ts_recv"]
    events = pa.table({
        "instrument": columns["instrument"],
        "date": pa.array((ts_recv // DAY_NS).astype(np.int32)).view(pa.date32()),
        "ts_recv": ts_recv,
        "ts_event": columns["ts_event"],
        "action": columns["action"],
        "side": columns["side"],
        "price": columns["price"],
        "size": columns["size"],
        "order_id": columns["order_id"],
        "flags": columns["flags"],
        "is_snapshot": columns["flags"] & F_SNAPSHOT > 0,
        "source_row": np.arange(n, dtype=np.int64),
    })
    return finish_events(path, events)


def _from_dbn(path: Path, data: bytes) -> dict:
    out = io.BytesIO()
    try:
        transcoder = dbn.Transcoder(out, dbn.Encoding.DBN, dbn.Compression.NONE)
        transcoder.write(data)
        transcoder.flush()
        encoded = out.getvalue()
        metadata = dbn.Metadata.decode(encoded)
    except dbn.DBNError as err:
        raise DataFormatError(path, f"not a valid DBN stream ({err})") from err
    if len(transcoder.buffer()):
        raise DataFormatError(path, f"truncated DBN stream ({len(transcoder.buffer())} bytes of a last record)")
    if metadata.schema != dbn.Schema.MBO:
        raise DataFormatError(path, f"DBN schema {metadata.schema}, expected mbo")
    dtype = np.dtype(dbn.MBOMsg._dtypes + ([("ts_out", "u8")] if metadata.ts_out else []))
    header = len(metadata.encode())  # the Transcoder wrote this very encoding
    records = np.frombuffer(encoded, dtype=dtype, offset=header)
    bad = (records["rtype"] != int(dbn.RType.MBO)) | (records["length"].astype(np.int64) * 4 != dtype.itemsize)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFormatError(path, f"record type {records['rtype'][row]} is not MBO", row=row, field="rtype")
    ts_recv = records["ts_recv"].astype(np.int64)
    return {
        "ts_recv": ts_recv,
        "ts_event": records["ts_event"].astype(np.int64),
        "action": char_array(records["action"].view(np.uint8)),
        "side": char_array(records["side"].view(np.uint8)),
        "price": _fixed_point(records["price"]),
        "size": records["size"].astype(np.int64),
        "order_id": records["order_id"].copy(),
        "flags": records["flags"].copy(),
        "instrument": _symbols(metadata, records["instrument_id"], ts_recv),
    }


def _symbols(metadata, instrument_id: np.ndarray, ts_recv: np.ndarray) -> pa.Array:
    """Symbol of each record from the metadata's (instrument id, date interval) mappings; else the id."""
    ids, dates, ends, names = [], [], [], []
    by_id = metadata.stype_out == dbn.SType.INSTRUMENT_ID  # historical data: requested symbol → instrument id
    for symbol_in, intervals in metadata.mappings.items():
        for interval in intervals:
            if not interval["symbol"]:
                continue
            ids.append(int(interval["symbol"] if by_id else symbol_in))
            names.append(symbol_in if by_id else interval["symbol"])
            dates.append(np.datetime64(interval["start_date"], "D").astype(np.int64))
            ends.append(np.datetime64(interval["end_date"], "D").astype(np.int64))
    encoded = pc.dictionary_encode(pa.array(instrument_id))  # hashed: ids in order of first appearance
    labels = [str(i) for i in encoded.dictionary.to_pylist()]
    code = np.array(encoded.indices, dtype=np.int32)
    if ids:
        # one sorted key per (id, day): intervals of one id do not overlap
        key = instrument_id.astype(np.int64) << 32 | ts_recv // DAY_NS
        starts = np.array(ids, np.int64) << 32 | np.array(dates, np.int64)
        stops = np.array(ids, np.int64) << 32 | np.array(ends, np.int64)
        order = np.argsort(starts)
        j = np.searchsorted(starts[order], key, side="right") - 1
        hit = (j >= 0) & (key < stops[order][np.maximum(j, 0)])
        code[hit] = len(labels) + order[j[hit]]
        labels += names
    if len(code) and (code == code[0]).all():  # the usual file of one instrument
        return repeated(labels[code[0]], len(code))
    return pa.DictionaryArray.from_arrays(code, labels).cast(pa.string())


def _fixed_point(raw: np.ndarray) -> np.ndarray:
    price = raw / PRICE_SCALE  # true division: correctly rounded, equal to parsing the pretty decimal
    price[raw == UNDEF_PRICE] = np.nan
    return price


def _from_csv(path: Path, data: bytes) -> dict:
    header_end = data.find(b"\n") % (len(data) + 1)  # len(data) when there is no newline
    header = data[:header_end].decode(errors="replace").strip().split(",")
    missing = [name for name in CSV_FIELDS if name not in header]
    if missing:
        raise DataFormatError(path, f"missing Databento MBO column(s) {missing}", field=missing[0])
    first_row = data[header_end + 1:data.find(b"\n", header_end + 1) % (len(data) + 1)]
    if not first_row.strip():
        return {"ts_recv": np.zeros(0, np.int64)}
    # pretty_ts or integer ns, told by the first row (ts_recv is always defined); prices are inferred
    iso = b"T" in first_row.split(b",")[header.index("ts_recv")]
    types = {**CSV_FIELDS, **dict.fromkeys(("ts_recv", "ts_event"), pa.timestamp("ns", "UTC") if iso else pa.int64()),
             **{k: pa.string() for k in ("symbol", "instrument_id") if k in header}}
    table = read_csv(path, data, types, nullable=("price", "symbol"))
    return {
        "ts_recv": table.column("ts_recv").cast(pa.int64()).to_numpy(),
        "ts_event": table.column("ts_event").cast(pa.int64()).to_numpy(),
        "action": table.column("action").combine_chunks(),
        "side": table.column("side").combine_chunks(),
        "price": _csv_prices(path, data, table.column("price")),
        "size": table.column("size").to_numpy(),
        "order_id": table.column("order_id").to_numpy(),
        "flags": table.column("flags").to_numpy(),
        "instrument": _csv_instrument(path, table),
    }


def _csv_prices(path: Path, data: bytes, column: pa.ChunkedArray) -> np.ndarray:
    """Integer column: fixed-point 1e-9 units; floating: ``pretty_px`` decimals; empty fields: NaN."""
    if pa.types.is_integer(column.type):
        return _fixed_point(column.fill_null(UNDEF_PRICE).to_numpy())
    if pa.types.is_floating(column.type) or pa.types.is_null(column.type):
        return column.cast(pa.float64()).fill_null(np.nan).to_numpy()
    read_csv(path, data, {"price": pa.float64()}, nullable=("price",))  # raises, naming the first bad row
    raise DataFormatError(path, f"prices of mixed formats ({column.type})", field="price")


def _csv_instrument(path: Path, table: pa.Table) -> pa.Array:
    """``symbol`` where given, else the numeric ``instrument_id``."""
    names = table.column_names
    if "symbol" not in names and "instrument_id" not in names:
        raise DataFormatError(path, "neither a 'symbol' nor an 'instrument_id' column", field="instrument_id")
    symbol = table.column("symbol").combine_chunks() if "symbol" in names else None
    if "instrument_id" not in names:
        return symbol
    instrument_id = table.column("instrument_id").combine_chunks()
    if symbol is None:
        return instrument_id
    given = pc.fill_null(pc.greater(pc.utf8_length(symbol), 0), False)
    return symbol if pc.all(given).as_py() else pc.if_else(given, symbol, instrument_id)
