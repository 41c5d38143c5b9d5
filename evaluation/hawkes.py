"""Compound Hawkes baseline (TradeFM §9, after Jain et al. 2024): a 4-dimensional Hawkes process over
buy-add, buy-cancel, sell-add, sell-cancel with sum-of-exponentials kernels, and marks per dimension
(Gaussian-mixture δp, exponential volume: :class:`evaluation.event_marks.EventMarks`).

Intensity of dimension m (events/s):

    λ_m(t) = μ_m + Σ_k Σ_j α_mkj Σ_{t_l^k < t} β_j exp(−β_j (t − t_l^k))

so α_mkj is the expected number of m-events one k-event triggers through decay j, and the branching
matrix is A_mk = Σ_j α_mkj. The decays β_j are fixed (as in tick's ``HawkesSumExpKern``, the usual tool
for this model; ``tick`` does not install on Python ≥ 3.11) and span milliseconds to seconds. With the
decays fixed, λ is linear in (μ, α) and the log-likelihood

    log L = Σ_i log λ_{d_i}(t_i) − Σ_m ∫_0^T λ_m(t) dt

is concave and separates by target dimension: each (μ_m, α_m··) is one small concave problem, solved by
SciPy's L-BFGS-B on analytic gradients after a single O(N·D·J) pass over the events. (``intensify``, the
maintained Hawkes library here, fits only single-exponential multivariate kernels.) Sampling is Ogata
thinning: between events every excitation decays, so the current intensity bounds it until the next event.
Events at equal timestamps excite each other in feed order.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from .event_marks import DIMENSIONS, EventMarks
from .streams import Baseline, training_events

DEFAULT_DECAYS = (3000.0, 300.0, 30.0, 3.0, 0.3)
"""Kernel decay rates β_j, 1/s: time scales 0.33 ms … 3.3 s, a decade apart (the paper gives none). On the
bundled sessions (first 80 % fitted, last 20 % held out) they beat one fitted exponential per kernel cell
(``intensify``) in held-out log-likelihood per event: AMZN 1.18 vs 0.87, AAPL 1.76 vs 1.53, ES 4.89 vs 4.67
(``benchmarks/bench_baselines.py``)."""


def excitation_at_events(times_s: np.ndarray, dimension: np.ndarray, decays, n_dims: int = 4) -> np.ndarray:
    """Excitation each event sees from the events before it, per source dimension and decay.

    Args:
        times_s: (N,) non-decreasing seconds. dimension: (N,) ints in 0..n_dims−1. decays: (J,) 1/s.

    Returns:
        (N, n_dims, J) float64: ``R[i, k, j] = Σ_{l < i, d_l = k} β_j exp(−β_j (t_i − t_l))``.
    """
    decays = np.asarray(decays, dtype=np.float64)
    factor = np.exp(-np.diff(times_s, prepend=times_s[:1])[:, None] * decays)  # (N, J)
    out = np.empty((len(times_s), n_dims, len(decays)))
    state = np.zeros((n_dims, len(decays)))
    for i, d in enumerate(dimension):
        state *= factor[i]
        out[i] = state
        state[d] += decays
    return out


def compensator_weights(times_s: np.ndarray, dimension: np.ndarray, decays, horizon_s: float,
                        n_dims: int = 4) -> np.ndarray:
    """(n_dims, J) float64: ``Σ_{l: d_l = k} (1 − exp(−β_j (T − t_l)))``, the integral over [0, T] of
    each source dimension's excitation per unit α."""
    tail = 1.0 - np.exp(-(horizon_s - np.asarray(times_s))[:, None] * np.asarray(decays, dtype=np.float64))
    return np.stack([tail[dimension == k].sum(axis=0) for k in range(n_dims)])


def _dimension_problem(excitation: np.ndarray, weights: np.ndarray, horizon_s: float):
    """Negative log-likelihood (per event) and gradient of one target dimension in θ = (μ_m, α_m flattened)."""
    n = max(len(excitation), 1)

    def objective(theta):
        intensity = theta[0] + excitation @ theta[1:]
        inv = 1.0 / intensity
        value = -(np.log(intensity).sum() - theta[0] * horizon_s - weights @ theta[1:]) / n
        grad = -np.concatenate([[inv.sum() - horizon_s], excitation.T @ inv - weights]) / n
        return value, grad

    return objective


def fit_sum_exp_hawkes(times_s: np.ndarray, dimension: np.ndarray, horizon_s: float, decays=DEFAULT_DECAYS,
                       n_dims: int = 4) -> tuple[np.ndarray, np.ndarray, dict]:
    """Maximum-likelihood baseline rates and kernel weights of a sum-of-exponentials Hawkes process.

    Args:
        times_s: (N,) non-decreasing event times in [0, horizon_s], seconds. dimension: (N,) ints.
        decays: (J,) fixed decay rates, 1/s.

    Returns:
        ``(mu (n_dims,) events/s, alpha (n_dims, n_dims, J), info)``; ``info`` holds ``log_likelihood``,
        ``converged`` (every dimension's L-BFGS-B run) and ``iterations``.

    Raises:
        ValueError: a dimension has no events, or ``horizon_s`` is before the last event.
    """
    times_s, dimension = np.asarray(times_s, dtype=np.float64), np.asarray(dimension, dtype=np.int64)
    counts = np.bincount(dimension, minlength=n_dims)
    if (counts == 0).any():
        raise ValueError(f"every dimension needs events to fit; counts per dimension {counts.tolist()}")
    if horizon_s < times_s[-1]:
        raise ValueError(f"horizon {horizon_s} s is before the last event at {times_s[-1]} s")
    n_decays = len(decays)
    excitation = excitation_at_events(times_s, dimension, decays, n_dims).reshape(len(times_s), -1)
    weights = compensator_weights(times_s, dimension, decays, horizon_s, n_dims).reshape(-1)
    mu, alpha = np.empty(n_dims), np.empty((n_dims, n_dims, n_decays))
    log_likelihood, converged, iterations = 0.0, True, []
    for m in range(n_dims):
        objective = _dimension_problem(excitation[dimension == m], weights, horizon_s)
        start = np.concatenate([[0.5 * counts[m] / horizon_s], np.full(n_dims * n_decays, 0.1 / n_decays)])
        result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                                   bounds=[(1e-10, None)] + [(0.0, None)] * (n_dims * n_decays),
                                   options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8})
        mu[m], alpha[m] = result.x[0], result.x[1:].reshape(n_dims, n_decays)
        log_likelihood -= result.fun * counts[m]
        converged &= bool(result.success)
        iterations.append(int(result.nit))
    return mu, alpha, {"log_likelihood": float(log_likelihood), "converged": converged, "iterations": iterations}


class CompoundHawkes(Baseline):
    """The fitted Compound Hawkes baseline.

    Args:
        mu: (4,) baseline rates, events/s. alpha: (4, 4, J) kernel weights (see the module docstring).
        decays: (J,) decay rates, 1/s. marks: per-dimension δp and size model (``None`` is enough for
            :meth:`simulate` and :meth:`log_likelihood`).
        fit_info: what the fit reported (events, duration, log-likelihood, convergence, spectral radius).
    """

    name = "hawkes"

    def __init__(self, mu, alpha, decays, marks: EventMarks, fit_info: dict | None = None):
        self.mu = np.asarray(mu, dtype=np.float64)
        self.alpha = np.asarray(alpha, dtype=np.float64)
        self.decays = np.asarray(decays, dtype=np.float64)
        self.marks, self.fit_info = marks, fit_info or {}
        if self.mu.shape != (len(DIMENSIONS),) or self.alpha.shape != (len(DIMENSIONS), len(DIMENSIONS),
                                                                       len(self.decays)):
            raise ValueError(f"mu must be (4,) and alpha (4, 4, {len(self.decays)}); got {self.mu.shape}, "
                             f"{self.alpha.shape}")

    @classmethod
    def fit(cls, segments, decays=DEFAULT_DECAYS, n_components: int = 3, seed: int = 0) -> "CompoundHawkes":
        """Fit on training feature tables (see :func:`evaluation.streams.training_events`).

        Args:
            decays: fixed kernel decay rates, 1/s. n_components: Gaussian components of the δp marks.
            seed: seeds the mark mixtures' initialisation.

        Raises:
            DataFormatError / ValueError: see :func:`evaluation.streams.training_events`,
                :func:`fit_sum_exp_hawkes` and :meth:`evaluation.event_marks.EventMarks.fit`.
        """
        events = training_events(segments)
        mu, alpha, info = fit_sum_exp_hawkes(events.times_s, events.dimension, events.duration_s, decays)
        marks = EventMarks.fit(events.dimension, events.price_offset, events.size, n_components, seed)
        model = cls(mu, alpha, decays, marks)
        model.fit_info = {**info, "n_events": int(len(events.times_s)), "duration_s": events.duration_s,
                          "n_segments": events.n_segments, "spectral_radius": model.spectral_radius()}
        return model

    def branching_matrix(self) -> np.ndarray:
        """(4, 4) A_mk = Σ_j α_mkj: expected m-events directly triggered by one k-event."""
        return self.alpha.sum(axis=2)

    def spectral_radius(self) -> float:
        """Largest |eigenvalue| of the branching matrix; the process is stationary when it is < 1."""
        return float(np.abs(np.linalg.eigvals(self.branching_matrix())).max())

    def stationary_rates(self) -> np.ndarray:
        """(4,) long-run event rates (I − A)⁻¹ μ, events/s (meaningful when :meth:`spectral_radius` < 1)."""
        return np.linalg.solve(np.eye(len(self.mu)) - self.branching_matrix(), self.mu)

    def log_likelihood(self, times_s: np.ndarray, dimension: np.ndarray, horizon_s: float) -> float:
        """Log-likelihood of events at ``times_s`` (N,) s with (N,) dimensions observed on [0, horizon_s]."""
        times_s, dimension = np.asarray(times_s, dtype=np.float64), np.asarray(dimension, dtype=np.int64)
        excitation = excitation_at_events(times_s, dimension, self.decays)
        intensity = self.mu[dimension] + np.einsum("nkj,nkj->n", self.alpha[dimension], excitation)
        weights = compensator_weights(times_s, dimension, self.decays, horizon_s)
        return float(np.log(intensity).sum() - self.mu.sum() * horizon_s - np.einsum("mkj,kj->", self.alpha, weights))

    def simulate(self, n_events: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Ogata thinning from an empty history: (n_events,) times (s from 0) and dimensions (int64)."""
        n_dims, n_decays = len(self.mu), len(self.decays)
        weights = self.alpha.reshape(n_dims, -1)  # (4, 4·J) against the flat state
        total_weights, total_mu = weights.sum(axis=0), float(self.mu.sum())
        flat_decays = np.tile(self.decays, n_dims)
        state = np.zeros(n_dims * n_decays)  # [k·J + j]: Σ_{l: d_l = k} β_j exp(−β_j (t − t_l))
        times, dims = np.empty(n_events), np.empty(n_events, dtype=np.int64)
        t, n, bound, block, i = 0.0, 0, total_mu, 0, 0
        while n < n_events:
            if i == block:  # random numbers in blocks: per-draw generator calls dominate the loop otherwise
                waits, accepts, picks = rng.standard_exponential(4096), rng.random(4096), rng.random(4096)
                block, i = 4096, 0
            wait = waits[i] / bound
            t += wait
            state *= np.exp(-flat_decays * wait)
            total = total_mu + total_weights @ state
            if accepts[i] * bound <= total:
                cumulative = np.cumsum(self.mu + weights @ state)
                m = min(int(np.searchsorted(cumulative, picks[i] * cumulative[-1], side="right")), n_dims - 1)
                times[n], dims[n] = t, m
                n += 1
                state[m * n_decays:(m + 1) * n_decays] += self.decays
                total = total_mu + total_weights @ state
            bound = total
            i += 1
        return times, dims

    def parameters(self) -> dict:
        """The constructor's parameters as JSON-ready lists (see :class:`evaluation.streams.Baseline`)."""
        return {"mu": self.mu.tolist(), "alpha": self.alpha.tolist(), "decays": self.decays.tolist()}

