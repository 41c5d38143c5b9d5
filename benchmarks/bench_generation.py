"""Closed-loop generation and simulator benchmarks (issue 4).

1. Closed-loop events/s of a checkpoint (default: the demo's), KV cache vs no cache, 1,000 generated
   events after a short real prompt (24 events, which favours no cache), for one rollout and for a batch
   of 8 independent rollouts (``tradefm-generate --rollouts 8``; target: cache ≥ 10× faster). With one
   rollout the tiny demo model's cached step is mostly fixed per-call overhead (a dozen small kernels
   per layer, ``generate``'s bookkeeping), so its speed-up is smaller than a batch's.
2. Share of generate time spent in the simulator + logits processor (target ≤ 15%).
3. The simulator alone: orders/s replaying the real AAPL (LOBSTER) and ES (Databento) flow.

    OMP_NUM_THREADS=2 python benchmarks/bench_generation.py [--model demo_output/run/final] [--events 1000]
        [--rollouts 1 8]
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import tokenization  # noqa: F401  (AutoTokenizer registration)
from data_prep.sources import read_events
from simulator import replay
from simulator.logits_processor import MarketSimulatorLogitsProcessor
from simulator.rollout import generate_rollouts, load_prompt

DATA = Path(__file__).resolve().parent.parent / "data"
AAPL = DATA / "lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst"
ES = DATA / "databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst"


def timed_processor():
    """Wrap the processor's two hooks with wall-clock accumulators; returns the dict of totals."""
    totals = {"seconds": 0.0}
    for name in ("context_provider", "__call__"):
        original = getattr(MarketSimulatorLogitsProcessor, name)

        @functools.wraps(original)  # LogitsProcessorList inspects the signature of __call__
        def wrapper(self, *args, _original=original, **kwargs):
            start = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                totals["seconds"] += time.perf_counter() - start

        setattr(MarketSimulatorLogitsProcessor, name, wrapper)
    MarketSimulatorLogitsProcessor.sync = MarketSimulatorLogitsProcessor.context_provider
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="demo_output/run/final")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--prompt-events", type=int, default=24)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[1, 8],
                        help="batch sizes (independent rollouts generated together) to measure")
    args = parser.parse_args()
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompt = load_prompt(AAPL, tokenizer, args.prompt_events, start=60000)
    totals = timed_processor()
    for n_rollouts in args.rollouts:
        results = {}
        for use_cache in (True, False):
            totals["seconds"] = 0.0
            start = time.perf_counter()
            generate_rollouts(model, tokenizer, prompt, args.events, n_rollouts, seed=0, use_cache=use_cache,
                              progress=False)
            elapsed = time.perf_counter() - start
            results[use_cache] = elapsed
            print(f"rollouts={n_rollouts:<3} use_cache={use_cache!s:5}  {n_rollouts * args.events / elapsed:8.1f} "
                  f"events/s  ({elapsed:.1f} s; simulator + processor {100 * totals['seconds'] / elapsed:.1f}% of it)")
        print(f"rollouts={n_rollouts:<3} KV-cache speed-up at {args.events} events: "
              f"{results[False] / results[True]:.1f}x (target >= 10x)")
    for path in (AAPL, ES):
        events = read_events(path)
        start = time.perf_counter()
        replay(events)
        elapsed = time.perf_counter() - start
        print(f"simulator replay {path.name}: {events.num_rows / elapsed:,.0f} orders/s ({events.num_rows:,} events)")
    print(f"torch threads: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
