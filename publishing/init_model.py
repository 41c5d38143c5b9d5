"""A loadable model directory for any preset: ``AutoModel.from_pretrained("tradefm-500m")`` works on it.

Randomly initialised (a seeded starting point, with a calibrated tokenizer if one is given) or a clean copy
of a trained checkpoint (re-saved with the installed code files and ``auto_map``, its tokenizer and
summaries kept). The directory is written next to its final path and renamed into place.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from modeling_tradefm import TradeFMForCausalLM, preset_config
from tokenization import TradeFMTokenizer

from .checkpoint import PublishError, validate_checkpoint
from .model_card import model_card

logger = logging.getLogger(__name__)
CARRIED_FILES = ("training_summary.json", "metrics.json")


def init_model_dir(output: str | Path, preset: str | None = None, from_checkpoint: str | Path | None = None,
                   tokenizer_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Write a model directory loadable by ``AutoModel`` / ``AutoModelForCausalLM.from_pretrained(output)``.

    Args:
        output: directory to create (must not exist).
        preset: ``tiny``, ``125m``, ``250m`` or ``500m``. Required without ``from_checkpoint``; with it,
            checked against the checkpoint's shape.
        from_checkpoint: a checkpoint directory (validated like a push) to copy.
        tokenizer_dir: a saved ``TradeFMTokenizer`` (e.g. ``PREP/tokenizer``) for a random initialisation;
            sets ``vocab_size`` and the context vocabularies. Without it the defaults (16,388 ids,
            contexts 3 / 2 / 32) apply and the directory holds no tokenizer.
        seed: ``torch.manual_seed`` of the random initialisation.

    Returns:
        The output path. With a tokenizer it also holds the generated ``README.md`` model card.

    Raises:
        PublishError: output exists, no preset and no checkpoint, an invalid checkpoint, or a checkpoint
            whose shape is not ``preset``.
        ValueError: unknown preset name.
    """
    output = Path(output)
    if output.exists():
        raise PublishError(f"{output}: already exists; choose a new output directory")
    if from_checkpoint is not None:
        info = validate_checkpoint(from_checkpoint)
        if preset is not None and info.preset != preset:
            raise PublishError(f"{info.path / 'config.json'}: the checkpoint has the shape of preset "
                               f"{info.preset or 'custom'}, not {preset}")
        model = TradeFMForCausalLM.from_pretrained(str(info.path))
        tokenizer = TradeFMTokenizer.from_pretrained(str(info.path))
    elif preset is None:
        raise PublishError("give --preset (tiny, 125m, 250m, 500m) or --from-checkpoint")
    else:
        tokenizer = TradeFMTokenizer.from_pretrained(str(tokenizer_dir)) if tokenizer_dir is not None else None
        overrides = {} if tokenizer is None else dict(
            vocab_size=len(tokenizer), context_vocab_sizes=list(tokenizer.context_vocab_sizes),
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id)
        config = preset_config(preset, **overrides)
        torch.manual_seed(seed)
        model = TradeFMForCausalLM(config)

    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
            if from_checkpoint is not None:
                for name in CARRIED_FILES:
                    if (Path(from_checkpoint) / name).exists():
                        shutil.copy2(Path(from_checkpoint) / name, tmp / name)
            (tmp / "README.md").write_text(str(model_card(validate_checkpoint(tmp), output.name)), encoding="utf-8")
        tmp.rename(output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("wrote %s (%s parameters)", output, f"{model.num_parameters():,}")
    return output
