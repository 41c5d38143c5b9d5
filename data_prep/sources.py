"""Input discovery and format dispatch: files, directories and globs → normalized events.

Recognized files (:func:`source_format`):

* Databento MBO: ``*.dbn``, ``*.dbn.zst``, ``*.mbo.csv``, ``*.mbo.csv.zst``, and any other ``*.csv[.zst]``
  whose header row holds Databento's MBO columns → :func:`data_prep.databento.read_databento`;
* LOBSTER: ``TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst]`` → :func:`data_prep.lobster.read_lobster`.
  Orderbook files are companions of their message file (its opening book), never sources of their own.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa

from .databento import CSV_FIELDS, read_databento
from .lobster import NAME as LOBSTER_NAME
from .lobster import message_path, read_lobster
from .schema import DataFormatError
from .validation import first_line

DBN_SUFFIXES = (".dbn", ".dbn.zst")
CSV_SUFFIXES = (".csv", ".csv.zst")


def _header(path: Path) -> list[str]:
    """Column names of a CSV's first line (empty if unreadable)."""
    try:
        return first_line(path).decode(errors="replace").strip().split(",")
    except (DataFormatError, OSError):
        return []


def source_format(path: Path) -> str | None:
    """``"databento"``, ``"lobster"``, ``"orderbook"`` (a LOBSTER companion) or None (not a data file)."""
    name = Path(path).name
    match = LOBSTER_NAME.match(name)
    if match:
        return "lobster" if match["kind"] == "message" else "orderbook"
    if name.endswith(DBN_SUFFIXES) or name.endswith((".mbo.csv", ".mbo.csv.zst")):
        return "databento"
    if name.endswith(CSV_SUFFIXES) and set(CSV_FIELDS) <= set(_header(Path(path))):
        return "databento"
    return None


def expand_paths(spec) -> list[Path]:
    """Expand files, directories (searched recursively) and globs (``**`` allowed) into source files.

    Args:
        spec: a path or glob string, a ``Path``, or a list of them.

    Returns:
        Sorted, de-duplicated data files. Directories and globs contribute only recognized files
        (:func:`source_format`); an explicitly named file is kept whatever its name (reading it names the
        problem), except a LOBSTER orderbook file, which stands for its message file.

    Raises:
        FileNotFoundError: an explicitly named file or directory does not exist, or an orderbook file has no
            message file.
    """
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    found: set[Path] = set()
    for item in items:
        text = str(item)
        path = Path(text)
        if glob.has_magic(text):
            candidates = [Path(p) for p in glob.glob(text, recursive=True)]
        elif path.is_dir():
            candidates = list(path.rglob("*"))
        elif path.is_file():
            if source_format(path) == "orderbook":
                path = message_path(path)
                if not path.is_file():
                    raise FileNotFoundError(f"{text}: orderbook file without its message file {path.name}")
            found.add(path)
            continue
        else:
            raise FileNotFoundError(f"no such file or directory: {text}")
        found.update(p for p in candidates if p.is_file() and source_format(p) in ("databento", "lobster"))
    return sorted(found)


def read_events(path) -> pa.Table:
    """Read one data file into EVENT_SCHEMA, choosing the reader by :func:`source_format`.

    Raises:
        DataFormatError: unrecognized file, or any reader error (naming file, row and field).
    """
    path = Path(path)
    kind = source_format(path)
    if kind in ("lobster", "orderbook"):
        return read_lobster(path)  # an orderbook file: an error pointing to its message file
    if kind == "databento":
        return read_databento(path)
    raise DataFormatError(path, "unrecognized file: expected Databento MBO (.dbn[.zst], .mbo.csv[.zst] or a CSV "
                                "with Databento's MBO header) or a LOBSTER message file "
                                "(TICKER_YYYY-MM-DD_start_end_message_L.csv[.zst])")
