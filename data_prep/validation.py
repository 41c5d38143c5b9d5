"""Shared input handling for the readers: decompression and vectorized checks of normalized events.

Every check names the file, the 0-based data row and the field of the first offending value (see
:class:`data_prep.schema.DataFormatError`); nothing is dropped silently.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import zstandard

from .schema import ACTIONS, EVENT_SCHEMA, SIDES, DataFormatError, char_codes, one_of

NEEDS_PRICE = ("A", "C", "M")
"""Actions whose price must be defined: they place or remove resting volume at a price."""
NEEDS_SIZE = ("A", "C", "M", "T", "F")
"""Actions whose size must be positive."""


def decompress(path: Path) -> bytes:
    """Whole file contents, zstd-decompressed when the name ends in ``.zst``.

    A file of one zstd frame whose header gives the content size (what ``zstd`` writes for a file) is
    decompressed in one call, which checks that the frame is complete and that nothing follows it. Any
    other file (several frames, no size in the header, or damage) goes through pyarrow's zstd stream,
    which checks that the last frame is complete (``zstandard``'s stream reader returns a truncated
    stream's prefix without error).

    Raises:
        DataFormatError: truncated or corrupt zstd stream; FileNotFoundError if the file is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    raw = path.read_bytes()
    if path.suffix != ".zst":
        return raw
    try:
        return zstandard.ZstdDecompressor().decompress(raw, allow_extra_data=False)
    except zstandard.ZstdError:
        pass  # several frames, no content size, or damage: the stream tells which
    try:
        with pa.input_stream(pa.py_buffer(raw), compression="zstd") as stream:
            return stream.read()
    except OSError as err:
        raise DataFormatError(path, f"corrupt or truncated zstd stream ({err})") from err


def first_line(path: Path, limit: int = 1 << 16) -> bytes:
    """The first line of a file (without its newline), zstd-decompressed when the name ends in ``.zst``;
    only the first ``limit`` bytes are decompressed.

    Raises:
        DataFormatError: corrupt zstd stream, or no newline within ``limit`` bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            head = (zstandard.ZstdDecompressor().stream_reader(raw).read(limit) if path.suffix == ".zst"
                    else raw.read(limit))
    except zstandard.ZstdError as err:
        raise DataFormatError(path, f"corrupt zstd stream ({err})") from err
    end = head.find(b"\n")
    if end < 0 and len(head) == limit:
        raise DataFormatError(path, f"no line break in the first {limit} bytes", row=0)
    return head if end < 0 else head[:end]


def read_csv(path: Path, data: bytes, column_types: dict, column_names=None, nullable=()) -> pa.Table:
    """Parse CSV text with pyarrow (vectorized), naming file, row and field of any value that does not fit.

    Args:
        path: the file, for messages.
        data: the decompressed text.
        column_types: name → Arrow type of the columns to keep; ``None`` lets pyarrow infer the type.
        column_names: the column names when the text has no header row (LOBSTER), else ``None``.
        nullable: columns that may hold empty fields (null); an empty field elsewhere is an error.

    Returns:
        The columns of ``column_types``; row *i* is the 0-based data row *i* (header excluded).

    Raises:
        DataFormatError: ragged rows, a value that does not convert (its row found by bisection, as pyarrow
            reports none), or an empty required field.
    """
    def parse(types):
        return pcsv.read_csv(io.BytesIO(data), read_options=pcsv.ReadOptions(column_names=column_names),
                             convert_options=pcsv.ConvertOptions(include_columns=list(column_types),
                                                                 column_types=types))

    try:
        table = parse({k: v for k, v in column_types.items() if v is not None})
    except pa.ArrowInvalid as err:
        if "conversion error" not in str(err):
            raise DataFormatError(path, f"not a CSV of the expected layout ({err})") from err
        raise _conversion_error(path, parse(dict.fromkeys(column_types, pa.string())), column_types) from err
    for field in column_types:
        column = table.column(field)
        if field not in nullable and column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataFormatError(path, "empty value", row=row, field=field)
    return table


def _conversion_error(path, strings: pa.Table, column_types: dict) -> DataFormatError:
    """The first (row, field) whose text does not cast to its type: bisection, O(log N) casts per column."""
    for field, type_ in column_types.items():
        values = strings.column(field).combine_chunks()
        if type_ is None or _casts(values, type_):
            continue
        lo, hi = 0, len(values)  # invariant: a bad value lies in values[lo:hi]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _casts(values.slice(lo, mid - lo), type_) else (lo, mid)
        return DataFormatError(path, f"{values[lo].as_py()!r} is not a valid {type_}", row=lo, field=field)
    return DataFormatError(path, "a value does not convert to its column type")


def _casts(values: pa.Array, type_) -> bool:
    try:
        values.cast(type_)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _decreases(values: np.ndarray) -> np.ndarray:
    """(N,) bool: ``values[i] < values[i - 1]`` (False for the first)."""
    out = np.zeros(len(values), dtype=bool)
    np.less(values[1:], values[:-1], out=out[1:])
    return out


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def finish_events(path, events: pa.Table) -> pa.Table:
    """Validate a normalized table and cast it to EVENT_SCHEMA.

    Checks (vectorized): actions in :data:`~data_prep.schema.ACTIONS`, sides in ``B/A/N``, defined prices
    on :data:`NEEDS_PRICE`, positive sizes on :data:`NEEDS_SIZE`, no negative size, non-decreasing
    ``ts_recv``.

    Raises:
        DataFormatError: at the first offending row (``source_row``), naming the field.
    """
    rows = events.column("source_row").to_numpy()
    if events.num_rows == 0:
        raise DataFormatError(path, "no records")
    for field, allowed in (("action", ACTIONS), ("side", SIDES)):
        try:
            codes = char_codes(events.column(field))
        except ValueError:
            codes = None
        bad = np.ones(events.num_rows, bool) if codes is None else ~one_of(codes, allowed)
        if bad.any():
            i = _first(bad) if codes is not None else _first(
                ~np.isin(events.column(field).to_numpy(zero_copy_only=False), allowed))
            value = events.column(field)[i].as_py()
            raise DataFormatError(path, f"unknown {field} code {value!r}; expected one of {allowed}",
                                  row=int(rows[i]), field=field)
        if field == "action":
            action = codes
    price = events.column("price").to_numpy(zero_copy_only=False)
    size = events.column("size").to_numpy()
    checks = (
        ("price", one_of(action, NEEDS_PRICE) & ~np.isfinite(price),
         "undefined price (NaN / UNDEF_PRICE) on an add, cancel or modify"),
        ("size", size < 0, "size must not be negative"),
        ("size", one_of(action, NEEDS_SIZE) & (size == 0),
         "size must be > 0 on adds, cancels, modifies and executions"),
        ("ts_recv", _decreases(events.column("ts_recv").to_numpy()), "time goes backwards (ts_recv decreases)"),
    )
    for field, bad, message in checks:
        if bad.any():
            i = _first(bad)
            raise DataFormatError(path, f"{message}: got {events.column(field)[i].as_py()!r}", row=int(rows[i]),
                                  field=field)
    return events.cast(EVENT_SCHEMA)
