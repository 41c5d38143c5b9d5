"""Zero-Intelligence baseline (TradeFM §9): events independent of each other and of the book — the event
dimension (buy-add, buy-cancel, sell-add, sell-cancel) drawn from its empirical frequencies, inter-arrival
times exponential, δp from a Gaussian mixture and volume exponential per dimension
(:class:`evaluation.event_marks.EventMarks`, shared with the Compound Hawkes baseline).
"""

from __future__ import annotations

import numpy as np

from .event_marks import DIMENSIONS, EventMarks
from .streams import Baseline, training_events


class ZeroIntelligence(Baseline):
    """The fitted Zero-Intelligence baseline.

    Args:
        probabilities: (4,) frequencies of the dimensions (sum 1). rate: events/s (> 0).
        marks: per-dimension δp and size model. fit_info: what the fit saw (events, duration, segments).
    """

    name = "zero_intelligence"

    def __init__(self, probabilities, rate: float, marks: EventMarks, fit_info: dict | None = None):
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        self.rate, self.marks, self.fit_info = float(rate), marks, fit_info or {}
        if self.probabilities.shape != (len(DIMENSIONS),) or not np.isclose(self.probabilities.sum(), 1.0):
            raise ValueError(f"probabilities must be 4 frequencies summing to 1, got {self.probabilities}")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 events/s, got {rate}")

    @classmethod
    def fit(cls, segments, n_components: int = 3, seed: int = 0) -> "ZeroIntelligence":
        """Fit on training feature tables (see :func:`evaluation.streams.training_events`).

        The rate is the maximum-likelihood exponential rate of the inter-arrival times inside segments:
        (N − segments) gaps over their total duration.

        Raises:
            DataFormatError / ValueError: see :func:`evaluation.streams.training_events` and
                :meth:`evaluation.event_marks.EventMarks.fit`; ValueError when the events span no time.
        """
        events = training_events(segments)
        if not events.duration_s > 0:
            raise ValueError("training events span no time: cannot fit an inter-arrival rate")
        n = len(events.times_s)
        probabilities = np.bincount(events.dimension, minlength=len(DIMENSIONS)) / n
        marks = EventMarks.fit(events.dimension, events.price_offset, events.size, n_components, seed)
        return cls(probabilities, (n - events.n_segments) / events.duration_s, marks,
                   {"n_events": n, "duration_s": events.duration_s, "n_segments": events.n_segments})

    def simulate(self, n_events: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n_events,) dimensions drawn from :attr:`probabilities` and Poisson event times (s from 0)."""
        dimension = rng.choice(len(DIMENSIONS), size=n_events, p=self.probabilities)
        return np.cumsum(rng.exponential(1.0 / self.rate, n_events)), dimension

    def parameters(self) -> dict:
        """The constructor's parameters, JSON-ready (see :class:`evaluation.streams.Baseline`)."""
        return {"probabilities": self.probabilities.tolist(), "rate": self.rate}
