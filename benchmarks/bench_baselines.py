"""Baseline benchmarks (issue 5): fit quality and speed of the Compound Hawkes and Zero-Intelligence
baselines on the bundled sessions, and the paper's Table 2 / Table 3 for the baselines against real AMZN.

1. Per session (first 80 % of model events fitted, last 20 % held out): fit time, held-out log-likelihood
   per event of the sum-of-exponentials Hawkes (default and a 3-decay grid), of one fitted exponential per
   kernel cell (fitted with ``intensify``) and of Poisson processes at the held-out rates.
2. Sampling and rollout speed (events/s).
3. Table 2 / 3: held-out AMZN windows (real order flow, LOBSTER touch) vs Hawkes / ZI rollouts started from
   the real book at each window's start.

    OMP_NUM_THREADS=1 python benchmarks/bench_baselines.py [--windows 4] [--rollouts 5] [--events 1024]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evaluation.baseline_rollout import rollout
from evaluation.hawkes import CompoundHawkes
from evaluation.report import real_book
from evaluation.streams import training_events
from evaluation.tables import compare, table2_markdown, table3_markdown
from evaluation.zero_intelligence import ZeroIntelligence
from simulator.rollout import Session

DATA = Path(__file__).resolve().parent.parent / "data"
FILES = {"AMZN": DATA / "lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv.zst",
         "AAPL": DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst",
         "ES": DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"}


def held_out_log_likelihoods(train, test) -> dict[str, tuple[float, float]]:
    """{model: (held-out log-likelihood per event, fit seconds)}."""
    held_out = training_events(test)
    args = (held_out.times_s, held_out.dimension, held_out.duration_s)
    out = {}
    for label, decays in (("sum-exp, 5 decays (default)", None), ("sum-exp, 1000/30/1 per s", (1000.0, 30.0, 1.0))):
        start = time.perf_counter()
        model = CompoundHawkes.fit(train) if decays is None else CompoundHawkes.fit(train, decays=decays)
        out[label] = (model.log_likelihood(*args) / len(held_out.times_s), time.perf_counter() - start)
    events = training_events(train)
    start = time.perf_counter()
    times = events.times_s + np.arange(len(events.times_s)) * 1e-9  # ties would make the likelihood degenerate
    import intensify

    start_kernels = [[intensify.ExponentialKernel(alpha=0.1, beta=1.0) for _ in range(4)] for _ in range(4)]
    fit = intensify.MultivariateHawkes(4, np.full(4, 0.1), start_kernels).fit(
        [times[events.dimension == d] for d in range(4)], T=float(times[-1] + 1e-9), method="mle")
    seconds = time.perf_counter() - start
    process = intensify.MultivariateHawkes(4, np.asarray(fit.params["mu"]), fit.params["kernel_matrix"])
    ll = process.log_likelihood([held_out.times_s[held_out.dimension == d] for d in range(4)], held_out.duration_s)
    out["one exponential per cell (intensify)"] = (ll / len(held_out.times_s), seconds)
    counts = np.bincount(held_out.dimension, minlength=4)
    poisson = (counts * np.log(counts / held_out.duration_s)).sum() - counts.sum()
    out["Poisson at the held-out rates"] = (poisson / counts.sum(), 0.0)
    return out


def windows_of(session: Session, lo: int, hi: int, n_windows: int, n_events: int):
    """Real windows in model events [lo, hi): (events, book) and the row/time each starts after."""
    features = session.features
    rows, ts = features.column("source_row").to_numpy(), features.column("ts_recv").to_numpy()
    out = []
    for start in np.linspace(lo + 1, hi - n_events, n_windows).astype(int):
        events = features.slice(start, n_events)
        book = real_book(session, int(rows[start]), int(rows[start + n_events - 1]))
        out.append(((events, book), int(rows[start - 1]),
                    int(ts[start - 1])))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--windows", type=int, default=4)
    p.add_argument("--rollouts", type=int, default=5)
    p.add_argument("--events", type=int, default=1024)
    args = p.parse_args(argv)

    print("## Held-out log-likelihood per event (first 80 % fitted)\n")
    print("| session | model | log-lik / event | fit s |\n|---|---|---|---|")
    sessions = {}
    for name, path in FILES.items():
        session = sessions[name] = Session.load(path)
        cut = int(0.8 * session.features.num_rows)
        for model, (ll, seconds) in held_out_log_likelihoods(session.features.slice(0, cut),
                                                             session.features.slice(cut)).items():
            print(f"| {name} ({session.features.num_rows} events) | {model} | {ll:.3f} | {seconds:.2f} |")

    amzn = sessions["AMZN"]
    cut = int(0.8 * amzn.features.num_rows)
    baselines = {"hawkes": CompoundHawkes.fit(amzn.features.slice(0, cut)),
                 "zero_intelligence": ZeroIntelligence.fit(amzn.features.slice(0, cut))}
    print("\n## Speed (AMZN fit)\n")
    for name, model in baselines.items():
        start = time.perf_counter()
        model.sample(20_000, seed=0)
        sample_rate = 20_000 / (time.perf_counter() - start)
        book = amzn.book_after(0)
        start = time.perf_counter()
        played = rollout(model, book, args.events, seed=0)
        rollout_rate = args.events / (time.perf_counter() - start)
        print(f"{name}: sample {sample_rate:,.0f} events/s; rollout through the book {rollout_rate:,.0f} events/s "
              f"({played.tokens.num_rows} of {args.events} events applied)")

    windows = windows_of(amzn, cut, amzn.features.num_rows, args.windows, args.events)
    real = [w for w, _, _ in windows]
    generated = {name: [] for name in baselines}
    for w, (_, row, ts) in enumerate(windows):
        book = amzn.book_after(row)
        for name, model in baselines.items():
            for r in range(args.rollouts):
                played = rollout(model, book, args.events, seed=1000 * w + r, start_ts_ns=ts)
                generated[name].append((played.tokens, played.book_series))
    comparisons = {name: compare(real, g) for name, g in generated.items()}
    print(f"\n## AMZN held-out: {args.windows} windows × {args.rollouts} rollouts × {args.events} events\n")
    print("Table 2 layout (log returns: K-S / raw W1)\n")
    print(table2_markdown(comparisons))
    print("Table 3 layout (K-S / W1 on real-normalised values)\n")
    print(table3_markdown(comparisons))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
