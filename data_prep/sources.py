"""Input discovery and format dispatch: files, directories and globs → normalized events.

Recognized names:

* Databento MBO: ``*.dbn``, ``*.dbn.zst`` and Databento CSV (``*.csv``, ``*.csv.zst`` whose first line is
  Databento's MBO header) → :func:`data_prep.databento.read_databento`;
* LOBSTER: ``TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst]`` → :func:`data_prep.lobster.read_lobster`
  (orderbook files are companions of their message file, never sources of their own).
"""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa

from .databento import read_databento
from .lobster import NAME as LOBSTER_NAME
from .lobster import read_lobster
from .schema import DataFormatError

SUFFIXES = (".dbn", ".dbn.zst", ".csv", ".csv.zst")


def _is_source(path: Path) -> bool:
    name = path.name
    if not name.endswith(SUFFIXES):
        return False
    match = LOBSTER_NAME.match(name)
    return not (match and match["kind"] == "orderbook")


def expand_paths(spec) -> list[Path]:
    """Expand files, directories (searched recursively) and globs (``**`` allowed) into source files.

    Args:
        spec: a path or glob string, a ``Path``, or a list of them.

    Returns:
        Sorted, de-duplicated list of data files (LOBSTER orderbook files left out: they are read with
        their message file). Explicitly named files are kept whatever their name; a directory or glob
        contributes only recognized data files.

    Raises:
        FileNotFoundError: an explicitly named file or directory does not exist.
    """
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    found: set[Path] = set()
    for item in items:
        text = str(item)
        path = Path(text)
        if glob.has_magic(text):
            found.update(p for p in map(Path, glob.glob(text, recursive=True)) if p.is_file() and _is_source(p))
        elif path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and _is_source(p))
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {text}")
    return sorted(found)


def read_events(path) -> pa.Table:
    """Read one data file into EVENT_SCHEMA, choosing the reader from the file name (and CSV header).

    Raises:
        DataFormatError: unrecognized file, or any reader error (naming file, row and field).
    """
    path = Path(path)
    name = path.name
    if LOBSTER_NAME.match(name):
        return read_lobster(path)
    if name.endswith((".dbn", ".dbn.zst", ".csv", ".csv.zst")):
        return read_databento(path)
    raise DataFormatError(path, "unrecognized file: expected Databento MBO (.dbn[.zst], .csv[.zst]) or a "
                                "LOBSTER message file (TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst])")
