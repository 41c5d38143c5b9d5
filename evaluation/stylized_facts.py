"""Stylized facts of mid-price returns (TradeFM §9): heavy tails, no return autocorrelation, volatility
clustering. Statistics from numpy/scipy; inputs are book series (``ts_ns`` int64 UTC ns, ``mid`` dollars).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

DEFAULT_INTERVALS_S = (10, 30, 60, 120)
"""The paper's clock intervals for log returns, seconds (Table 2)."""


def clock_returns(ts_ns: np.ndarray, mid: np.ndarray, interval_s: float) -> np.ndarray:
    """Log returns of the mid sampled every ``interval_s`` seconds (the last mid at or before each grid time).

    Args:
        ts_ns: (N,) int64 non-decreasing times, ns. mid: (N,) float64 dollars (NaN = undefined, skipped).

    Returns:
        (K,) float64 log returns between consecutive grid points (empty when the series spans less than
        one interval).
    """
    ok = np.isfinite(mid) & (mid > 0)
    ts_ns, mid = np.asarray(ts_ns)[ok], np.asarray(mid)[ok]
    if len(ts_ns) < 2:
        return np.zeros(0)
    step = int(interval_s * 1e9)
    grid = np.arange(ts_ns[0], ts_ns[-1] + 1, step)
    if len(grid) < 2:
        return np.zeros(0)
    sampled = mid[np.searchsorted(ts_ns, grid, side="right") - 1]
    return np.diff(np.log(sampled))


def event_returns(mid: np.ndarray) -> np.ndarray:
    """Log returns between consecutive defined mids, in event time (zeros kept)."""
    mid = np.asarray(mid, dtype=np.float64)
    mid = mid[np.isfinite(mid) & (mid > 0)]
    return np.diff(np.log(mid))


def autocorrelation(x: np.ndarray, max_lag: int = 20) -> tuple[np.ndarray, float]:
    """Sample autocorrelation at lags 1..max_lag and the ±1.96/√n white-noise band.

    Returns:
        ``(acf, band)``: (max_lag,) float64 (NaN where undefined) and the band half-width.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    acf = np.full(max_lag, np.nan)
    if n < 3 or np.var(x) == 0:
        return acf, np.nan
    x = x - x.mean()
    denom = np.dot(x, x)
    for lag in range(1, min(max_lag, n - 1) + 1):
        acf[lag - 1] = np.dot(x[:-lag], x[lag:]) / denom
    return acf, 1.96 / np.sqrt(n)


def excess_kurtosis(x: np.ndarray) -> float:
    """Fisher (excess) kurtosis, ``scipy.stats.kurtosis``; 0 for a Gaussian, NaN with < 4 values."""
    x = np.asarray(x, dtype=np.float64)
    return float(stats.kurtosis(x)) if len(x) >= 4 and np.var(x) > 0 else float("nan")


def pooled_returns(series: list[tuple[np.ndarray, np.ndarray]], interval_s: float | None) -> np.ndarray:
    """Returns of many (ts_ns, mid) windows, pooled (returns never span two windows); ``None`` = event time."""
    parts = [event_returns(mid) if interval_s is None else clock_returns(ts, mid, interval_s) for ts, mid in series]
    return np.concatenate(parts) if parts else np.zeros(0)


def stylized_facts(series: list[tuple[np.ndarray, np.ndarray]], intervals=DEFAULT_INTERVALS_S,
                   max_lag: int = 20) -> dict:
    """Kurtosis by interval, and ACFs of event-time returns and absolute returns, for pooled windows.

    Returns:
        dict: ``kurtosis`` {interval label: excess kurtosis}, ``n_returns`` {label: count}, ``acf_returns``,
        ``acf_abs_returns`` (lists, lags 1..max_lag), ``acf_band``.
    """
    out = {"kurtosis": {}, "n_returns": {}}
    for interval in (*intervals, None):
        label = "event" if interval is None else f"{interval}s"
        r = pooled_returns(series, interval)
        out["kurtosis"][label] = excess_kurtosis(r)
        out["n_returns"][label] = int(len(r))
    r = pooled_returns(series, None)
    nonzero = r[r != 0]
    acf, band = autocorrelation(nonzero, max_lag)
    acf_abs, _ = autocorrelation(np.abs(nonzero), max_lag)
    out.update(acf_returns=acf.tolist(), acf_abs_returns=acf_abs.tolist(), acf_band=band)
    return out
