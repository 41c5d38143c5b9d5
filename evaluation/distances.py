"""Distances between generated and real samples (TradeFM Tables 2 and 3; LOB-Bench's normalisation).

* Kolmogorov–Smirnov statistic and p-value: ``scipy.stats.ks_2samp``; with it the statistic's 95% critical
  value for the two sample sizes, ``K⁻¹(0.05)·√((n + m)/(n·m))`` (the asymptotic two-sample bound,
  ``scipy.special.kolmogi``): a K-S below it is within sampling noise of a perfect generator, so a
  ratio of two such distances says little.
* The K-S a perfect generator would score on average (:func:`perfect_ks`): the mean statistic between two
  samples of the real sample's sizes drawn from the real data itself. It bounds what a distance ratio can
  show: no generator can expect an error below it, so ``baseline K-S / perfect_ks`` is the largest
  ``baseline / generator`` ratio the data can resolve.
* Wasserstein-1: ``scipy.stats.wasserstein_distance`` — raw for log returns (Table 2), and on values
  normalised by the *real* sample's mean and standard deviation for order-flow and book quantities
  (Table 3, as LOB-Bench does), so that features of different units are comparable.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def distance(real: np.ndarray, generated: np.ndarray, normalise: bool = False) -> dict:
    """K-S statistic and W1 between two samples (NaN/inf dropped).

    Args:
        normalise: z-score both samples with the real sample's mean and std before W1.

    Returns:
        ``{"ks", "ks_pvalue", "ks_critical_95", "w1": float, "n_real", "n_generated": int}``; NaNs when a
        sample is empty.
    """
    real = np.asarray(real, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    real, generated = real[np.isfinite(real)], generated[np.isfinite(generated)]
    out = {"n_real": int(len(real)), "n_generated": int(len(generated))}
    if not len(real) or not len(generated):
        return {**out, "ks": float("nan"), "ks_pvalue": float("nan"), "ks_critical_95": float("nan"),
                "w1": float("nan")}
    test = stats.ks_2samp(real, generated)
    n, m = len(real), len(generated)
    out.update(ks_pvalue=float(test.pvalue),
               ks_critical_95=float(special.kolmogi(0.05) * np.sqrt((n + m) / (n * m))))
    ks = test.statistic
    if normalise:
        scale = real.std() or 1.0
        real, generated = (real - real.mean()) / scale, (generated - real.mean()) / scale
    return {**out, "ks": float(ks), "w1": float(stats.wasserstein_distance(real, generated))}


def perfect_ks(real: np.ndarray, n_generated: int, draws: int = 200, seed: int = 0) -> float:
    """Expected K-S statistic of a perfect generator: one that samples the real distribution itself.

    The mean of ``scipy.stats.ks_2samp`` over ``draws`` pairs of bootstrap samples of ``real`` (NaN/inf
    dropped), of sizes ``len(real)`` and ``n_generated``: the parametric bootstrap of the statistic's null
    distribution with the real empirical distribution as the truth, so that genuine atoms (a zero return,
    a round lot) count as they do in the real data. For continuous data it approaches the asymptotic mean
    ``E[K]·√((n + m)/(n·m))`` of the Kolmogorov distribution ``K`` from below (resampling adds ties), so
    ratios against it err on the generous side.

    Args:
        real: (n,) real sample. n_generated: the generated sample's size m.
        draws: bootstrap pairs. seed: seeds ``numpy.random.default_rng``.

    Returns:
        The mean statistic, float in [0, 1]; NaN when either size is 0.
    """
    real = np.asarray(real, dtype=np.float64)
    real = real[np.isfinite(real)]
    if not len(real) or n_generated <= 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(np.mean([stats.ks_2samp(rng.choice(real, len(real)), rng.choice(real, n_generated)).statistic
                          for _ in range(draws)]))


def mix_distance(real_codes: np.ndarray, generated_codes: np.ndarray, n_categories: int = 4) -> dict:
    """Total-variation distance between two categorical mixes (e.g. action × side = 4 codes), with both
    frequency vectors."""
    p = np.bincount(np.asarray(real_codes, dtype=np.int64), minlength=n_categories) / max(1, len(real_codes))
    q = np.bincount(np.asarray(generated_codes, dtype=np.int64), minlength=n_categories) / max(1, len(generated_codes))
    return {"tv": float(0.5 * np.abs(p - q).sum()), "real": p.tolist(), "generated": q.tolist()}
