"""Per-token negative log-likelihood and perplexity of a TradeFM checkpoint on prepared shards (nats).

Perplexity = exp(mean NLL per predicted token), token-weighted over every window of a split; padding
(``attention_mask`` 0) is never a target. The uniform floor is the number of event tokens (16,384:
ln 16384 = 9.70 nats, paper §7).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch


def sequence_nll(model, input_ids: torch.Tensor, context_ids: torch.Tensor, attention_mask: torch.Tensor):
    """Summed next-token NLL (nats) and number of predicted tokens per sequence.

    Args:
        input_ids: (B, T) int64. context_ids: (B, T, C) int64. attention_mask: (B, T), 0 on padding.

    Returns:
        ``(nll_sum, n_tokens)``: two (B,) float64 tensors.
    """
    logits = model(input_ids=input_ids, context_ids=context_ids, attention_mask=attention_mask).logits
    labels = input_ids.masked_fill(attention_mask == 0, -100)[:, 1:]
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(),
                                            ignore_index=-100, reduction="none").view_as(labels)
    return nll.sum(1).double(), (labels != -100).sum(1).double()


@torch.no_grad()
def perplexity(model, dataset, batch_size: int = 8) -> dict:
    """NLL and perplexity of ``model`` on a prepared split, overall and by instrument.

    Args:
        dataset: a ``datasets.Dataset`` with the shard columns (``data_prep.shards``).

    Returns:
        ``{"overall": {...}, "by_instrument": {name: {...}}}``, each with ``nll`` (nats/token),
        ``perplexity`` and ``tokens``.
    """
    model.eval()
    device = next(model.parameters()).device
    data = dataset.with_format("numpy")
    totals = defaultdict(lambda: np.zeros(2))
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        tensors = {k: torch.as_tensor(np.asarray(batch[k]), dtype=torch.long, device=device)
                   for k in ("input_ids", "context_ids", "attention_mask")}
        nll, n = sequence_nll(model, **tensors)
        for instrument, a, b in zip(batch["instrument"], nll.cpu().numpy(), n.cpu().numpy()):
            totals[str(instrument)] += (a, b)
    by_instrument = {k: _summary(*v) for k, v in sorted(totals.items())}
    overall = np.sum(list(totals.values()), axis=0) if totals else np.zeros(2)
    return {"overall": _summary(*overall), "by_instrument": by_instrument}


def _summary(nll_sum: float, tokens: float) -> dict:
    nll = nll_sum / tokens if tokens else float("nan")
    return {"nll": float(nll), "perplexity": math.exp(nll) if tokens else float("nan"), "tokens": int(tokens)}
