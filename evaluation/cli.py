"""``tradefm-eval``: the paper's evaluation for a checkpoint, one command, one report.

    tradefm-eval --model runs/tiny/final --data data/lobster --prepared prepared/ \\
        --zero-shot zero_shot/ --baseline hawkes zero_intelligence --out report/

``--data`` are the raw files the prepared split came from (the held-out windows are their test ranges,
``--prepared``'s ``prep_summary.json`` says how they were split). Perplexity is measured on the prepared
test split by instrument, and on ``--zero-shot`` (a prepared directory of held-out instruments, e.g. ES
futures with the frozen tokenizer) as a ratio to in-distribution. Writes ``report.md``, ``metrics.json``
and PNG figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulator.orders import MID_MODES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tradefm-eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint directory (model + tokenizer)")
    p.add_argument("--data", nargs="+", required=True, help="raw files / directories / globs of the sessions")
    p.add_argument("--prepared", required=True, help="prepared directory (prep_summary.json, test split)")
    p.add_argument("--zero-shot", default=None, help="prepared directory whose 'heldout' split is zero-shot data")
    p.add_argument("--baseline", nargs="*", default=["hawkes", "zero_intelligence"],
                   choices=["hawkes", "zero_intelligence"])
    p.add_argument("--prompt-events", type=int, default=1024)
    p.add_argument("--events", type=int, default=1024)
    p.add_argument("--rollouts", type=int, default=10)
    p.add_argument("--windows", type=int, default=4, help="held-out windows per session")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mid-mode", choices=MID_MODES, default="book",
                   help="reference mid of every source's δp in simulation: the book midpoint (paper §8) or the "
                        "book's EW-VWAP of its own trades (the training features' estimator)")
    p.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import tokenization  # noqa: F401  (registers the tokenizer)
    from data_prep.sources import expand_paths

    from .perplexity import perplexity
    from .report import evaluate, write_report

    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    summary = json.loads((Path(args.prepared) / "prep_summary.json").read_text())
    metrics, windows = evaluate(model, tokenizer, expand_paths(args.data), summary, tuple(args.baseline),
                                   args.prompt_events, args.events, args.rollouts, args.windows, args.seed,
                                   mid_mode=args.mid_mode)
    ppl = {"test": perplexity(model, datasets.load_from_disk(args.prepared)["test"])}
    if args.zero_shot:
        ppl["zero_shot"] = perplexity(model, datasets.load_from_disk(args.zero_shot)["heldout"])
        ppl["zero_shot_ratio"] = ppl["zero_shot"]["overall"]["perplexity"] / ppl["test"]["overall"]["perplexity"]
    metrics["perplexity"] = ppl
    out = write_report(metrics, windows, args.out)
    print(f"wrote {out}/report.md")
    print((out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
