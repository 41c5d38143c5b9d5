"""What a publishable TradeFM checkpoint is, checked on disk before anything leaves the machine.

A checkpoint directory is what ``TradeFMForCausalLM.save_pretrained`` + ``TradeFMTokenizer.save_pretrained``
write (``train_accelerate.py``'s ``final/``): ``config.json`` (with an ``auto_map`` for AutoConfig, AutoModel
and AutoModelForCausalLM), ``model.safetensors`` (or shards + ``model.safetensors.index.json``), the code
files that ``trust_remote_code=True`` loads, the tokenizer (``tradefm_tokenizer.json``,
``tokenizer_config.json``), and optionally ``training_summary.json`` and ``metrics.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from modeling_tradefm import PRESETS, TradeFMConfig, TradeFMForCausalLM
from tokenization import TradeFMTokenizer

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = TradeFMTokenizer.vocab_files_names["vocab_file"]
MODEL_CODE_FILES = ("configuration_tradefm.py", "modeling_tradefm.py")
TOKENIZER_CODE_FILES = ("tokenization_tradefm.py", "binning.py")
AUTO_CLASSES = ("AutoConfig", "AutoModel", "AutoModelForCausalLM")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight formats that unpickle (and so can run code) when loaded; a checkpoint holding one is refused."""


class PublishError(Exception):
    """A checkpoint, dataset or Hub request that cannot be published; the message names the file or repo."""


@dataclass
class CheckpointInfo:
    """A validated checkpoint directory.

    Attributes:
        path: the directory.
        config: its :class:`TradeFMConfig`.
        preset: the preset whose shape the config has (``tiny``, ``125m``, ``250m``, ``500m``) or ``None``.
        n_parameters: number of stored parameters (sum of the safetensors tensors' sizes).
        calibration: the tokenizer's calibration state (``tradefm_tokenizer.json``).
        training_summary: ``training_summary.json`` (written by ``train_accelerate.py``) or ``None``.
        metrics: ``metrics.json`` (written by ``tradefm-eval``) or ``None``.
        files: the files to publish (top-level regular files, README.md excluded: it is generated).
    """

    path: Path
    config: TradeFMConfig
    preset: str | None
    n_parameters: int
    calibration: dict
    training_summary: dict | None
    metrics: dict | None
    files: list[Path]


def _read_json(path: Path, required: bool) -> dict | None:
    if not path.exists():
        if required:
            raise PublishError(f"{path}: missing")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise PublishError(f"{path}: not valid JSON ({err})") from err


def preset_of(config: TradeFMConfig) -> str | None:
    """Name of the preset whose every field ``config`` matches, else ``None``."""
    for name, fields in PRESETS.items():
        if all(getattr(config, key) == value for key, value in fields.items()):
            return name
    return None


def stored_tensor_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in the directory's safetensors weights, read from the file headers only.

    Raises:
        PublishError: no safetensors weights, an index naming a missing shard, or a corrupt header.
    """
    index = directory / WEIGHTS_INDEX_FILE
    if index.exists():
        shards = sorted(set(_read_json(index, required=True).get("weight_map", {}).values()))
    elif (directory / WEIGHTS_FILE).exists():
        shards = [WEIGHTS_FILE]
    else:
        raise PublishError(f"{directory}: no {WEIGHTS_FILE} (nor {WEIGHTS_INDEX_FILE}); save the model with "
                           "save_pretrained(), which writes safetensors")
    shapes = {}
    for shard in shards:
        path = directory / shard
        if not path.exists():
            raise PublishError(f"{index}: shard {shard} is missing")
        try:
            with safe_open(str(path), framework="pt") as f:
                shapes.update({key: tuple(f.get_slice(key).get_shape()) for key in f.keys()})
        except (SafetensorError, OSError) as err:
            raise PublishError(f"{path}: not a readable safetensors file ({err})") from err
    return shapes


def _check_weights(directory: Path, config: TradeFMConfig) -> int:
    """Compare the stored tensors with the parameters ``config`` defines; return the stored count."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost even for 500m
        model = TradeFMForCausalLM(config)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    optional = set(model._tied_weights_keys) if config.tie_word_embeddings else set()
    stored = stored_tensor_shapes(directory)
    where = directory / (WEIGHTS_INDEX_FILE if (directory / WEIGHTS_INDEX_FILE).exists() else WEIGHTS_FILE)
    missing = sorted(set(expected) - set(stored) - optional)
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise PublishError(f"{where}: weights do not match config.json: missing tensors {missing[:5]}"
                           f"{' …' if len(missing) > 5 else ''}, unexpected tensors {unexpected[:5]}"
                           f"{' …' if len(unexpected) > 5 else ''}")
    for key, shape in stored.items():
        if shape != expected[key]:
            raise PublishError(f"{where}: tensor {key!r} has shape {list(shape)} but config.json "
                               f"({directory / 'config.json'}) implies {list(expected[key])}")
    return sum(int(torch.Size(shape).numel()) for shape in stored.values())


def _check_code_files(directory: Path, names: tuple[str, ...]):
    for name in names:
        if not (directory / name).exists():
            raise PublishError(f"{directory / name}: missing (trust_remote_code loading needs it); "
                               "save_pretrained() copies it")


def _check_tokenizer(directory: Path, config: TradeFMConfig) -> dict:
    """Load the tokenizer (which validates its calibration JSON) and check it fits the model."""
    if not (directory / TOKENIZER_FILE).exists():
        raise PublishError(f"{directory}: no tokenizer ({TOKENIZER_FILE}); save the calibrated TradeFMTokenizer "
                           "next to the model with tokenizer.save_pretrained(directory)")
    _check_code_files(directory, TOKENIZER_CODE_FILES)
    tokenizer_config = _read_json(directory / "tokenizer_config.json", required=True)
    if "AutoTokenizer" not in tokenizer_config.get("auto_map", {}):
        raise PublishError(f"{directory / 'tokenizer_config.json'}: field 'auto_map' lacks AutoTokenizer, so "
                           "trust_remote_code users could not load the tokenizer")
    try:
        tokenizer = TradeFMTokenizer.from_pretrained(str(directory))
    except (ValueError, OSError, TypeError) as err:
        raise PublishError(f"{directory / TOKENIZER_FILE}: tokenizer fails validation: {err}") from err
    if len(tokenizer) != config.vocab_size:
        raise PublishError(f"{directory / TOKENIZER_FILE}: tokenizer has {len(tokenizer)} ids but config.json has "
                           f"vocab_size {config.vocab_size}")
    if list(tokenizer.context_vocab_sizes) != list(config.context_vocab_sizes):
        raise PublishError(f"{directory / TOKENIZER_FILE}: context vocabularies {list(tokenizer.context_vocab_sizes)}"
                           f" differ from config.json's context_vocab_sizes {list(config.context_vocab_sizes)}")
    return tokenizer.calibration


def validate_checkpoint(directory: str | Path) -> CheckpointInfo:
    """Check that a directory is a complete, safe, self-consistent TradeFM checkpoint. Reads headers only.

    Checks: no pickle weight files (``.bin``, ``.pt``, ``.pth``, ``.pkl``, ``.pickle``, ``.ckpt``); a TradeFM
    ``config.json`` with ``auto_map`` for AutoConfig/AutoModel/AutoModelForCausalLM and its code files;
    safetensors weights whose tensor names and shapes are exactly those the config defines; a tokenizer whose
    calibration JSON validates, whose size equals ``vocab_size`` and whose context vocabularies equal
    ``context_vocab_sizes``, with its remote-code files and ``auto_map``.

    Raises:
        PublishError: the first problem found, naming the file (and tensor or field).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PublishError(f"{directory}: checkpoint directory does not exist")
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise PublishError(f"{directory / pickles[0]}: pickle checkpoints are refused (loading one can run "
                           "arbitrary code); save with save_pretrained(), which writes model.safetensors")
    raw = _read_json(directory / "config.json", required=True)
    if raw.get("model_type") != TradeFMConfig.model_type:
        raise PublishError(f"{directory / 'config.json'}: field 'model_type' is {raw.get('model_type')!r}, "
                           f"not {TradeFMConfig.model_type!r}")
    missing_auto = [name for name in AUTO_CLASSES if name not in raw.get("auto_map", {})]
    if missing_auto:
        raise PublishError(f"{directory / 'config.json'}: field 'auto_map' lacks {missing_auto}")
    _check_code_files(directory, MODEL_CODE_FILES)
    try:
        config = TradeFMConfig.from_pretrained(str(directory))
    except (ValueError, TypeError) as err:
        raise PublishError(f"{directory / 'config.json'}: invalid TradeFM config ({err})") from err
    n_parameters = _check_weights(directory, config)
    calibration = _check_tokenizer(directory, config)
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name != "README.md")
    return CheckpointInfo(path=directory, config=config, preset=preset_of(config), n_parameters=n_parameters,
                          calibration=calibration,
                          training_summary=_read_json(directory / "training_summary.json", required=False),
                          metrics=_read_json(directory / "metrics.json", required=False), files=files)
