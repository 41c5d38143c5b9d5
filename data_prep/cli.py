"""``tradefm-prep``: raw Databento MBO / LOBSTER files → tokenizer + Arrow shards.

Example::

    tradefm-prep --data "data/**/*_message_1.csv.zst" --output prepared/ --calib-days 30 --val-days 30 \\
        --context-length 1024

Scale-out over K machines: calibrate once by preparing the calibration days (``--output calib/``), then
on machine i run ``--tokenizer calib/tokenizer --num-shards K --shard-index i --output part_i/``; the parts load
together with ``datasets.concatenate_datasets([load_from_disk(f"part_{i}")["train"] for i in range(K)])``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .features import BOOK_CONTEXTS, EXECUTION_MODES
from .pipeline import prepare
from .schema import DataFormatError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tradefm-prep", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="files, directories or globs (quote globs)")
    p.add_argument("--output", required=True, help="output directory (replaced atomically)")
    p.add_argument("--calib-days", type=int, default=30, help="trading days the tokenizer is calibrated on")
    p.add_argument("--val-days", type=int, default=1, help="trailing dates for validation")
    p.add_argument("--test-days", type=int, default=1, help="trailing dates for test")
    p.add_argument("--val-fraction", type=float, default=0.1, help="per-session share for validation when too few dates")
    p.add_argument("--test-fraction", type=float, default=0.1, help="per-session share for test when too few dates")
    p.add_argument("--split-blocks", type=int, default=1,
                   help="take those shares from the end of each of this many blocks per session")
    p.add_argument("--holdout-instruments", nargs="*", default=(), help="instruments kept whole for zero-shot tests")
    p.add_argument("--context-length", type=int, default=1024)
    p.add_argument("--stride", type=int, default=None,
                   help="stride of the training windows (default: context length, no overlap); held-out splits "
                        "never overlap")
    p.add_argument("--executions", choices=EXECUTION_MODES, default=None,
                   help="executions only feed the mid (the paper's, default for a new tokenizer) or also become "
                        "the aggressor's add, one per sweep (default with --tokenizer: the tokenizer's)")
    p.add_argument("--book-context", choices=BOOK_CONTEXTS, default=None,
                   help="context the model receives with each event: the paper's three (liquidity tier, flag, Δp; "
                        "'none', default for a new tokenizer) or also the quoted spread of the book the event met "
                        "('spread'; default with --tokenizer: the tokenizer's)")
    p.add_argument("--tokenizer", default=None, help="use this frozen tokenizer instead of calibrating")
    p.add_argument("--outlier-mode", choices=("clamp", "edge_bins"), default="clamp")
    p.add_argument("--shards-per-split", type=int, default=None, help="Arrow shards per split")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes for reading files")
    p.add_argument("--num-shards", type=int, default=1, help="scale-out: number of machines (file-list parts)")
    p.add_argument("--shard-index", type=int, default=0, help="scale-out: this machine's part")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        out = prepare(args.data, args.output, calib_days=args.calib_days, val_days=args.val_days,
                      test_days=args.test_days, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                      split_blocks=args.split_blocks,
                      holdout_instruments=args.holdout_instruments, context_length=args.context_length,
                      stride=args.stride, tokenizer=args.tokenizer, num_shards=args.shards_per_split,
                      num_proc=args.num_proc, shard_count=args.num_shards, shard_index=args.shard_index,
                      outlier_mode=args.outlier_mode, executions=args.executions,
                      book_context=args.book_context)
    except (DataFormatError, ValueError, FileNotFoundError) as err:
        print(f"tradefm-prep: error: {err}", file=sys.stderr)
        return 2
    summary = json.loads((out / "prep_summary.json").read_text())
    print(f"wrote {out}")
    print(json.dumps({k: summary[k] for k in ("split_mode", "events", "tokens", "windows", "clamped", "seconds")},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
