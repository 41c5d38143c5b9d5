"""The normalized L3 event schema every reader produces (one Arrow schema for every source).

One row is one message of a market-by-order (MBO, Level-3) feed, after normalization:

=============  ==========  ==============================================================================
field          Arrow type  meaning and units
=============  ==========  ==============================================================================
instrument     string      symbol as the venue names it ("AAPL", "ESH4")
date           date32      session date: LOBSTER from the file name; Databento the UTC date of ``ts_recv``
ts_recv        int64       receive time, UTC nanoseconds since the Unix epoch (LOBSTER: its one timestamp)
ts_event       int64       matching-engine time, UTC nanoseconds (LOBSTER: same as ``ts_recv``)
action         string      one character, Databento MBO codes: A add, C cancel, M modify, T trade,
                           F fill, R clear book, N none (see ``ACTIONS``)
side           string      one character: B bid/buy, A ask/sell, N none
price          float64     US dollars (or index points for futures) per share/contract; NaN = undefined
size           int64       shares or contracts (for C/T/F the amount cancelled/traded, not the remainder)
order_id       uint64      venue order reference number; 0 when the venue gives none
flags          uint8       Databento record flags (bit 32 = F_SNAPSHOT, 128 = F_LAST); 0 for LOBSTER
is_snapshot    bool        True for records that only rebuild the opening book (never model targets)
source_row     int64       0-based data row in the source file (header excluded), for error messages
=============  ==========  ==============================================================================

Prices are float64 dollars: Databento's fixed-point integers (1e-9 dollars per unit, DBN spec
``FIXED_PRICE_SCALE``) and LOBSTER's dollars x 10,000 integers are divided once, at read time.

How each source maps onto the actions is documented in the reader modules
(:mod:`data_prep.databento`, :mod:`data_prep.lobster`).
"""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa

ACTIONS = ("A", "C", "M", "T", "F", "R", "N")
"""Databento MBO action codes (https://databento.com/docs/schemas-and-data-formats/mbo)."""
SIDES = ("B", "A", "N")
"""B = bid (buy), A = ask (sell), N = none."""

F_SNAPSHOT = 32
"""Databento flag bit: the record is part of an initial book snapshot."""

EVENT_SCHEMA = pa.schema(
    [
        pa.field("instrument", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("ts_recv", pa.int64(), nullable=False),
        pa.field("ts_event", pa.int64(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("side", pa.string(), nullable=False),
        pa.field("price", pa.float64()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("order_id", pa.uint64(), nullable=False),
        pa.field("flags", pa.uint8(), nullable=False),
        pa.field("is_snapshot", pa.bool_(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
    ]
)


class DataFormatError(ValueError):
    """Raised for input that cannot be read correctly.

    The message always names the file, and where known the 0-based data row and the field, e.g.
    ``"AAPL_..._message_1.csv.zst: row 17, field 'size': must be > 0, got -3"``.
    """

    def __init__(self, path, message: str, row: int | None = None, field: str | None = None):
        where = str(path)
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.field = str(path), row, field


def fills_update_book(flags) -> bool:
    """Whether executions (``F``) themselves remove shares from the resting order, per source.

    LOBSTER (every ``flags`` value 0 apart from our snapshot bit): yes, an execution message is the only book change. Databento MBO
    (record flags such as ``F_LAST`` = 128 set): no, the venue's book change follows as a separate ``C``
    (order filled) or ``M`` (partially filled) on the same order id, so the ``F`` is a print only.

    Args:
        flags: (N,) uint8 ``flags`` of one source's events.
    """
    return not bool((np.asarray(flags) & ~np.uint8(F_SNAPSHOT) != 0).any())


def char_codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """One-character string column (``action``, ``side``) → (N,) uint8 ASCII codes, without Python objects.

    Compare with ``ord("A")`` etc. Raises ValueError if a value is not exactly one byte long. The codes are
    the string data itself (one byte per value), a read-only view when the column is one chunk.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    array = column.cast(pa.string())
    if len(array) == 0:
        return np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset:array.offset + len(array) + 1]
    start = int(offsets[0])
    if array.null_count or not np.array_equal(offsets, np.arange(start, start + len(array) + 1, dtype=np.int32)):
        raise ValueError("expected one-character codes")
    return np.frombuffer(array.buffers()[2], dtype=np.uint8)[start:start + len(array)]


def one_of(codes: np.ndarray, chars) -> np.ndarray:
    """(N,) bool: whether each ASCII code (from :func:`char_codes`) is one of ``chars`` (characters)."""
    mask = np.zeros(np.shape(codes), dtype=bool)
    for char in chars:
        mask |= codes == ord(char)
    return mask


def char_array(codes: np.ndarray) -> pa.StringArray:
    """(N,) uint8 ASCII codes → one-character string column, the inverse of :func:`char_codes` (no Python objects).

    Bytes outside ASCII (≥ 128, not valid UTF-8 alone) become ``"?"``, which is no action or side code, so the
    event checks still reject the row.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    codes = np.where(codes < 128, codes, np.uint8(ord("?"))).astype(np.uint8)
    offsets = np.arange(len(codes) + 1, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(codes), [None, pa.py_buffer(offsets), pa.py_buffer(codes)])


def repeated(value: str | datetime.date, n: int) -> pa.Array:
    """A string or date32 column of ``value`` ``n`` times, built from buffers (``pa.repeat`` is ~10x slower)."""
    if isinstance(value, str):
        data = value.encode()
        offsets = np.arange(n + 1, dtype=np.int32) * len(data)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])
    days = (value - datetime.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).view(pa.date32())
