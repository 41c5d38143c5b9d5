"""Calibrated bins for one scalar feature (TradeFM §6, Algorithm 1).

A :class:`FieldBins` holds ``n_bins + 1`` edges on a *transformed* scale:

* ``"quantile"`` bins (δp, Δp): equal-frequency edges between the ``lower_pct`` and ``upper_pct``
  percentiles of the calibration sample (the paper drops values below the 1st and above the 99th
  percentile before computing the quantiles);
* ``"log_width"`` bins (size, Δt): equal-width edges on the log scale between the calibration minimum
  and the ``upper_pct`` percentile.

Transforms: ``"identity"`` (δp and Δp, fractions), ``"log1p"`` (size in shares → v = log(1 + V),
§5.3), ``"log_floor"`` (Δt in seconds → log(Δt + floor), floor = 1 µs by default, so the common Δt = 0
has a finite log; the paper leaves this open).

Each field also keeps, per bin, :data:`N_WITHIN_BIN` empirical quantiles of the calibration values that
fell in it (``within_bin``, raw units): turning a generated bin back into a number then draws from the
data's own distribution inside the bin — round lots (100 shares), the spike of simultaneous events
(Δt = 0), whole ticks — which a uniform draw over the bin's range smears out. Quantiles are taken with
``method="inverted_cdf"``, so every stored value was observed.

Values outside ``[edges[0], edges[-1]]`` are *clamped* into the edge bins (``outlier_mode="clamp"``) or,
with ``outlier_mode="edge_bins"``, the two edge bins are reserved for outliers and the ``n_bins − 2``
inner bins cover the calibrated range (the paper leaves the choice open; both are supported and the
choice is saved). Either way out-of-range values are counted by :meth:`FieldBins.digitize`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TRANSFORMS = ("identity", "log1p", "log_floor")
OUTLIER_MODES = ("clamp", "edge_bins")
DEFAULT_TIME_FLOOR_S = 1e-6
N_WITHIN_BIN = 32
MAX_COUNTED_EDGES = 64
"""Up to this many edges (and for at least as many values as edges) :func:`searchsorted_right` counts them
per value, faster than bisection."""


def searchsorted_right(edges, values) -> np.ndarray:
    """``np.searchsorted(edges, values, side="right")`` for non-decreasing ``edges``: the number of edges
    ``<= value`` (all of them for NaN), same shape as ``values``.

    Up to :data:`MAX_COUNTED_EDGES` edges it is counted with one vectorized comparison per edge, which for
    the few dozen edges of a field is several times faster than numpy's per-value bisection on a column of
    events; a handful of values (the simulator's one event per rollout and step) is bisected, since one
    comparison pass per edge costs more than the bisection itself there.
    """
    edges, values = np.asarray(edges, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(edges) > MAX_COUNTED_EDGES or values.size < len(edges):
        return np.searchsorted(edges, values, side="right")
    counts = np.zeros(values.shape, dtype=np.min_scalar_type(len(edges)))
    for edge in edges:
        counts += values >= edge
    nan = np.isnan(values)
    if nan.any():
        counts[nan] = len(edges)
    return counts


@dataclass
class FieldBins:
    """Frozen bin edges for one feature.

    Attributes:
        name: feature name (``"price_offset"``, ``"size"``, ``"inter_arrival"``, ``"mid_return_open"``).
        edges: non-decreasing floats on the transformed scale, ``edges[0]``/``edges[-1]`` the calibrated
            range's bounds: ``n_bins + 1`` of them with ``"clamp"``, ``n_bins − 1`` with ``"edge_bins"``.
        transform: one of :data:`TRANSFORMS`.
        outlier_mode: one of :data:`OUTLIER_MODES`.
        floor: additive floor of the ``"log_floor"`` transform (seconds); unused otherwise.
        within_bin: per bin, up to :data:`N_WITHIN_BIN` sorted empirical quantiles (raw units) of the
            calibration values in the bin (empty for a bin no value fell in); ``None`` when not fitted.
    """

    name: str
    edges: list[float]
    transform: str = "identity"
    outlier_mode: str = "clamp"
    floor: float = 0.0
    within_bin: list[list[float]] | None = None

    @property
    def n_bins(self) -> int:
        return len(self.edges) + (1 if self.outlier_mode == "edge_bins" else -1)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """Raw values (fraction, shares or seconds) → transformed scale, float64."""
        values = np.asarray(values, dtype=np.float64)
        if self.transform == "log1p":
            return np.log1p(values)
        if self.transform == "log_floor":
            return np.log(values + self.floor)
        return values

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Transformed scale → raw units (inverse of :meth:`forward`)."""
        values = np.asarray(values, dtype=np.float64)
        if self.transform == "log1p":
            return np.expm1(values)
        if self.transform == "log_floor":
            return np.maximum(np.exp(values) - self.floor, 0.0)
        return values

    def _inner_edges(self) -> np.ndarray:
        """Edges between bins (``n_bins − 1`` of them), on the transformed scale."""
        edges = np.asarray(self.edges, dtype=np.float64)
        if self.outlier_mode == "edge_bins":  # bin 0 = below edges[0], bin n-1 = at or above edges[-1]
            return edges
        return edges[1:-1]

    def digitize(self, values: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Map raw values to bins.

        Args:
            values: (N,) raw values (fraction, shares or seconds). NaN is not allowed.

        Returns:
            ``(bins, n_below, n_above)``: (N,) int64 bins in ``[0, n_bins)``, and the counts of values
            below ``edges[0]`` / above ``edges[-1]`` that were clamped into an edge bin.

        Raises:
            ValueError: if a value is NaN (the message gives the first position).
        """
        x = self.forward(values)
        if np.isnan(x).any():
            raise ValueError(f"{self.name}: NaN at position {int(np.flatnonzero(np.isnan(x))[0])}")
        bins = searchsorted_right(self._inner_edges(), x)
        n_below = int((x < self.edges[0]).sum())
        n_above = int((x > self.edges[-1]).sum())
        return bins.astype(np.int64), n_below, n_above

    def bin_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(n_bins,) lower and upper bounds of every bin, in raw units (edge bins end at the range)."""
        inner = self._inner_edges()
        if self.outlier_mode == "edge_bins":
            lower = np.concatenate([[-np.inf], inner])
            upper = np.concatenate([inner, [np.inf]])
        else:
            lower = np.concatenate([[self.edges[0]], inner])
            upper = np.concatenate([inner, [self.edges[-1]]])
        return self.inverse(lower), self.inverse(upper)

    def representatives(self) -> np.ndarray:
        """(n_bins,) one raw value per bin, used to turn a generated bin back into a number.

        Bin ``k`` holds ``inner[k-1] <= x < inner[k]`` on the transformed scale; its representative is
        the midpoint of that interval (the calibrated range closes the edge bins in ``"clamp"`` mode).
        An open-ended outlier bin (``"edge_bins"``) is represented by the range edge, and a zero-width
        bin by its left edge. Every non-empty bin's representative digitizes back to the bin.
        """
        inner = self._inner_edges()
        lower = np.concatenate([[np.nan], inner])
        upper = np.concatenate([inner, [np.nan]])
        if self.outlier_mode == "clamp":
            lower[0], upper[-1] = self.edges[0], self.edges[-1]
        centre = np.where(upper > lower, (lower + upper) / 2, lower)
        if not upper[0] > lower[0]:  # open or empty first bin: just below inner[0]
            centre[0] = inner[0] - 1e-9 * max(abs(inner[0]), 1.0)
        if not upper[-1] > lower[-1]:
            centre[-1] = inner[-1]
        return self.inverse(centre)

    def fit_within_bin(self, values, n_quantiles: int = N_WITHIN_BIN) -> "FieldBins":
        """Store, per bin, ``n_quantiles`` empirical quantiles (``inverted_cdf``) of ``values`` in the bin.

        Args:
            values: (N,) raw calibration values (fraction, shares or seconds); non-finite ones are ignored.

        Returns:
            ``self``, with :attr:`within_bin` set (a bin with fewer values than quantiles keeps them all).
        """
        x = np.asarray(values, dtype=np.float64)
        x = np.sort(x[np.isfinite(x)])
        bins = self.digitize(x)[0]
        levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
        within = []
        for k in range(self.n_bins):
            v = x[bins == k]
            within.append((v if len(v) <= n_quantiles else np.quantile(v, levels, method="inverted_cdf")).tolist())
        self.within_bin = within
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def _check(name: str, values: np.ndarray, n_bins: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if n_bins < 2:
        raise ValueError(f"{name}: n_bins must be >= 2, got {n_bins}")
    if values.size == 0:
        raise ValueError(f"{name}: no finite calibration values")
    return values


def quantile_bins(name: str, values, n_bins: int, lower_pct: float = 1.0, upper_pct: float = 99.0,
                  outlier_mode: str = "clamp") -> FieldBins:
    """Equal-frequency bins over the [lower_pct, upper_pct] percentile range (paper Alg. 1, δp and Δp).

    Args:
        values: raw calibration sample (fractions), any shape; non-finite values are ignored.
        n_bins: number of bins (16 for δp, 32 for Δp in the paper).

    Raises:
        ValueError: no finite values, or ``n_bins < 2``.
    """
    if outlier_mode not in OUTLIER_MODES:
        raise ValueError(f"{name}: unknown outlier_mode {outlier_mode!r}; expected one of {OUTLIER_MODES}")
    x = _check(name, values, n_bins)
    lo, hi = np.percentile(x, [lower_pct, upper_pct])
    trimmed = x[(x >= lo) & (x <= hi)]
    n_inner = n_bins - 2 if outlier_mode == "edge_bins" else n_bins
    edges = np.quantile(trimmed, np.linspace(0, 1, n_inner + 1))
    return FieldBins(name, [float(e) for e in edges], "identity", outlier_mode).fit_within_bin(x)


def log_width_bins(name: str, values, n_bins: int, transform: str, upper_pct: float = 99.0,
                   outlier_mode: str = "clamp", floor: float = 0.0) -> FieldBins:
    """Equal-width bins on the log scale from the minimum to the ``upper_pct`` percentile
    (paper Alg. 1, size and Δt).

    Args:
        values: raw calibration sample (shares or seconds, >= 0).
        transform: ``"log1p"`` (size) or ``"log_floor"`` (Δt, with ``floor`` seconds).

    Raises:
        ValueError: no finite values, ``n_bins < 2`` or an unknown transform.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"{name}: unknown transform {transform!r}; expected one of {TRANSFORMS}")
    if outlier_mode not in OUTLIER_MODES:
        raise ValueError(f"{name}: unknown outlier_mode {outlier_mode!r}; expected one of {OUTLIER_MODES}")
    bins = FieldBins(name, [0.0, 1.0], transform, outlier_mode, floor)
    raw = _check(name, values, n_bins)
    x = bins.forward(raw)
    lo, hi = float(x.min()), float(np.percentile(x, upper_pct))
    if not hi > lo:
        hi = lo + 1.0  # a constant sample: one unit of log scale keeps the bins well defined
    n_inner = n_bins - 2 if outlier_mode == "edge_bins" else n_bins
    edges = np.linspace(lo, hi, n_inner + 1)
    bins.edges = [float(e) for e in edges]
    return bins.fit_within_bin(raw)

