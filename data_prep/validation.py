"""Shared input handling for the readers: decompression and vectorized checks of normalized events.

Every check names the file, the 0-based data row and the field of the first offending value (see
:class:`data_prep.schema.DataFormatError`); nothing is dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import zstandard

from .schema import ACTIONS, EVENT_SCHEMA, SIDES, DataFormatError, char_codes

NEEDS_PRICE = ("A", "C", "M")
"""Actions whose price must be defined: they place or remove resting volume at a price."""
NEEDS_SIZE = ("A", "C", "M", "T", "F")
"""Actions whose size must be positive."""


def decompress(path: Path) -> bytes:
    """Whole file contents, zstd-decompressed when the name ends in ``.zst``.

    Raises:
        DataFormatError: truncated or corrupt zstd stream; FileNotFoundError if the file is missing.
    """
    with open(path, "rb") as f:
        if path.suffix != ".zst":
            return f.read()
        try:
            return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
        except zstandard.ZstdError as err:
            raise DataFormatError(path, f"corrupt or truncated zstd stream ({err})") from err


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
        bad = np.ones(events.num_rows, bool) if codes is None else ~np.isin(codes, [ord(c) for c in allowed])
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
        ("price", np.isin(action, [ord(c) for c in NEEDS_PRICE]) & ~np.isfinite(price),
         "undefined price (NaN / UNDEF_PRICE) on an add, cancel or modify"),
        ("size", size < 0, "size must not be negative"),
        ("size", np.isin(action, [ord(c) for c in NEEDS_SIZE]) & (size == 0),
         "size must be > 0 on adds, cancels, modifies and executions"),
        ("ts_recv", np.r_[False, np.diff(events.column("ts_recv").to_numpy()) < 0],
         "time goes backwards (ts_recv decreases)"),
    )
    for field, bad, message in checks:
        if bad.any():
            i = _first(bad)
            raise DataFormatError(path, f"{message}: got {events.column(field)[i].as_py()!r}", row=int(rows[i]),
                                  field=field)
    return events.cast(EVENT_SCHEMA)
