"""Command lines ``tradefm-push`` (publish to the Hugging Face Hub) and ``tradefm-init`` (a loadable directory).

The token is read from ``HF_TOKEN`` or ``hf auth login``, never from the command line (where it would land
in the shell history and the process list).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .checkpoint import PublishError
from .init_model import init_model_dir
from .push import push_to_hub


def _log_progress():
    """Our steps at INFO on stderr; the libraries' request logs stay at WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("publishing").setLevel(logging.INFO)


def push_main(argv: list[str] | None = None) -> int:
    """``tradefm-push CHECKPOINT --repo-id ORG/NAME [--revision B] [--private] [--commit-message M]
    [--dataset PREP_DIR [--dataset-repo-id ORG/NAME]]``. Returns the exit status (1 on error)."""
    p = argparse.ArgumentParser(prog="tradefm-push", description="Publish a TradeFM checkpoint (model, tokenizer, "
                                "code, model card) and optionally its prepared dataset to the Hugging Face Hub, "
                                "in one commit per repository. Token: HF_TOKEN or `hf auth login`.")
    p.add_argument("checkpoint", help="checkpoint directory (save_pretrained model + tokenizer, e.g. RUN/final)")
    p.add_argument("--repo-id", required=True, help="model repository, ORG/NAME (created if missing)")
    p.add_argument("--revision", default=None, help="branch to commit to (created from main if missing)")
    p.add_argument("--private", action="store_true", help="create the repositories private")
    p.add_argument("--commit-message", default=None)
    p.add_argument("--dataset", default=None, metavar="PREP_DIR", help="tradefm-prep output to publish as well")
    p.add_argument("--dataset-repo-id", default=None, help="dataset repository (default: --repo-id)")
    args = p.parse_args(argv)
    _log_progress()
    try:
        result = push_to_hub(args.checkpoint, args.repo_id, revision=args.revision, private=args.private,
                             commit_message=args.commit_message, dataset_dir=args.dataset,
                             dataset_repo_id=args.dataset_repo_id)
    except PublishError as err:
        print(f"tradefm-push: error: {err}", file=sys.stderr)
        return 1
    print(result.commit_url)
    return 0


def init_main(argv: list[str] | None = None) -> int:
    """``tradefm-init --preset 500m --output tradefm-500m [--from-checkpoint DIR] [--tokenizer DIR] [--seed N]``.
    Returns the exit status (1 on error)."""
    p = argparse.ArgumentParser(prog="tradefm-init", description="Create a directory that "
                                "AutoModel/AutoModelForCausalLM.from_pretrained loads: a preset randomly "
                                "initialised, or a copy of a checkpoint.")
    p.add_argument("--preset", default=None, help="tiny, 125m, 250m, 500m")
    p.add_argument("--output", required=True, help="directory to create, e.g. tradefm-500m")
    p.add_argument("--from-checkpoint", default=None, metavar="DIR", help="copy this checkpoint instead")
    p.add_argument("--tokenizer", default=None, metavar="DIR", help="calibrated tokenizer for a random init "
                   "(e.g. PREP/tokenizer); sets the vocabulary")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    _log_progress()
    try:
        init_model_dir(args.output, preset=args.preset, from_checkpoint=args.from_checkpoint,
                       tokenizer_dir=args.tokenizer, seed=args.seed)
    except (PublishError, ValueError) as err:
        print(f"tradefm-init: error: {err}", file=sys.stderr)
        return 1
    return 0
