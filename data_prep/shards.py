"""Fixed-length training windows and their Arrow ``datasets`` shards.

A *segment* is the token stream of one (instrument, date) session, or of one contiguous part of it when a
session is split by time. Windows of ``context_length`` tokens are cut from a segment every ``stride``
tokens and never cross a segment boundary; the segment's tail that no full window covers becomes one last
window, right-padded with ``<pad>`` and ``attention_mask = 0``.

Columns (see ``docs/architecture.md``): ``input_ids`` (list<int32>, L), ``context_ids`` (list<list<int32>>,
L × C, C = the tokenizer's context features, 3 or 4), ``attention_mask`` (list<int8>, L), ``instrument``
(string), ``date`` (string), ``start`` (int64).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash
from numpy.lib.stride_tricks import sliding_window_view

N_CONTEXT = 3
"""Context features per position unless a segment's ``context_ids`` say otherwise (the paper's three)."""


def window_starts(n_tokens: int, context_length: int, stride: int) -> np.ndarray:
    """Start offsets of the windows of one segment of ``n_tokens`` tokens.

    Full windows start at ``0, stride, 2·stride, …`` while they fit; if tokens remain after the last full
    window, one more (padded) window starts ``stride`` after it. A segment shorter than ``context_length``
    gives one padded window at 0, an empty segment none.

    Raises:
        ValueError: ``stride`` not in ``[1, context_length]`` (larger strides would drop tokens).
    """
    if not 1 <= stride <= context_length:
        raise ValueError(f"stride must be in [1, context_length={context_length}], got {stride}")
    if n_tokens == 0:
        return np.zeros(0, dtype=np.int64)
    n_full = max(0, (n_tokens - context_length) // stride + 1)
    starts = np.arange(n_full, dtype=np.int64) * stride
    last_end = starts[-1] + context_length if n_full else 0
    if last_end < n_tokens:
        starts = np.append(starts, starts[-1] + stride if n_full else 0)
    return starts


def segment_windows(input_ids: np.ndarray, context_ids: np.ndarray, context_length: int, stride: int,
                    pad_token_id: int) -> dict[str, np.ndarray]:
    """Cut one segment into windows.

    Args:
        input_ids: (N,) int composite ids.
        context_ids: (N, C) int context ids.
        pad_token_id: id written into padded positions (their context is 0).

    Returns:
        dict with ``input_ids`` (W, L) int32, ``context_ids`` (W, L, C) int32, ``attention_mask`` (W, L) int8
        and ``start`` (W,) int64.
    """
    n = len(input_ids)
    starts = window_starts(n, context_length, stride)
    padded_ids = np.full(n + context_length, pad_token_id, dtype=np.int32)
    padded_ids[:n] = input_ids
    n_context = context_ids.shape[1]
    padded_ctx = np.zeros((n + context_length, n_context), dtype=np.int32)
    padded_ctx[:n] = context_ids
    mask = np.zeros(n + context_length, dtype=np.int8)
    mask[:n] = 1

    def windows(flat: np.ndarray, width: int) -> np.ndarray:  # rows flat[width·s : width·(s + L)] for each start s
        return sliding_window_view(flat, width * context_length)[width * starts]

    return {"input_ids": windows(padded_ids, 1), "attention_mask": windows(mask, 1),
            "context_ids": windows(padded_ctx.reshape(-1), n_context).reshape(len(starts), context_length, n_context),
            "start": starts}


def windows_table(segments: list[dict], context_length: int, stride: int, pad_token_id: int) -> pa.Table:
    """Arrow table of the windows of many segments.

    Args:
        segments: dicts with ``instrument`` (str), ``date`` (str ``YYYY-MM-DD``), ``input_ids`` (N,) and
            ``context_ids`` (N, C), one C for all.

    Returns:
        Table with the module's columns (fixed-size lists), one row per window, in segment order.

    Raises:
        ValueError: segments with different numbers of context features.
    """
    widths = {np.shape(s["context_ids"])[1] for s in segments} or {N_CONTEXT}
    if len(widths) > 1:
        raise ValueError(f"segments carry different numbers of context features: {sorted(widths)}")
    n_context = widths.pop()
    parts = [segment_windows(s["input_ids"], s["context_ids"], context_length, stride, pad_token_id)
             for s in segments]
    n = sum(len(p["start"]) for p in parts)

    def stacked(key, shape, dtype):
        return np.concatenate([p[key] for p in parts]) if parts else np.zeros((0, *shape), dtype)

    ids = stacked("input_ids", (context_length,), np.int32)
    ctx = stacked("context_ids", (context_length, n_context), np.int32)
    mask = stacked("attention_mask", (context_length,), np.int8)
    fixed = pa.FixedSizeListArray.from_arrays
    return pa.table({
        "input_ids": fixed(pa.array(ids.ravel(), pa.int32()), context_length),
        "context_ids": fixed(fixed(pa.array(ctx.ravel(), pa.int32()), n_context), context_length),
        "attention_mask": fixed(pa.array(mask.ravel(), pa.int8()), context_length),
        "instrument": pa.array([s["instrument"] for s, p in zip(segments, parts) for _ in p["start"]], pa.string()),
        "date": pa.array([s["date"] for s, p in zip(segments, parts) for _ in p["start"]], pa.string()),
        "start": pa.array(np.concatenate([p["start"] for p in parts]) if n else np.zeros(0, np.int64), pa.int64()),
    })


def dataset_features(context_length: int, n_context: int = N_CONTEXT):
    """``datasets.Features`` of a windows table of ``n_context`` context features (explicit, so int8/int32
    are not widened to int64)."""
    import datasets

    return datasets.Features({
        "input_ids": datasets.List(datasets.Value("int32"), length=context_length),
        "context_ids": datasets.List(datasets.List(datasets.Value("int32"), length=n_context), length=context_length),
        "attention_mask": datasets.List(datasets.Value("int8"), length=context_length),
        "instrument": datasets.Value("string"),
        "date": datasets.Value("string"),
        "start": datasets.Value("int64"),
    })


def to_dataset(table: pa.Table, context_length: int):
    """Wrap a windows table as a ``datasets.Dataset`` with :func:`dataset_features`.

    Its fingerprint is :func:`fingerprint` (datasets' default hashes a pickled copy of the whole table).
    """
    import datasets

    n_context = table.schema.field("context_ids").type.value_type.list_size
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=dataset_features(context_length, n_context)),
                            fingerprint=fingerprint(table))


def fingerprint(table: pa.Table) -> str:
    """Content hash of a table: xxh3-128 (hex) of its schema, chunk offsets and lengths, and buffers."""
    digest = xxhash.xxh3_128(table.schema.to_string().encode())
    for column in table.columns:
        for chunk in column.chunks:
            digest.update(f"{chunk.offset}:{len(chunk)}".encode())
            for buffer in chunk.buffers():
                if buffer is not None:
                    digest.update(buffer)
    return digest.hexdigest()
