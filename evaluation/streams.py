"""The baselines' input and output (TradeFM §9): training events read from model-event feature tables, and
the event-stream table a fitted baseline emits.

* Input: ``data_prep.features`` tables (architecture.md, "Model-event features"), of which the baselines
  use ``ts_recv`` (UTC ns), ``action_id``, ``side_id``, ``price_offset`` (δp) and ``size`` (shares). A
  table may hold several (instrument, date) sessions, and a list of tables several contiguous segments
  (e.g. the training blocks of a blocked split); the segments are put on one clock with the gaps between
  them removed, so no overnight or held-out stretch counts as time without events.
* Output: :data:`STREAM_SCHEMA`, one row per model event, with the event dimension
  d = 2·side + action of :mod:`evaluation.event_marks` (buy-add, buy-cancel, sell-add, sell-cancel).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_prep.features import sessions
from data_prep.schema import DataFormatError

from .event_marks import EventMarks, dimension_of

TRAINING_COLUMNS = ("ts_recv", "action_id", "side_id", "price_offset", "size")
"""Feature columns the baselines are fitted on."""

STREAM_SCHEMA = pa.schema([("ts_ns", pa.int64()), ("action_id", pa.int8()), ("side_id", pa.int8()),
                           ("price_offset", pa.float64()), ("size", pa.int64()), ("inter_arrival", pa.float64())])
"""A baseline's output: UTC ns, 0 add / 1 cancel, 0 buy / 1 sell, δp (fraction of the mid), shares, and
seconds since the previous event (the first event's from the stream's start time)."""


@dataclass
class TrainingEvents:
    """Training events on one clock.

    Attributes:
        times_s: (N,) float64 seconds from the first event, non-decreasing, gaps between segments removed.
        dimension: (N,) int64 in 0..3. price_offset: (N,) float64 δp. size: (N,) int64 shares.
        n_segments: number of non-empty contiguous segments. duration_s: their total observed time (s).
    """

    times_s: np.ndarray
    dimension: np.ndarray
    price_offset: np.ndarray
    size: np.ndarray
    n_segments: int
    duration_s: float


def _checked_columns(segment, name: str) -> dict[str, np.ndarray]:
    present = segment.column_names if isinstance(segment, pa.Table) else list(segment)
    missing = [c for c in TRAINING_COLUMNS if c not in present]
    if missing:
        raise DataFormatError(name, f"missing feature column(s) {missing}", field=missing[0])
    cols = {c: np.asarray(segment.column(c).to_numpy() if isinstance(segment, pa.Table) else segment[c])
            for c in TRAINING_COLUMNS}
    checks = (("ts_recv", np.diff(cols["ts_recv"]) < 0, "time goes backwards", 1),
              ("action_id", ~np.isin(cols["action_id"], (0, 1)), "must be 0 (add) or 1 (cancel)", 0),
              ("side_id", ~np.isin(cols["side_id"], (0, 1)), "must be 0 (buy) or 1 (sell)", 0),
              ("price_offset", ~np.isfinite(cols["price_offset"].astype(np.float64)), "must be finite", 0),
              ("size", ~(cols["size"] > 0), "must be > 0 shares", 0))
    for field, bad, message, shift in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + shift
            raise DataFormatError(name, f"{message}, got {cols[field][row]!r}", row=row, field=field)
    return cols


def training_events(segments: pa.Table | Mapping | Sequence[pa.Table | Mapping]) -> TrainingEvents:
    """Collect training events from feature tables.

    Args:
        segments: a features table (or dict of arrays) with :data:`TRAINING_COLUMNS`, or a list of them;
            each is a contiguous stretch of events in time order. A table with ``instrument`` and ``date``
            columns is first split into its (instrument, date) sessions.

    Returns:
        :class:`TrainingEvents`: each segment starts where the previous one ended.

    Raises:
        DataFormatError: a column is missing, or a row has time going backwards, an action or side outside
            {0, 1}, a non-finite δp or a size ≤ 0 (the message names the segment, row and field).
        ValueError: there are no events.
    """
    if isinstance(segments, (pa.Table, Mapping)):
        segments = [segments]
    pieces = []
    for segment in segments:
        split = isinstance(segment, pa.Table) and {"instrument", "date"} <= set(segment.column_names)
        pieces += sessions(segment) if split else [segment]
    times, dims, dps, sizes, offset = [], [], [], [], 0.0
    for i, piece in enumerate(pieces):
        cols = _checked_columns(piece, f"training segment {i}")
        if not len(cols["ts_recv"]):
            continue
        t = (cols["ts_recv"] - cols["ts_recv"][0]) / 1e9
        times.append(offset + t)
        offset += float(t[-1])
        dims.append(dimension_of(cols["action_id"], cols["side_id"]))
        dps.append(cols["price_offset"].astype(np.float64))
        sizes.append(cols["size"].astype(np.int64))
    if not times:
        raise ValueError("no training events: every segment is empty")
    return TrainingEvents(np.concatenate(times), np.concatenate(dims), np.concatenate(dps), np.concatenate(sizes),
                          len(times), offset)


def event_stream(times_s: np.ndarray, dimension: np.ndarray, marks: EventMarks, rng: np.random.Generator,
                 start_ts_ns: int = 0) -> pa.Table:
    """A baseline's output table (:data:`STREAM_SCHEMA`).

    Args:
        times_s: (N,) non-decreasing event times, seconds after ``start_ts_ns`` (UTC ns).
        dimension: (N,) event dimensions 0..3.
        marks: δp and size model; its draws come from ``rng`` after the caller's.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    dimension = np.asarray(dimension, dtype=np.int64)
    price_offset, size = marks.sample(dimension, rng)
    return pa.table({"ts_ns": start_ts_ns + np.round(times_s * 1e9).astype(np.int64),
                     "action_id": (dimension % 2).astype(np.int8), "side_id": (dimension // 2).astype(np.int8),
                     "price_offset": price_offset, "size": size, "inter_arrival": np.diff(times_s, prepend=0.0)},
                     schema=STREAM_SCHEMA)


class Baseline:
    """What the fitted baselines share: seeded sampling into :data:`STREAM_SCHEMA` tables and plain-JSON
    state. A subclass sets ``name``, ``marks`` (:class:`EventMarks`) and ``fit_info``, implements
    ``simulate(n_events, rng) → (times_s, dimension)`` and ``parameters() → dict`` (its constructor's other
    arguments, JSON-ready)."""

    name = "baseline"

    def sample(self, n_events: int, seed: int = 0, start_ts_ns: int = 0) -> pa.Table:
        """``n_events`` marked events starting at ``start_ts_ns`` (UTC ns), as a :data:`STREAM_SCHEMA` table;
        the same seed gives the same table."""
        rng = np.random.default_rng(seed)
        times, dimension = self.simulate(n_events, rng)
        return event_stream(times, dimension, self.marks, rng, start_ts_ns)

    def to_json(self) -> str:
        """Plain-JSON state (parameters, marks, fit report)."""
        return json.dumps({"type": self.name, **self.parameters(), "marks": self.marks.to_dict(),
                           "fit_info": self.fit_info})

    @classmethod
    def from_json(cls, text: str):
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: the JSON is another baseline's.
        """
        state = json.loads(text)
        if state.pop("type", None) != cls.name:
            raise ValueError(f"not a {cls.name} baseline: {text[:80]!r}")
        marks = EventMarks.from_dict(state.pop("marks"))
        return cls(**state, marks=marks)
