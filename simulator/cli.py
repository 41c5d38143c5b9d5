"""``tradefm-generate``: closed-loop rollouts from a checkpoint after a real prompt.

    tradefm-generate --model runs/tiny/final --prompt data/lobster/AAPL_..._message_1.csv.zst \\
        --prompt-events 512 --events 5000 --rollouts 8 --seed 0 --out rollouts/

Writes, per rollout ``i``: ``rollout_i/tokens.parquet`` (generated events with their context),
``rollout_i/events.parquet`` (every book message), ``rollout_i/book.parquet`` (book series), and LOBSTER
``message``/``orderbook`` CSV files; plus ``rollouts.json`` (arguments, prompt, timing). The output
directory is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from .orders import MID_MODES
from .recording import write_lobster, write_parquet


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tradefm-generate", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint directory or Hub id (model + tokenizer)")
    p.add_argument("--prompt", required=True, help="raw data file (Databento MBO or LOBSTER message file)")
    p.add_argument("--prompt-events", type=int, default=1024)
    p.add_argument("--prompt-start", type=int, default=0, help="index of the prompt's first model event")
    p.add_argument("--events", type=int, default=1024, help="events to generate per rollout")
    p.add_argument("--rollouts", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mid-mode", choices=MID_MODES, default="book")
    p.add_argument("--repetition-penalty", type=float, default=1.2)
    p.add_argument("--greedy", action="store_true", help="greedy decoding instead of sampling")
    p.add_argument("--levels", type=int, default=5, help="book levels in the LOBSTER orderbook files")
    p.add_argument("--timezone", default="America/New_York", help="LOBSTER time column: seconds after local midnight")
    p.add_argument("--out", required=True)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import tokenization  # noqa: F401  (registers the tokenizer with AutoTokenizer)

    from .rollout import generate_rollouts, load_prompt

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(args.model).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    prompt = load_prompt(args.prompt, tokenizer, args.prompt_events, args.prompt_start)
    started = time.perf_counter()
    rollouts = generate_rollouts(model, tokenizer, prompt, args.events, args.rollouts, args.seed, args.mid_mode,
                                 args.repetition_penalty, do_sample=not args.greedy, levels=args.levels)
    seconds = time.perf_counter() - started
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    day = dt.date.fromisoformat(prompt.date)
    midnight_ns = int(dt.datetime.combine(day, dt.time(), ZoneInfo(args.timezone)).timestamp() * 1e9)
    for i, rollout in enumerate(rollouts):
        folder = tmp / f"rollout_{i}"
        write_parquet(rollout.tokens, folder / "tokens.parquet")
        write_parquet(rollout.events, folder / "events.parquet")
        write_parquet(rollout.book_series, folder / "book.parquet")
        write_lobster(rollout.recorder, folder, prompt.instrument, prompt.date, midnight_ns)
    summary = {**vars(args), "instrument": prompt.instrument, "date": prompt.date, "seconds": round(seconds, 2),
               "events_per_second": round(args.events * args.rollouts / seconds, 1), "p_open": prompt.p_open,
               "prompt_end_ts_ns": prompt.ts_ns, "tick_size": prompt.book.tick_size}
    (tmp / "rollouts.json").write_text(json.dumps(summary, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {args.rollouts} rollouts × {args.events} events to {out} ({summary['events_per_second']} events/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
