"""Train TradeFM with 🤗 Accelerate: one CPU, one GPU or many nodes, unchanged.

    accelerate launch train_accelerate.py --data prepared/ --model-size tiny --output-dir runs/tiny

``--data`` is a directory written by ``tradefm-prep`` (``dataset_dict.json`` + ``tokenizer/``) or raw files /
globs, which are then prepared first (on the main process) into ``OUTPUT_DIR/prepared``. The recipe follows
the paper's App. B.3 where it is stated (AdamW, linear schedule with warm-up, next-token cross-entropy) and
standard practice where it is not (β = (0.9, 0.95), weight decay 0.1 on matrices only, gradient clipping 1.0).

Outputs in ``--output-dir``: ``metrics.jsonl`` (one line per optimizer step: loss, lr, epoch; one per
evaluation; a resumed run first drops the lines after its checkpoint, so the file reads as one uninterrupted
run), ``rank_<i>.json`` (what each process trained on in this invocation), ``checkpoints/step_<N>/``
(``save_state``; ``progress.json`` is written last and marks a complete checkpoint; resume with
``--resume-from-checkpoint latest``), TensorBoard logs, and ``final/``: the model and tokenizer
(``save_pretrained``, safetensors) with ``training_summary.json`` (steps, tokens, validation loss and
perplexity beside the uniform and unigram baselines).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from datasets import load_from_disk
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from evaluation.perplexity import sequence_nll
from modeling_tradefm import TradeFMForCausalLM, preset_config
from tokenization import TradeFMTokenizer

COLUMNS = ["input_ids", "context_ids", "attention_mask"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", required=True, help="prepared directory, or raw files/globs to prepare")
    p.add_argument("--model-size", default="tiny", help="preset: tiny, 125m, 250m, 500m")
    p.add_argument("--calib-days", type=int, default=30, help="(raw --data) tokenizer calibration days")
    p.add_argument("--val-days", type=int, default=1, help="(raw --data) trailing validation dates")
    p.add_argument("--context-length", type=int, default=1024, help="(raw --data) tokens per window")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps (overrides --epochs)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this wall time")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per process per micro-batch")
    p.add_argument("--accum-steps", type=int, default=1, help="gradient accumulation micro-batches")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (paper: 5e-5 at 524M)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup-steps", type=int, default=500, help="linear warm-up (paper: 500)")
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--resume-from-checkpoint", default=None, help="checkpoint dir, or 'latest'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mixed-precision", choices=["auto", "no", "fp16", "bf16"], default="auto",
                   help="auto: bf16 on a GPU that supports it, fp16 on other GPUs, no on CPU")
    p.add_argument("--eval-every", type=int, default=500, help="optimizer steps between validations")
    p.add_argument("--save-every", type=int, default=1000, help="optimizer steps between checkpoints")
    p.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="push final/ to this Hub repository")
    p.add_argument("--cpu", action="store_true", help="train on CPU even if a GPU is present")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers per process")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    p.add_argument("--gradient-checkpointing", action="store_true")
    return p.parse_args(argv)


def mixed_precision(choice: str, cpu: bool) -> str:
    if choice != "auto":
        return choice
    if cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def prepared_dir(args, accelerator: Accelerator) -> Path:
    """The prepared dataset directory: ``--data`` itself, or raw files prepared once by the main process."""
    if len(args.data) == 1 and (Path(args.data[0]) / "dataset_dict.json").exists():
        out = Path(args.data[0])
    else:
        out = Path(args.output_dir) / "prepared"
        if accelerator.is_main_process and not (out / "dataset_dict.json").exists():
            from data_prep.pipeline import prepare

            prepare(args.data, out, calib_days=args.calib_days, val_days=args.val_days,
                    context_length=args.context_length)
        accelerator.wait_for_everyone()
    if not (out / "tokenizer").is_dir():
        raise FileNotFoundError(f"{out}: no tokenizer/ beside the shards; prepare the data with tradefm-prep")
    return out


def labels_of(batch) -> torch.Tensor:
    """Next-token targets: the input ids, with padding ignored (-100)."""
    return batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)


@torch.no_grad()
def evaluate(model, loader, accelerator) -> dict:
    """Token-weighted validation loss (nats/token) and perplexity over the whole split, all ranks."""
    model.eval()
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    for batch in loader:
        nll, n_tokens = sequence_nll(model, batch["input_ids"], batch["context_ids"], batch["attention_mask"])
        per_seq = torch.stack([nll, n_tokens], dim=1)
        totals += accelerator.gather_for_metrics(per_seq).sum(0)  # drops the samples padded in by even batches
    model.train()
    loss = (totals[0] / totals[1]).item() if totals[1] > 0 else float("nan")
    return {"val_loss": loss, "val_perplexity": math.exp(loss) if loss == loss else float("nan"),
            "val_tokens": int(totals[1].item())}


def unigram_baseline(train, validation, n_event_tokens: int) -> dict:
    """Perplexity on ``validation`` of the training split's unigram frequencies (add-one smoothed over the
    event vocabulary) and of the uniform distribution (= ``n_event_tokens``)."""
    def event_tokens(split):  # batch by batch: a split need not fit in memory
        for batch in split.with_format("numpy", columns=["input_ids", "attention_mask"]).iter(batch_size=4096):
            ids = np.asarray(batch["input_ids"])[np.asarray(batch["attention_mask"]) == 1]
            yield ids[ids < n_event_tokens]

    counts = np.ones(n_event_tokens)
    for ids in event_tokens(train):
        counts += np.bincount(ids, minlength=n_event_tokens)
    log_p = np.log(counts / counts.sum())
    nll_sum, n = 0.0, 0
    for ids in event_tokens(validation):
        nll_sum, n = nll_sum - log_p[ids].sum(), n + len(ids)
    nll = nll_sum / n if n else float("nan")
    return {"unigram_perplexity": float(np.exp(nll)), "uniform_perplexity": float(n_event_tokens)}


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint (one with ``progress.json``) of the highest step, or ``None``."""
    found = sorted((p.parent for p in (output_dir / "checkpoints").glob("step_*/progress.json")),
                   key=lambda p: int(p.name.split("_")[1]))
    return found[-1] if found else None


def write_atomic(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv=None):
    args = parse_args(argv)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=args.cpu, gradient_accumulation_steps=args.accum_steps,
        mixed_precision=mixed_precision(args.mixed_precision, args.cpu),
        log_with="tensorboard", project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)
    data_dir = prepared_dir(args, accelerator)
    dataset = load_from_disk(str(data_dir))
    tokenizer = TradeFMTokenizer.from_pretrained(data_dir / "tokenizer")
    train_set = dataset["train"].with_format("torch", columns=COLUMNS)
    val_set = dataset["validation"].with_format("torch", columns=COLUMNS)
    context_length = len(train_set[0]["input_ids"])

    config = preset_config(args.model_size, vocab_size=len(tokenizer),
                           context_vocab_sizes=list(tokenizer.context_vocab_sizes),
                           max_position_embeddings=max(1024, context_length), pad_token_id=tokenizer.pad_token_id,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = TradeFMForCausalLM(config)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers,
                              drop_last=True)
    val_loader = DataLoader(val_set, batch_size=args.batch_size, num_workers=args.num_workers)
    train_loader = accelerator.prepare(train_loader)  # its per-process length sets the schedule
    # accelerate syncs gradients at the end of each epoch, so a last short accumulation window is a step too
    steps_per_epoch = max(1, math.ceil(len(train_loader) / args.accum_steps))
    total_steps = args.max_steps or args.epochs * steps_per_epoch
    # the prepared scheduler advances once per process at each optimizer step (accelerate's convention)
    scheduler = get_scheduler("linear", optimizer,
                              num_warmup_steps=min(args.warmup_steps, total_steps) * accelerator.num_processes,
                              num_training_steps=total_steps * accelerator.num_processes)
    model, optimizer, val_loader, scheduler = accelerator.prepare(model, optimizer, val_loader, scheduler)
    if args.compile:
        model = torch.compile(model)

    step, micro_batches, tokens_seen, tokens_before = 0, 0, 0, 0  # tokens_before: all ranks, earlier runs
    metrics_path = output_dir / "metrics.jsonl"
    resume = args.resume_from_checkpoint
    if resume == "latest":
        resume = latest_checkpoint(output_dir)
    if resume:
        accelerator.load_state(str(resume))
        progress_file = json.loads((Path(resume) / "progress.json").read_text())
        step, tokens_before = progress_file["step"], progress_file["train_tokens"]
        if accelerator.is_main_process and metrics_path.exists():  # forget what the interrupted run did later
            lines = metrics_path.read_text().splitlines(keepends=True)
            write_atomic(metrics_path, "".join(line for line in lines if json.loads(line)["step"] <= step))
        accelerator.print(f"resumed from {resume} at step {step}")
    elif accelerator.is_main_process and metrics_path.exists():  # a fresh run does not continue an old log
        metrics_path.unlink()
    accelerator.init_trackers("tradefm", config={k: v for k, v in vars(args).items()
                                                 if isinstance(v, (int, float, str, bool))})

    def log(record):
        accelerator.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])
        if accelerator.is_main_process:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def train_tokens() -> int:  # every rank, every run so far
        return tokens_before + int(accelerator.reduce(torch.tensor(tokens_seen, device=accelerator.device), "sum"))

    def save_checkpoint():
        path = output_dir / "checkpoints" / f"step_{step}"
        accelerator.save_state(str(path))
        progress_record = json.dumps({"step": step, "train_tokens": train_tokens()})
        accelerator.wait_for_everyone()  # every rank's state is on disk before the checkpoint is marked complete
        if accelerator.is_main_process:
            write_atomic(path / "progress.json", progress_record)

    started = time.perf_counter()
    progress = tqdm(total=total_steps, initial=step, desc="train", disable=not accelerator.is_local_main_process)
    model.train()
    stop = step >= total_steps
    epoch = step // steps_per_epoch
    while not stop:
        train_loader.set_epoch(epoch)
        loader = train_loader
        done_in_epoch = (step - epoch * steps_per_epoch) * args.accum_steps
        if done_in_epoch:
            loader = accelerator.skip_first_batches(train_loader, done_in_epoch)
        batches_this_epoch, window_loss, window_batches = 0, 0.0, 0
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(input_ids=batch["input_ids"], context_ids=batch["context_ids"],
                             attention_mask=batch["attention_mask"], labels=labels_of(batch)).loss
                accelerator.backward(loss)
                window_loss, window_batches = window_loss + loss.detach().float(), window_batches + 1
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), args.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            micro_batches += 1
            batches_this_epoch += 1
            tokens_seen += int(batch["attention_mask"].sum())
            if not accelerator.sync_gradients:
                continue
            step += 1
            progress.update(1)
            mean_loss = accelerator.reduce(window_loss / window_batches, "mean").item()  # all micro-batches, ranks
            window_loss, window_batches = 0.0, 0
            log({"step": step, "loss": mean_loss, "lr": scheduler.get_last_lr()[0], "epoch": epoch})
            progress.set_postfix(loss=f"{mean_loss:.3f}")
            if step % args.eval_every == 0:
                log({"step": step, **evaluate(model, val_loader, accelerator)})
            if step % args.save_every == 0:
                save_checkpoint()
            out_of_time = args.max_minutes is not None and time.perf_counter() - started > 60 * args.max_minutes
            # every rank must leave the loop at the same step: agree on the time budget
            out_of_time = accelerator.reduce(torch.tensor(float(out_of_time), device=accelerator.device), "sum") > 0
            if step >= total_steps or out_of_time:
                stop = True
                break
        if batches_this_epoch == 0:
            break  # an empty epoch: nothing more to train on
        epoch += 1
    progress.close()

    (output_dir / f"rank_{accelerator.process_index}.json").write_text(json.dumps(
        {"rank": accelerator.process_index, "world_size": accelerator.num_processes,
         "micro_batches": micro_batches, "tokens": tokens_seen}))
    result = {"step": step, "model_size": args.model_size, "context_length": context_length,
              "parameters": sum(p.numel() for p in accelerator.unwrap_model(model).parameters()),
              "train_tokens_seen": train_tokens(),
              "minutes": round((time.perf_counter() - started) / 60, 2), "world_size": accelerator.num_processes,
              **evaluate(model, val_loader, accelerator)}
    log({"step": step, **{k: v for k, v in result.items() if k.startswith("val_")}})
    save_checkpoint()
    state_dict = accelerator.get_state_dict(model)  # on every rank: under FSDP this gathers the shards
    if accelerator.is_main_process:
        result.update(unigram_baseline(dataset["train"], dataset["validation"], tokenizer.n_event_tokens))
        final, tmp = output_dir / "final", output_dir / "final.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_summary.json").write_text(json.dumps(result, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        accelerator.print(json.dumps(result, indent=1))
        if args.push_to_hub:
            from publishing.push import push_to_hub

            push_to_hub(final, args.push_to_hub)
    accelerator.end_training()


if __name__ == "__main__":
    main()
