"""Raw MBO / LOBSTER files → calibrated tokenizer + tokenized Arrow ``datasets`` shards (one call).

Stages: read (``data_prep.sources``) → sessions and features (``data_prep.features``) → split → calibrate
the tokenizer on the training part of the first ``calib_days`` days (or load a frozen one) → encode →
windows (``data_prep.shards``) → ``DatasetDict.save_to_disk``.

Splits:

* by date (the paper's temporal split): the trailing ``test_days`` dates are ``test``, the ``val_days``
  dates before them ``validation``, the rest ``train``;
* when there are not more dates than ``val_days + test_days`` (e.g. one sample day), each session is split
  by time instead: its first events are ``train``, the next ``val_fraction`` ``validation``, the last
  ``test_fraction`` ``test`` (the summary records ``split_mode = "intra_session"``); with
  ``split_blocks = K`` this is done in each of K consecutive blocks of the session, so that every split
  covers the whole day (windows never cross a block);
* ``holdout_instruments`` go whole into a ``heldout`` split (zero-shot evaluation), never calibrated on.

Output (written to a temporary sibling directory, then renamed over ``output_dir``, so a failed run
leaves nothing half-written and a rerun replaces the previous result)::

    output_dir/dataset_dict.json, train/, validation/, test/[, heldout/]   (Arrow shards; empty splits left out)
    output_dir/tokenizer/                                                  (TradeFMTokenizer)
    output_dir/prep_summary.json                                           (counts, clamps, splits)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from .features import session_features, sessions, traded_volume
from .shards import to_dataset, windows_table
from .sources import expand_paths, read_events
from .vwap import DEFAULT_HALF_LIFE_S

logger = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")


def _file_sessions(path: Path, half_life_s: float, options: dict) -> list[dict]:
    """Read one file; return its sessions' features (average_daily_volume still NaN) and counts."""
    out = []
    for events in sessions(read_events(path)):
        features, counts = session_features(events, np.nan, half_life_s, **options, path=path)
        out.append({"instrument": events.column("instrument")[0].as_py(), "date": str(events.column("date")[0]),
                    "features": features, "counts": counts, "volume": traded_volume(events), "file": str(path)})
    return out


def read_sessions(paths: list[Path], num_proc: int = 1, half_life_s: float = DEFAULT_HALF_LIFE_S,
                  executions: str = "mid_only", book_context: str = "none") -> list[dict]:
    """Features of every session in ``paths``, with each instrument's average daily volume filled in.

    Args:
        paths: input files (see :func:`data_prep.sources.expand_paths`).
        num_proc: worker processes (files are read in parallel).
        executions, book_context: see :func:`data_prep.features.session_features`.

    Returns:
        One dict per session, sorted by (instrument, date): ``instrument``, ``date``, ``features``
        (FEATURE_SCHEMA table), ``counts``, ``volume`` (shares traded), ``file``.

    Raises:
        data_prep.schema.DataFormatError: from the readers, naming file, row and field.
        ValueError: the same (instrument, date) session comes from two files.
    """
    options = {"executions": executions, "book_context": book_context}
    if num_proc > 1 and len(paths) > 1:
        with ProcessPoolExecutor(num_proc) as pool:
            results = list(tqdm(pool.map(_file_sessions, paths, [half_life_s] * len(paths),
                                         [options] * len(paths)), total=len(paths),
                                desc="read + features", unit="file"))
    else:
        results = [_file_sessions(p, half_life_s, options)
                   for p in tqdm(paths, desc="read + features", unit="file")]
    found = sorted((s for r in results for s in r), key=lambda s: (s["instrument"], s["date"]))
    seen = {}
    for s in found:
        key = (s["instrument"], s["date"])
        if key in seen:
            raise ValueError(f"session {key} appears in both {seen[key]} and {s['file']}: pass each session once")
        seen[key] = s["file"]
    volumes: dict[str, list[float]] = {}
    for s in found:
        volumes.setdefault(s["instrument"], []).append(s["volume"])
    for s in found:
        adv = np.full(s["features"].num_rows, float(np.mean(volumes[s["instrument"]])))
        idx = s["features"].schema.get_field_index("average_daily_volume")
        s["features"] = s["features"].set_column(idx, "average_daily_volume", pa.array(adv))
    return found


def time_split_ranges(n_events: int, val_fraction: float, test_fraction: float,
                      split_blocks: int = 1) -> dict[str, list[tuple[int, int]]]:
    """Event index ranges ``[lo, hi)`` of each split when one session is split by time: the session is cut
    into ``split_blocks`` equal blocks and each block ends with its validation then its test share."""
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in SPLITS}
    edges = np.linspace(0, n_events, split_blocks + 1).round().astype(int)
    for start, end in zip(edges[:-1], edges[1:]):
        n = end - start
        n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
        for name, lo, hi in (("train", 0, n - n_val - n_test), ("validation", n - n_val - n_test, n - n_test),
                             ("test", n - n_test, n)):
            if hi > lo:
                out[name].append((start + lo, start + hi))
    return out


def split_sessions(found: list[dict], val_days: int, test_days: int, val_fraction: float, test_fraction: float,
                   holdout_instruments=(), split_blocks: int = 1) -> tuple[dict[str, list[dict]], str]:
    """Assign sessions (or their time slices) to splits; see the module docstring.

    ``split_blocks`` (intra-session mode): cut each session into this many equal blocks of events and
    take the validation and test fractions from the end of every block, so all splits span the whole
    trading day (blocked hold-out for time series); 1 = one contiguous tail.

    Returns:
        ``(parts, mode)``: split name → list of ``{"instrument", "date", "features"}`` segments, and
        ``"by_date"`` or ``"intra_session"``.
    """
    parts: dict[str, list[dict]] = {name: [] for name in SPLITS}
    holdout = set(holdout_instruments)
    if holdout:
        parts["heldout"] = []
    inside = [s for s in found if s["instrument"] not in holdout]
    dates = sorted({s["date"] for s in inside})
    by_date = len(dates) > val_days + test_days
    mode = "by_date" if by_date else "intra_session"
    test_dates = set(dates[len(dates) - test_days:]) if by_date and test_days else set()
    val_dates = set(dates[len(dates) - test_days - val_days:len(dates) - test_days]) if by_date else set()
    for s in found:
        seg = {"instrument": s["instrument"], "date": s["date"]}
        if s["instrument"] in holdout:
            parts["heldout"].append({**seg, "features": s["features"]})
        elif by_date:
            name = "test" if s["date"] in test_dates else "validation" if s["date"] in val_dates else "train"
            parts[name].append({**seg, "features": s["features"]})
        else:
            for name, ranges in time_split_ranges(s["features"].num_rows, val_fraction, test_fraction,
                                                  split_blocks).items():
                parts[name] += [{**seg, "features": s["features"].slice(lo, hi - lo)} for lo, hi in ranges]
    return parts, mode


def prepare(data, output_dir, *, calib_days: int = 30, val_days: int = 1, test_days: int = 1,
            val_fraction: float = 0.1, test_fraction: float = 0.1, split_blocks: int = 1, holdout_instruments=(),
            context_length: int = 1024, stride: int | None = None, tokenizer=None, num_shards: int | None = None,
            num_proc: int = 1, shard_count: int = 1, shard_index: int = 0, half_life_s: float = DEFAULT_HALF_LIFE_S,
            outlier_mode: str = "clamp", executions: str | None = None, book_context: str | None = None) -> Path:
    """Prepare tokenized shards from raw files (see the module docstring).

    Args:
        data: file, directory or glob, or a list of them (``data_prep.sources.expand_paths``).
        output_dir: destination; replaced atomically when the run succeeds.
        calib_days: leading trading days of the training split the tokenizer is calibrated on.
        val_days, test_days: trailing dates held out (date split).
        val_fraction, test_fraction: per-session time fractions held out when there are too few dates.
        split_blocks: blocks per session for that time split (see :func:`split_sessions`).
        holdout_instruments: instruments kept whole in a ``heldout`` split.
        context_length: tokens per window (1,024 in the paper).
        stride: tokens between the starts of consecutive *training* windows; default (and at most) the context
            length, i.e. no overlap. A smaller stride gives overlapping training windows, so each event is
            learnt at several positions of the context. Held-out splits are always cut without overlap, so
            that every held-out event is scored once.
        tokenizer: a calibrated ``TradeFMTokenizer`` or its directory; required with ``shard_count > 1``
            (every machine must encode with the same frozen bins).
        num_shards: Arrow shards per split (default: ``datasets`` picks by size).
        num_proc: worker processes for reading.
        shard_count, shard_index: prepare only files ``shard_index::shard_count`` (scale-out; outputs of
            the K parts load together with ``datasets.concatenate_datasets``).
        executions: how executions enter the model events (:data:`data_prep.features.EXECUTION_MODES`);
            default: the frozen tokenizer's, else ``"mid_only"`` (the paper's). Recorded in the tokenizer,
            so generation and evaluation build real prompts and references the same way.
        book_context: book state added to the context (:data:`data_prep.features.BOOK_CONTEXTS`); default: the
            frozen tokenizer's, else ``"none"`` (the paper's three features). Recorded like ``executions``.

    Returns:
        ``Path(output_dir)``.

    Raises:
        DataFormatError, ValueError: bad input (see the readers), no input files, no training events,
            ``executions`` or ``book_context`` differing from the frozen tokenizer's.
    """
    from datasets import DatasetDict

    from tokenization import FEATURE_OPTION_DEFAULTS, TradeFMTokenizer

    started = time.perf_counter()
    output_dir = Path(output_dir)
    paths = expand_paths(data)
    if shard_count > 1:
        if tokenizer is None:
            raise ValueError("shard_count > 1 needs a tokenizer calibrated beforehand (tokenizer=DIR)")
        paths = paths[shard_index::shard_count]
    if not paths:
        raise ValueError(f"no input files match {data!r}" + (f" for shard {shard_index}/{shard_count}"
                                                              if shard_count > 1 else ""))
    stride = stride or context_length
    if not 1 <= stride <= context_length:
        raise ValueError(f"stride must be in [1, context_length={context_length}], got {stride}")
    if tokenizer is not None and not isinstance(tokenizer, TradeFMTokenizer):
        tokenizer = TradeFMTokenizer.from_pretrained(tokenizer)
    options = {"executions": executions, "book_context": book_context}
    if tokenizer is not None:
        for name, frozen in tokenizer.feature_options.items():
            if options[name] not in (None, frozen):
                raise ValueError(f"{name}={options[name]!r} but the frozen tokenizer was calibrated with "
                                 f"{frozen!r}: its model events would differ from training")
        options = tokenizer.feature_options
    options = {name: value or FEATURE_OPTION_DEFAULTS[name] for name, value in options.items()}
    found = read_sessions(paths, num_proc, half_life_s, **options)
    parts, mode = split_sessions(found, val_days, test_days, val_fraction, test_fraction, holdout_instruments,
                                 split_blocks)
    if mode == "intra_session":
        logger.warning("only %d date(s): splitting each session by time (val %.0f%%, test %.0f%%)",
                       len({s["date"] for s in found}), 100 * val_fraction, 100 * test_fraction)
    if tokenizer is None:
        if not parts["train"]:
            raise ValueError("no training events to calibrate the tokenizer on")
        train = pa.concat_tables([p["features"] for p in parts["train"]])
        tokenizer = TradeFMTokenizer.calibrate(train, calib_days=calib_days, outlier_mode=outlier_mode, **options)

    clamped: Counter = Counter()
    splits, tokens = {}, {}
    for name, segments in parts.items():
        encoded = []
        for seg in tqdm(segments, desc=f"tokenize {name}", unit="session", leave=False):
            enc = tokenizer.encode_events(seg["features"])
            clamped.update(enc["clamped"])
            encoded.append({"instrument": seg["instrument"], "date": seg["date"], "input_ids": enc["input_ids"],
                            "context_ids": enc["context_ids"]})
        tokens[name] = int(sum(len(e["input_ids"]) for e in encoded))
        split_stride = stride if name == "train" else context_length
        splits[name] = to_dataset(windows_table(encoded, context_length, split_stride, tokenizer.pad_token_id),
                                  context_length)

    counts: Counter = Counter()
    for s in found:
        counts.update(s["counts"])
    summary = {
        "files": [str(p) for p in paths], "sessions": [[s["instrument"], s["date"]] for s in found],
        "split_mode": mode, "split_blocks": split_blocks, "val_fraction": val_fraction,
        "test_fraction": test_fraction, "events": dict(counts), "tokens": tokens,
        "windows": {name: ds.num_rows for name, ds in splits.items()}, "clamped": dict(clamped),
        "context_length": context_length, "stride": stride, "heldout_stride": context_length,
        **options,
        "seconds": round(time.perf_counter() - started, 3),
        "shard": [shard_index, shard_count],
    }
    tmp = output_dir.with_name(f".{output_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        dataset = DatasetDict({k: v for k, v in splits.items() if v.num_rows})  # empty splits load badly
        dataset.save_to_disk(str(tmp), num_shards={k: min(num_shards, v.num_rows) for k, v in dataset.items()}
                             if num_shards else None)
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        (tmp / "prep_summary.json").write_text(json.dumps(summary, indent=1))
        old = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
        if output_dir.exists():
            output_dir.rename(old)
        tmp.rename(output_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return output_dir
