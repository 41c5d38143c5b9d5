"""Publish a TradeFM checkpoint, its tokenizer and optionally its prepared dataset to the Hugging Face Hub.

Everything is checked on disk first (:func:`publishing.checkpoint.validate_checkpoint`, the dataset and
its tokenizer), so bad input fails before the first request. Then the model repository receives exactly
one commit holding every file (weights through LFS, config, code files, tokenizer, summaries, the
generated model card): a failed push leaves the repository as it was. The dataset goes first, to the
dataset repository of the same id, with ``DatasetDict.push_to_hub`` (Parquet shards, one commit), then its
card.

The token comes from ``token=``, else ``HF_TOKEN``, else ``hf auth login``; it is never logged, and every
Hub error is re-raised as :class:`PublishError` with the token redacted.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from datasets import DatasetDict, load_from_disk
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, get_token, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from .checkpoint import TOKENIZER_FILE, CheckpointInfo, PublishError, validate_checkpoint
from .model_card import dataset_card, model_card

logger = logging.getLogger(__name__)
DATASET_COLUMNS = ("input_ids", "context_ids", "attention_mask")


@dataclass
class PushResult:
    """Where a push landed: repository ids, the branch, and the commit ids (``None`` if not pushed)."""

    repo_id: str
    revision: str
    commit_oid: str
    commit_url: str
    dataset_repo_id: str | None = None
    dataset_commit_oid: str | None = None


@contextmanager
def _hub_call(action: str, token: str, endpoint: str):
    """Turn any failure of a Hub request into a :class:`PublishError` that cannot contain the token."""
    try:
        yield
    except (OSError, ValueError, httpx2.HTTPError) as err:  # HfHubHTTPError is an OSError
        status = err.response.status_code if isinstance(err, HfHubHTTPError) and err.response is not None else None
        if status == 401:
            message = (f"{action}: the Hugging Face token (token=, HF_TOKEN or `hf auth login`) was refused by "
                       f"{endpoint} (401 Unauthorized)")
        else:
            detail = " ".join(str(err).split()).replace(token, "<token>")
            message = f"{action}: {type(err).__name__}: {detail}"
        raise PublishError(message) from None  # no chained traceback: it could print request details


def validate_dataset(dataset_dir: str | Path, checkpoint: CheckpointInfo) -> DatasetDict:
    """Load a ``tradefm-prep`` output and check it was encoded with the checkpoint's tokenizer.

    Raises:
        PublishError: not a saved ``DatasetDict``, a missing column, or a tokenizer (``PREP/tokenizer/``)
            whose calibration differs from the checkpoint's.
    """
    dataset_dir = Path(dataset_dir)
    if not (dataset_dir / "dataset_dict.json").exists():
        raise PublishError(f"{dataset_dir}: not a prepared dataset (no dataset_dict.json; write it with tradefm-prep)")
    dataset = load_from_disk(str(dataset_dir))
    for split, part in dataset.items():
        missing = [c for c in DATASET_COLUMNS if c not in part.column_names]
        if missing:
            raise PublishError(f"{dataset_dir / split}: columns {missing} are missing")
    tokenizer_file = dataset_dir / "tokenizer" / TOKENIZER_FILE
    if not tokenizer_file.exists():
        raise PublishError(f"{tokenizer_file}: missing (tradefm-prep saves the tokenizer it encoded with there)")
    if json.loads(tokenizer_file.read_text(encoding="utf-8")) != checkpoint.calibration:
        raise PublishError(f"{tokenizer_file}: the dataset was encoded with a different tokenizer calibration than "
                           f"the checkpoint's {checkpoint.path / TOKENIZER_FILE}")
    return dataset


def _push_dataset(api: HfApi, dataset: DatasetDict, dataset_dir: Path, checkpoint: CheckpointInfo, repo_id: str,
                  model_repo_id: str, revision: str, private: bool, token: str, commit_message: str) -> str:
    """Parquet shards + ``datasets``' card metadata in one commit, then our card text; returns the last commit."""
    with _hub_call(f"pushing dataset {dataset_dir} to datasets/{repo_id}@{revision}", token, api.endpoint):
        info = dataset.push_to_hub(repo_id, private=private, revision=revision, token=token,
                                   commit_message=commit_message)
        readme = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=info.oid, token=token,
                                 endpoint=api.endpoint)
        summary_file = dataset_dir / "prep_summary.json"
        card = dataset_card({split: part.num_rows for split, part in dataset.items()},
                            json.loads(summary_file.read_text()) if summary_file.exists() else None,
                            checkpoint.calibration, repo_id, model_repo_id, DatasetCard.load(readme).data)
        card_commit = api.create_commit(repo_id, [CommitOperationAdd("README.md", str(card).encode())],
                                        commit_message="Dataset card", repo_type="dataset", revision=revision,
                                        parent_commit=info.oid)
    logger.info("dataset committed: %s", card_commit.commit_url)
    return card_commit.oid


def push_to_hub(checkpoint_dir: str | Path, repo_id: str, *, revision: str | None = None, private: bool = False,
                commit_message: str | None = None, dataset_dir: str | Path | None = None,
                dataset_repo_id: str | None = None, token: str | None = None) -> PushResult:
    """Publish a checkpoint directory (model, tokenizer, code, summaries, model card) in one commit.

    Args:
        checkpoint_dir: a ``save_pretrained`` directory with the tokenizer (``train_accelerate.py``'s ``final/``).
        repo_id: ``org/name`` of the model repository; created if missing (``private`` applies then).
        revision: branch to commit to; created from ``main`` if missing. Default ``main``.
        commit_message: default ``"Upload TradeFM <preset> (<N> parameters)"``.
        dataset_dir: a ``tradefm-prep`` output to publish too (encoded with the checkpoint's tokenizer).
        dataset_repo_id: its repository, default ``repo_id`` (as a dataset repository, so
            ``load_dataset(repo_id)`` loads it).
        token: a write token; default ``HF_TOKEN`` or the saved login.

    Returns:
        :class:`PushResult`.

    Raises:
        PublishError: invalid checkpoint or dataset (before any request), no token, a refused token,
            no write access, or any failed Hub request (the token never appears in the message).
    """
    checkpoint = validate_checkpoint(checkpoint_dir)
    dataset = validate_dataset(dataset_dir, checkpoint) if dataset_dir is not None else None
    dataset_repo_id = (dataset_repo_id or repo_id) if dataset is not None else None
    card = model_card(checkpoint, repo_id, dataset_repo_id)
    branch = revision or "main"
    commit_message = commit_message or (f"Upload TradeFM {checkpoint.preset or 'custom'} "
                                        f"({checkpoint.n_parameters:,} parameters)")
    token = token or get_token()
    if not token:
        raise PublishError("no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token is needed)")
    api = HfApi(token=token)

    with _hub_call("checking the token", token, api.endpoint):
        user = api.whoami()["name"]
    logger.info("publishing %s to %s@%s as %s", checkpoint.path, repo_id, branch, user)
    dataset_oid = None
    if dataset is not None:
        dataset_oid = _push_dataset(api, dataset, Path(dataset_dir), checkpoint, dataset_repo_id, repo_id, branch,
                                    private, token, commit_message)
    operations = [CommitOperationAdd(path.name, str(path)) for path in checkpoint.files]
    operations.append(CommitOperationAdd("README.md", str(card).encode()))
    with _hub_call(f"pushing {checkpoint.path} to {repo_id}@{branch}", token, api.endpoint):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        commit = api.create_commit(repo_id, operations, commit_message=commit_message, revision=branch)
    logger.info("model committed: %s", commit.commit_url)
    return PushResult(repo_id=repo_id, revision=branch, commit_oid=commit.oid, commit_url=commit.commit_url,
                      dataset_repo_id=dataset_repo_id, dataset_commit_oid=dataset_oid)
