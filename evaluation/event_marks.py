"""Marks of the baselines' events (TradeFM §9), per dimension (buy-add, buy-cancel, sell-add, sell-cancel):
δp from a Gaussian mixture, volume from an exponential.

* δp: scikit-learn ``GaussianMixture`` fitted to the dimension's δp between its 0.5th and 99.5th
  percentiles (the paper's tokenizer calibration trims the tails likewise, §6), after standardising them:
  the mixture's variance floor ``reg_covar`` (1e-6) is absolute, and on raw δp (σ ≈ 4e-4 for AMZN) it
  would widen every component to σ ≥ 1e-3. The number of components is open in the paper (3 by default).
* Size: ⌈Exponential⌉, i.e. Geometric(1 / mean) on {1, 2, …} shares — the maximum-likelihood fit, so the
  mean size is kept even for contracts traded one or two at a time.

The event dimensions are :data:`DIMENSIONS`.
"""

from __future__ import annotations

import numpy as np

DIMENSIONS = ("buy_add", "buy_cancel", "sell_add", "sell_cancel")
"""Event dimension d = 2·side + action (side 0 buy / 1 sell, action 0 add / 1 cancel)."""


def dimension_of(action_id, side_id) -> np.ndarray:
    """(N,) int64 dimension (see :data:`DIMENSIONS`) of events with (N,) ``action_id`` and ``side_id``."""
    return 2 * np.asarray(side_id, dtype=np.int64) + np.asarray(action_id, dtype=np.int64)


class EventMarks:
    """Per-dimension δp mixtures and mean sizes.

    Args:
        mixtures: per dimension, ``{"weights", "means", "stds"}`` lists (δp as fractions of the mid).
        size_means: per dimension, mean size in shares (≥ 1).
    """

    def __init__(self, mixtures: list[dict], size_means: list[float]):
        if len(mixtures) != len(DIMENSIONS) or len(size_means) != len(DIMENSIONS):
            raise ValueError(f"need one mixture and one mean size per dimension {DIMENSIONS}")
        if min(size_means) < 1:
            raise ValueError(f"mean sizes must be ≥ 1 share, got {size_means}")
        self.mixtures, self.size_means = mixtures, [float(m) for m in size_means]

    @classmethod
    def fit(cls, dimension: np.ndarray, price_offset: np.ndarray, size: np.ndarray, n_components: int = 3,
            seed: int = 0) -> "EventMarks":
        """Fit on training events.

        Args:
            dimension: (N,) ints in 0..3. price_offset: (N,) δp fractions. size: (N,) shares (≥ 1).
            seed: seeds the mixtures' initialisation (the fit is deterministic given it).

        Raises:
            ValueError: a dimension has fewer than ``10 · n_components`` events.
        """
        from sklearn.mixture import GaussianMixture

        dimension = np.asarray(dimension)
        price_offset, size = np.asarray(price_offset, dtype=np.float64), np.asarray(size, dtype=np.float64)
        mixtures, size_means = [], []
        for d, name in enumerate(DIMENSIONS):
            dp = price_offset[dimension == d]
            if len(dp) < 10 * n_components:
                raise ValueError(f"dimension {name} has {len(dp)} events: too few for {n_components} components")
            lo, hi = np.percentile(dp, [0.5, 99.5])
            dp = dp[(dp >= lo) & (dp <= hi)]
            centre, scale = dp.mean(), dp.std() or 1.0
            gm = GaussianMixture(n_components, random_state=seed).fit(((dp - centre) / scale)[:, None])
            mixtures.append({"weights": gm.weights_.tolist(), "means": (centre + scale * gm.means_[:, 0]).tolist(),
                             "stds": (scale * np.sqrt(gm.covariances_.reshape(-1))).tolist()})
            size_means.append(float(size[dimension == d].mean()))
        return cls(mixtures, size_means)

    def sample(self, dimension: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Marks of events of the given (N,) dimensions: δp (N,) float64 fractions and size (N,) int64 shares."""
        dimension = np.asarray(dimension, dtype=np.int64)
        dp, size = np.empty(len(dimension)), np.empty(len(dimension), dtype=np.int64)
        for d in range(len(DIMENSIONS)):
            idx = np.flatnonzero(dimension == d)
            weights, means, stds = (np.asarray(self.mixtures[d][k]) for k in ("weights", "means", "stds"))
            component = rng.choice(len(weights), size=len(idx), p=weights / weights.sum())
            dp[idx] = rng.normal(means[component], stds[component])
            size[idx] = rng.geometric(1.0 / self.size_means[d], len(idx))
        return dp, size

    def to_dict(self) -> dict:
        """Plain-JSON state."""
        return {"mixtures": self.mixtures, "size_means": self.size_means}

    @classmethod
    def from_dict(cls, state: dict) -> "EventMarks":
        """Inverse of :meth:`to_dict`."""
        return cls(state["mixtures"], state["size_means"])
