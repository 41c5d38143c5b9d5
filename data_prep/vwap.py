"""The paper's mid-price estimator: an exponentially weighted VWAP of execution prints.

TradeFM §5.3 / App. A.4 defines p̂_mid as the ratio of two exponentially weighted sums over trades and
fills, N_t = α·p·v + (1−α)·N_{t−1} and D_t = α·v + (1−α)·D_{t−1}, p̂ = N/D, with α set from a time-based
half-life. We use the continuous-time form of that recursion: between two prints both sums decay by
``2 ** (-Δt / half_life)``, and a print of ``v`` shares at price ``p`` adds ``p·v`` and ``v``:

    N ← N·2^(−Δt/h) + p·v,     D ← D·2^(−Δt/h) + v,     p̂ = N / D.

The common factor α cancels in the ratio N/D, and the ratio does not change while no print arrives,
so p̂ is piecewise constant between prints. The same class serves the data pipeline (vectorized over a
session by :func:`ew_vwap_mid`) and the order-book simulator (one print at a time), so training features
and simulated books use one formula.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_HALF_LIFE_S = 10.0
"""Half-life of the print weights, in seconds (the paper leaves it open; 10 s is our default)."""


class EWVWAP:
    """Stateful EW-VWAP mid-price estimator (TradeFM §5.3).

    Args:
        half_life_s: half-life of a print's weight, seconds (> 0).
        initial_mid: value of :attr:`mid` before the first print (dollars), e.g. the opening book's
            midpoint; ``nan`` when unknown.

    Raises:
        ValueError: if ``half_life_s`` is not positive.
    """

    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S, initial_mid: float = math.nan):
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
        self.half_life_ns = half_life_s * 1e9
        self.numerator = 0.0
        self.denominator = 0.0
        self.last_ts_ns: int | None = None
        self.initial_mid = initial_mid

    def update(self, ts_ns: int, price: float, size: float) -> float:
        """Add one execution print and return the new mid.

        Args:
            ts_ns: print time, ns (non-decreasing across calls).
            price: execution price, dollars (or ticks: the estimator is unit-free).
            size: executed quantity, shares or contracts (> 0; prints of size 0 are ignored).
        """
        return float(self.update_many((ts_ns,), (price,), (size,))[0])

    def update_many(self, ts_ns, price, size) -> np.ndarray:
        """Add prints one after another and return the mid after each (the recursion of the module docstring).

        Args:
            ts_ns, price, size: (K,) arrays or sequences as in :meth:`update`, in time order.

        Returns:
            (K,) float64 mids, same unit as ``price``.

        The decays ``2 ** (−Δt / h)`` and the products ``p·v`` are formed over the whole batch first (numpy);
        the loop is then two multiply-adds per print in plain float arithmetic, each rounded as the recursion
        rounds it, so a batch gives the same mids as its prints added one by one.
        """
        ts = np.asarray(ts_ns, dtype=np.int64)
        if not len(ts):
            return np.zeros(0)
        volume = np.asarray(size, dtype=np.float64)
        counted = volume > 0
        weighted = np.where(counted, np.asarray(price, dtype=np.float64) * volume, 0.0).tolist()
        volume = np.where(counted, volume, 0.0).tolist()
        gaps = np.diff(ts, prepend=ts[0] if self.last_ts_ns is None else self.last_ts_ns)
        decays = np.power(2.0, -gaps / self.half_life_ns).tolist()
        numerator, denominator = self.numerator, self.denominator
        numerators: list[float] = []
        denominators: list[float] = []
        for decay, pv, v in zip(decays, weighted, volume):
            numerator = numerator * decay + pv
            denominator = denominator * decay + v
            numerators.append(numerator)
            denominators.append(denominator)
        self.numerator, self.denominator, self.last_ts_ns = numerator, denominator, int(ts[-1])
        numerators, denominators = np.fromiter(numerators, float, len(ts)), np.fromiter(denominators, float, len(ts))
        return np.divide(numerators, denominators, out=np.full(len(ts), float(self.initial_mid)),
                         where=denominators > 0)

    @property
    def mid(self) -> float:
        """Current estimate (same unit as the prices given); ``initial_mid`` before any print."""
        if self.denominator <= 0:
            return self.initial_mid
        return self.numerator / self.denominator


def ew_vwap_mid(
    ts_ns: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    is_print: np.ndarray,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
    initial_mid: float = math.nan,
) -> np.ndarray:
    """EW-VWAP mid seen by each event of one session, *before* the event itself is applied.

    Args:
        ts_ns: (N,) int64 event times, ns, non-decreasing.
        price: (N,) float64 dollars; read only where ``is_print``.
        size: (N,) int64 shares; read only where ``is_print``.
        is_print: (N,) bool, True for executions (trades or fills) that update the estimator.
        half_life_s: see :class:`EWVWAP`.
        initial_mid: mid before the first print (dollars); events before it get this value, or the
            first print's price when ``initial_mid`` is NaN.

    Returns:
        (N,) float64 mid-price in dollars: event ``i`` sees the estimator after all prints ``j < i``.

    The loop runs over prints only (a few % of events); every other event takes the value by index.
    """
    prints = np.flatnonzero(is_print)
    if initial_mid != initial_mid and len(prints):  # NaN: back-fill with the first print's price
        initial_mid = float(price[prints[0]])
    estimator = EWVWAP(half_life_s, initial_mid)
    after_print = estimator.update_many(ts_ns[prints], price[prints], size[prints])
    # Number of prints strictly before each event: 0 → initial_mid, k → value after the k-th print.
    n_before = np.cumsum(is_print) - is_print
    return np.concatenate([[initial_mid], after_print])[n_before]
