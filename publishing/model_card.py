"""Hub cards: the model card (``README.md`` of a model repository) and the prepared dataset's card.

Everything on a card is read from the files published with it: ``config.json`` and the safetensors headers
(preset, parameter count, shape), ``tradefm_tokenizer.json`` (vocabulary, bins, calibration window),
``training_summary.json`` (``train_accelerate.py``: steps, tokens, validation perplexity and baselines),
``metrics.json`` (``tradefm-eval``) and, for the dataset, ``prep_summary.json`` (``tradefm-prep``).
"""

from __future__ import annotations

import math

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from tokenization.binning import FieldBins

from .checkpoint import CheckpointInfo

LICENSE = "apache-2.0"
TAGS = ["finance", "market-microstructure", "order-flow", "time-series", "limit-order-book", "tradefm"]
PIPELINE_TAG = "time-series-forecasting"
ARXIV_ID = "2602.23784"
CITATION = """@article{kawawabeaudan2026tradefm,
  title   = {TradeFM: A Generative Foundation Model for Trade-flow and Market Microstructure},
  author  = {Kawawa-Beaudan, Maxime and Sood, Srijan and Papasotiriou, Kassiani and Borrajo, Daniel and Veloso, Manuela},
  journal = {arXiv preprint arXiv:2602.23784},
  year    = {2026}
}"""
FIELDS = {  # calibration key → (what the bin measures, raw unit, binning; paper §5.3 and §6)
    "price_offset": ("δp, price offset from the EW-VWAP mid (p − p̂)/p̂", "fraction", "equal-frequency"),
    "size": ("v = log(1 + size)", "shares", "equal-width in log(1 + size)"),
    "inter_arrival": ("Δt, time since the previous event", "seconds", "equal-width in log(Δt + floor)"),
    "mid_return_open": ("Δp, mid return since the open (context)", "fraction", "equal-frequency"),
    "spread": ("relative quoted spread (ask − bid)/midpoint of the book the event met (context)", "fraction",
               "equal-frequency"),
}


def _number(value) -> str:
    """A readable cell: integers with separators, floats with 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"


def _flatten(tree: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dict → (dotted key, leaf) rows, lists of scalars joined; in the file's order."""
    rows = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, name + ".")
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            rows.append((name, ", ".join(_number(v) for v in value)))
        elif not isinstance(value, list):
            rows.append((name, value))
    return rows


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_number(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _human_count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def tokenizer_section(calibration: dict) -> str:
    """Markdown describing the composite vocabulary, the bins and the calibration window."""
    n = calibration["n_bins"]
    n_events = 4 * n["price_offset"] * n["size"] * n["inter_arrival"]
    rows = []
    for key, (meaning, unit, spacing) in FIELDS.items():
        if key not in calibration["bins"]:
            continue  # the spread context is optional (book_context="spread")
        bins = FieldBins(**calibration["bins"][key])
        low, high = bins.inverse([bins.edges[0], bins.edges[-1]])
        low, high = (round(float(x), 15) for x in (low, high))  # exp(log(floor)) − floor leaves 1e-22 noise
        rows.append((key, meaning, n[key], spacing, f"{_number(low)} … {_number(high)} {unit}",
                     bins.outlier_mode))
    window = calibration.get("calibration_window", {})
    dates = window.get("dates", [])
    thresholds = calibration.get("liquidity_thresholds", [])
    return "\n".join([
        "## Tokenizer",
        "",
        f"One token per order event (add or cancel), paper Eq. 1 in mixed radix: "
        f"`id = ((action·2 + side)·{n['price_offset']} + price_bin)·{n['size'] * n['inter_arrival']} "
        f"+ size_bin·{n['inter_arrival']} + time_bin`, giving {n_events:,} event ids (action 0 add / 1 cancel, "
        f"side 0 buy / 1 sell), then `<pad>`, `<bos>`, `<eos>`, `<unk>` ({n_events + 4:,} ids in all). Tokens "
        "read `ADD|SELL|p07|v07|t11`.",
        "",
        f"Each position also carries {'four' if 'spread' in n else 'three'} context ids, inputs that are never "
        "predicted: the liquidity tier (3 tiers of average daily volume in shares or contracts per session, split "
        f"at {' and '.join(_number(t) for t in thresholds)}), the market/participant flag (2) and the Δp bin "
        f"({n['mid_return_open']})" + (f", then the spread bin ({n['spread']}; a one-sided book is the top bin)."
                                       if "spread" in n else "."),
        "",
        _table(("field", "meaning", "bins", "spacing", "calibrated range", "outside the range"), rows),
        "",
        f"Calibrated once on {len(dates)} trading day(s)"
        + (f" ({dates[0]}{' … ' + dates[-1] if len(dates) > 1 else ''})" if dates else "")
        + f" of {', '.join(window.get('instruments', [])) or '?'}: {_number(window.get('n_events', 0))} events, "
        f"trimmed to the {_number(window.get('lower_pct', float('nan')))}–"
        f"{_number(window.get('upper_pct', float('nan')))} percentiles, then frozen "
        "(`tradefm_tokenizer.json`).",
    ])


def model_card(info: CheckpointInfo, repo_id: str, dataset_repo_id: str | None = None) -> ModelCard:
    """The model card of a validated checkpoint.

    Args:
        info: from :func:`publishing.checkpoint.validate_checkpoint`.
        repo_id: the model repository (``org/name``), used in the loading snippet.
        dataset_repo_id: the dataset repository published with the model, listed in the metadata.

    Returns:
        A ``ModelCard`` whose metadata has ``library_name: transformers``, the license, the tags, the
        pipeline tag and the datasets; ``str(card)`` is the README.md.
    """
    config, summary = info.config, info.training_summary or {}
    preset = info.preset or summary.get("model_size") or "custom"
    data = ModelCardData(library_name="transformers", license=LICENSE, tags=TAGS, pipeline_tag=PIPELINE_TAG,
                         datasets=[dataset_repo_id] if dataset_repo_id else None)
    shape = _table(("preset", "parameters", "layers", "hidden", "MLP", "query / KV heads", "positions",
                    "vocabulary", "embedding width"),
                   [(preset, info.n_parameters, config.num_hidden_layers, config.hidden_size,
                     config.intermediate_size, f"{config.num_attention_heads} / {config.num_key_value_heads}",
                     config.max_position_embeddings, config.vocab_size, config.embedding_dim)])
    sections = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"TradeFM ({preset}, {_human_count(info.n_parameters)} parameters): a decoder-only Transformer over "
        "Level-3 order flow, one token per order event (add or cancel) of any instrument, from "
        f"[*TradeFM: A Generative Foundation Model for Trade-flow and Market Microstructure*]"
        f"(https://arxiv.org/abs/{ARXIV_ID}). A Llama decoder (RMSNorm, grouped-query attention, RoPE, SwiGLU) "
        "reads the paper's tabular embedding: the trade token and three context features, embedded "
        "separately, concatenated and projected.",
        "",
        "## Model",
        "",
        shape,
        "",
        tokenizer_section(info.calibration),
        "",
        "## Training",
        "",
    ]
    if summary:
        sections += [f"Trained with `train_accelerate.py` for {_number(summary.get('step', '?'))} optimizer steps "
                     f"on {_number(summary.get('train_tokens_seen', '?'))} tokens"
                     + (f" ([dataset]({'https://huggingface.co/datasets/' + dataset_repo_id}))"
                        if dataset_repo_id else "") + ". From `training_summary.json`:", "",
                     _table(("quantity", "value"), _flatten(summary))]
    else:
        sections += ["No `training_summary.json` was published with this checkpoint."]
    if info.metrics:
        sections += ["", "## Evaluation", "", "From `metrics.json` (`tradefm-eval`):", "",
                     _table(("metric", "value"), _flatten(info.metrics))]
    sections += [
        "",
        "## How to use",
        "",
        "```python",
        "import torch",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}", trust_remote_code=True)',
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}", trust_remote_code=True)',
        "# input_ids (batch, time): event tokens; context_ids (batch, time, C): tier, flag, Δp bin (, spread bin)",
        "input_ids = torch.tensor([[tokenizer.bos_token_id, 6011, 6011]])",
        "context_ids = torch.zeros(1, 3, len(tokenizer.context_vocab_sizes), dtype=torch.long)",
        "out = model.generate(input_ids, context_ids=context_ids, max_new_tokens=16, do_sample=True,",
        "                     pad_token_id=tokenizer.pad_token_id)",
        "print(tokenizer.decode(out[0]))",
        "```",
        "",
        "With the `tradefm` package installed (`import modeling_tradefm, tokenization`), the same calls work "
        "without `trust_remote_code`; `tokenizer.encode_events(table)` turns model-event features into ids and "
        "context ids, and `simulator.MarketSimulatorLogitsProcessor` keeps generation on a valid order book.",
        "",
        "## Intended uses and limitations",
        "",
        "- Research on market microstructure: simulating order flow, stress scenarios, synthetic data, "
        "studying stylized facts. Not investment advice and not a trading signal.",
        "- The model sees binned prices, sizes and times: resolution is limited to the calibrated bins; values "
        "outside the calibrated range are clamped.",
        "- Generated flow is only as representative as the training data: instruments, venues, dates and market "
        "regimes absent from it (see the calibration window above) are extrapolation.",
        "- Market data is licensed: the terms of the source data apply to anything derived from it.",
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(sections))


def dataset_card(splits: dict[str, int], prep_summary: dict | None, calibration: dict, repo_id: str,
                 model_repo_id: str | None, metadata: DatasetCardData | None = None) -> DatasetCard:
    """The card of a prepared dataset (``tradefm-prep`` output) on the Hub.

    Args:
        splits: split name → number of rows.
        prep_summary: ``prep_summary.json`` or ``None``.
        calibration: the tokenizer calibration the rows were encoded with.
        repo_id: the dataset repository.
        model_repo_id: the model trained on it, if any.
        metadata: card metadata already on the Hub (``datasets`` writes ``dataset_info`` and ``configs``);
            kept, with license, tags and pretty name added.
    """
    data = metadata or DatasetCardData()
    data.license, data.tags, data.pretty_name = "other", TAGS, f"TradeFM prepared order flow ({repo_id})"
    summary = prep_summary or {}
    sections = [
        f"# {repo_id.split('/')[-1]}",
        "",
        "Order flow prepared for [TradeFM](https://arxiv.org/abs/" + ARXIV_ID + ") by `tradefm-prep`: "
        "fixed-length windows of composite event tokens with their context ids, never crossing an "
        "(instrument, date) session"
        + (f"; the model trained on it is [{model_repo_id}](https://huggingface.co/{model_repo_id})"
           if model_repo_id else "") + ".",
        "",
        _table(("split", "windows"), list(splits.items())),
        "",
        "Columns: `input_ids` (list<int32>, L event ids), `context_ids` (L × 3 int32: liquidity tier, flag, Δp "
        "bin), `attention_mask` (int8, 0 on the padding that ends a session's last window), `instrument`, "
        "`date` (`YYYY-MM-DD`), `start` (int64 offset of the window in its session).",
        "",
        "```python",
        "from datasets import load_dataset",
        f'dataset = load_dataset("{repo_id}")',
        "```",
        "",
    ]
    if summary:
        sessions = summary.get("sessions", [])
        sections += ["## Source", "",
                     f"{len(sessions)} session(s): "
                     + ", ".join(f"{instrument} {date}" for instrument, date in sessions[:20])
                     + (" …" if len(sessions) > 20 else "") + f"; split mode `{summary.get('split_mode', '?')}`, "
                     f"context length {summary.get('context_length', '?')}, "
                     f"training-window stride {summary.get('stride', '?')}. "
                     "From `prep_summary.json`:", "",
                     _table(("quantity", "value"), [(k, v) for k, v in _flatten(summary)
                                                    if not k.startswith(("files", "sessions"))]), ""]
    sections += [tokenizer_section(calibration), "",
                 "## Terms", "",
                 "Derived from licensed market data: the terms of the source files apply to these rows.", "",
                 "## Citation", "", "```bibtex", CITATION, "```", ""]
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(sections))
