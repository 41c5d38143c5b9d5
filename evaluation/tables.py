"""Generated vs real, laid out as the paper's Table 2 (mid log returns by interval: K-S / W1) and Table 3
(order flow and book: K-S / W1 on real-normalised values), with a summary score (TradeFM §9).

A *window* is one stretch of a source (a real held-out continuation, a TradeFM rollout, a baseline
rollout): a pair ``(events, book)`` of tables (``pyarrow.Table`` or dicts of arrays):

* ``events``: one row per model event — ``action_id`` (0 add, 1 cancel), ``side_id`` (0 buy, 1 sell),
  ``price_offset`` (δp, fraction), ``size`` (shares), ``inter_arrival`` (s);
* ``book``: the book after each message — ``ts_ns`` (int64 UTC ns), ``mid`` (dollars), ``spread``
  (dollars), and where known ``bid_size`` / ``ask_size`` (shares at the touch).

Samples are pooled over a source's windows (returns never span two windows). Distances come from
:mod:`evaluation.distances` (``scipy.stats.ks_2samp``, ``scipy.stats.wasserstein_distance``): raw W1 for
returns, W1 after z-scoring both samples with the real sample's mean and std for order flow and book
(as LOB-Bench does), total variation for the action × side mix.
"""

from __future__ import annotations

import math

import numpy as np

from .distances import distance, mix_distance, perfect_ks
from .event_marks import dimension_of
from .stylized_facts import DEFAULT_INTERVALS_S, pooled_returns

EVENT_FEATURES = ("inter_arrival", "size", "price_offset")
"""Order-flow quantities of Table 3, from the event stream."""

BOOK_FEATURES = ("spread", "bid_size", "ask_size", "imbalance")
"""Book quantities of Table 3, from the book series; imbalance = (bid − ask) / (bid + ask) at the touch."""


def _column(table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy() if hasattr(table, "column") else table[name], dtype=np.float64)


def _has(table, name: str) -> bool:
    return name in (table.column_names if hasattr(table, "column_names") else table)


def book_mids(windows) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(ts_ns, mid)`` per window, the input of :mod:`evaluation.stylized_facts`."""
    return [(np.asarray(book.column("ts_ns").to_numpy() if hasattr(book, "column") else book["ts_ns"]),
             _column(book, "mid")) for _, book in windows]


def flow_samples(windows) -> dict[str, np.ndarray]:
    """Pooled Table 3 samples of a source.

    Returns:
        ``{feature: (M,) float64}`` for the :data:`EVENT_FEATURES` and the :data:`BOOK_FEATURES` that every
        window has (imbalance needs both sizes; a touch with no volume on either side gives NaN), and
        ``"action_side"``: (N,) int64 dimension codes 2·side + action.
    """
    out = {}
    for name in EVENT_FEATURES:
        out[name] = np.concatenate([_column(events, name) for events, _ in windows]) if windows else np.zeros(0)
    for name in ("spread", "bid_size", "ask_size"):
        if windows and all(_has(book, name) for _, book in windows):
            out[name] = np.concatenate([_column(book, name) for _, book in windows])
    if "bid_size" in out and "ask_size" in out:
        depth = out["bid_size"] + out["ask_size"]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["imbalance"] = np.where(depth > 0, (out["bid_size"] - out["ask_size"]) / depth, np.nan)
    out["action_side"] = np.concatenate([dimension_of(_column(e, "action_id").astype(np.int64),
                                                      _column(e, "side_id").astype(np.int64))
                                         for e, _ in windows]) if windows else np.zeros(0, dtype=np.int64)
    return out


def compare(real_windows, generated_windows, intervals=DEFAULT_INTERVALS_S, perfect_draws: int = 200) -> dict:
    """Table 2 and Table 3 distances of one generated source to real.

    Args:
        real_windows, generated_windows: lists of ``(events, book)`` windows (see the module docstring).
        intervals: clock intervals of the returns, seconds; event-time returns are added as ``"event"``.
        perfect_draws: bootstrap pairs behind each ``ks_perfect`` (:func:`evaluation.distances.perfect_ks`:
            the K-S a generator sampling the real distribution would score at this source's sample size).

    Returns:
        ``{"returns": {"10s": {"ks", "ks_perfect", "w1", "n_real", "n_generated", …}, …, "event": …},
        "flow": {feature: {...}} (features both sources have), "action_side_mix": {"tv", "real",
        "generated"}, "summary": {"mean_ks_returns" (clock intervals), "mean_ks_flow", "mean_ks" (both), and
        the same means of ``ks_perfect`` as ``perfect_mean_ks_returns``, ``perfect_mean_ks_flow``,
        ``perfect_mean_ks``}}``; NaN where a sample is empty.
    """
    def scored(real, generated, normalise=False):
        d = distance(real, generated, normalise)
        return {**d, "ks_perfect": perfect_ks(real, d["n_generated"], perfect_draws)}

    real_books, generated_books = book_mids(real_windows), book_mids(generated_windows)
    returns = {("event" if i is None else f"{i}s"): scored(pooled_returns(real_books, i),
                                                           pooled_returns(generated_books, i))
               for i in (*intervals, None)}
    real_flow, generated_flow = flow_samples(real_windows), flow_samples(generated_windows)
    flow = {name: scored(real_flow[name], generated_flow[name], normalise=True)
            for name in (*EVENT_FEATURES, *BOOK_FEATURES) if name in real_flow and name in generated_flow}
    summary = {}
    for prefix, key in (("", "ks"), ("perfect_", "ks_perfect")):
        ks_returns = [returns[f"{i}s"][key] for i in intervals]
        ks_flow = [d[key] for d in flow.values()]
        summary.update({f"{prefix}mean_ks_returns": _mean(ks_returns), f"{prefix}mean_ks_flow": _mean(ks_flow),
                        f"{prefix}mean_ks": _mean(ks_returns + ks_flow)})
    return {"returns": returns, "flow": flow,
            "action_side_mix": mix_distance(real_flow["action_side"], generated_flow["action_side"]),
            "summary": summary}


def _mean(values) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _fmt(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.3g}"


def table2_markdown(comparisons: dict[str, dict]) -> str:
    """Markdown Table 2: rows = return intervals, columns = K-S then W1 per source, then the number of real
    returns, each source's 95% K-S critical value (:func:`evaluation.distances.distance`: a K-S below it
    is within sampling noise) and the K-S a perfect generator would score at that source's sample size
    (:func:`evaluation.distances.perfect_ks`).

    Args:
        comparisons: ``{source name: compare(...) result}``.
    """
    sources = list(comparisons)
    labels = list(next(iter(comparisons.values()))["returns"]) if comparisons else []
    lines = ["| interval | " + " | ".join([f"K-S {s}" for s in sources] + [f"W1 {s}" for s in sources]
                                         + ["real returns"] + [f"K-S noise (95%) {s}" for s in sources]
                                         + [f"K-S perfect {s}" for s in sources]) + " |",
             "|---" * (2 + 4 * len(sources)) + "|"]
    for label in labels:
        cells = [_fmt(comparisons[s]["returns"][label][k]) for k in ("ks", "w1") for s in sources]
        cells.append(str(comparisons[sources[0]]["returns"][label]["n_real"]))
        cells += [_fmt(comparisons[s]["returns"][label][k]) for k in ("ks_critical_95", "ks_perfect")
                  for s in sources]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table3_markdown(comparisons: dict[str, dict]) -> str:
    """Markdown Table 3: rows = order-flow and book features (K-S / normalised W1 per source), the action ×
    side mix (total variation) and the summary scores, each beside a perfect generator's at the source's
    sample sizes (:func:`evaluation.distances.perfect_ks`)."""
    sources = list(comparisons)
    features = [f for f in (*EVENT_FEATURES, *BOOK_FEATURES) if any(f in c["flow"] for c in comparisons.values())]
    lines = ["| feature | " + " | ".join(f"{s} K-S / W1 / perfect K-S" for s in sources) + " |",
             "|---" * (1 + len(sources)) + "|"]
    for name in features:
        cells = [" / ".join(_fmt(c["flow"][name][k]) for k in ("ks", "w1", "ks_perfect")) if name in c["flow"]
                 else "–" for c in comparisons.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| action × side mix (TV) | " + " | ".join(
        _fmt(c["action_side_mix"]["tv"]) for c in comparisons.values()) + " |")
    for key, label in (("mean_ks_returns", "mean K-S, returns"), ("mean_ks_flow", "mean K-S, flow + book"),
                       ("mean_ks", "mean K-S, all")):
        lines.append(f"| {label} | " + " | ".join(_fmt(c["summary"][key]) for c in comparisons.values()) + " |")
        lines.append(f"| {label}, perfect generator | " + " | ".join(
            _fmt(c["summary"][f"perfect_{key}"]) for c in comparisons.values()) + " |")
    return "\n".join(lines) + "\n"
