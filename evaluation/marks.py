"""Marks of the baselines (TradeFM §9): a Gaussian mixture for δp and an exponential for volume, per
event dimension (buy-add, buy-cancel, sell-add, sell-cancel). Mixtures are fitted with scikit-learn's
``GaussianMixture``; the state is plain JSON.
"""

from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

DIMENSIONS = ("buy_add", "buy_cancel", "sell_add", "sell_cancel")
"""Dimension d = 2·side + action (side 0 buy / 1 sell, action 0 add / 1 cancel)."""


def dimension_of(action_id, side_id) -> np.ndarray:
    """(N,) int dimension index of events (see :data:`DIMENSIONS`)."""
    return 2 * np.asarray(side_id, dtype=np.int64) + np.asarray(action_id, dtype=np.int64)


class MarkModel:
    """Per-dimension marks: δp ~ Gaussian mixture, size ~ 1 + Exponential(mean − 1) shares (≥ 1).

    Fit with :meth:`fit`; sample with :meth:`sample`; serialise with :meth:`to_dict` / :meth:`from_dict`.
    """

    def __init__(self, mixtures: list[dict], size_means: list[float]):
        self.mixtures, self.size_means = mixtures, size_means

    @classmethod
    def fit(cls, dimension: np.ndarray, price_offset: np.ndarray, size: np.ndarray, n_components: int = 3,
            seed: int = 0) -> "MarkModel":
        """Fit on training events.

        Args:
            dimension: (N,) ints in 0..3. price_offset: (N,) δp fractions. size: (N,) shares.

        Raises:
            ValueError: a dimension has fewer than ``n_components`` events.
        """
        mixtures, size_means = [], []
        for d in range(len(DIMENSIONS)):
            dp = np.asarray(price_offset, dtype=np.float64)[dimension == d]
            if len(dp) < n_components:
                raise ValueError(f"dimension {DIMENSIONS[d]} has {len(dp)} events: too few to fit marks")
            lo, hi = np.percentile(dp, [0.5, 99.5])  # the paper's calibration also trims the tails
            gm = GaussianMixture(n_components, random_state=seed).fit(dp[(dp >= lo) & (dp <= hi)][:, None])
            mixtures.append({"weights": gm.weights_.tolist(), "means": gm.means_[:, 0].tolist(),
                             "stds": np.sqrt(gm.covariances_.reshape(-1)).tolist()})
            size_means.append(float(np.mean(np.asarray(size)[dimension == d])))
        return cls(mixtures, size_means)

    def sample(self, dimension: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """δp (fractions) and sizes (shares, int64 ≥ 1) for events of the given dimensions."""
        dimension = np.asarray(dimension, dtype=np.int64)
        dp, size = np.empty(len(dimension)), np.empty(len(dimension), dtype=np.int64)
        for d in range(len(DIMENSIONS)):
            idx = np.flatnonzero(dimension == d)
            m = self.mixtures[d]
            comp = rng.choice(len(m["weights"]), size=len(idx), p=np.asarray(m["weights"]) / np.sum(m["weights"]))
            dp[idx] = rng.normal(np.asarray(m["means"])[comp], np.asarray(m["stds"])[comp])
            size[idx] = 1 + np.floor(rng.exponential(max(self.size_means[d] - 1, 1e-9), len(idx))).astype(np.int64)
        return dp, size

    def to_dict(self) -> dict:
        return {"mixtures": self.mixtures, "size_means": self.size_means}

    @classmethod
    def from_dict(cls, state: dict) -> "MarkModel":
        return cls(state["mixtures"], state["size_means"])
