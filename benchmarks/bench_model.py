"""Model benchmarks (issue 3).

1. Training step time of TradeFM beside ``LlamaForCausalLM`` of the same dimensions (same hidden size,
   layers, heads, MLP, vocabulary), in one run with the steps interleaved: median tokens/s of each and
   the ratio (target ≤ 1.1×).
2. Peak memory (max RSS growth) of one ``500m`` forward pass at batch 1 × 1024 on CPU, in a fresh
   subprocess so the figure is not polluted by step 1.

    OMP_NUM_THREADS=2 python benchmarks/bench_model.py [--preset tiny] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from modeling_tradefm import TradeFMForCausalLM, preset_config

MEMORY_PROBE = """
import resource, torch
from modeling_tradefm import TradeFMForCausalLM, preset_config
torch.manual_seed(0)
model = TradeFMForCausalLM(preset_config("500m")).eval()
ids = torch.randint(0, 16384, (1, 1024)); ctx = torch.zeros(1, 1024, 3, dtype=torch.long)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.no_grad():
    model(input_ids=ids, context_ids=ctx)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
params = sum(p.numel() for p in model.parameters())
print(f"{params} {before / 1024:.0f} {after / 1024:.0f}")
"""


def step_times(models: dict, inputs: dict, steps: int) -> dict[str, float]:
    """Median seconds per training step (forward, backward, AdamW) of each model. Steps alternate between
    the models so that load from other processes on a shared machine falls on both alike."""
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4) for name, model in models.items()}
    times = {name: [] for name in models}
    for i in range(steps + 2):  # two warm-up steps each
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            loss = model(**inputs[name], labels=inputs[name]["input_ids"]).loss
            loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad()
            if i >= 2:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = preset_config(args.preset)
    tradefm = TradeFMForCausalLM(config)
    llama = LlamaForCausalLM(LlamaConfig(**{k: getattr(config, k) for k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings")}))
    ids = torch.randint(0, 16384, (args.batch_size, args.seq_len))
    ctx = torch.stack([torch.randint(0, n, (args.batch_size, args.seq_len)) for n in config.context_vocab_sizes], -1)
    tokens = args.batch_size * args.seq_len
    times = step_times({"llama": llama, "tradefm": tradefm},
                       {"llama": {"input_ids": ids}, "tradefm": {"input_ids": ids, "context_ids": ctx}}, args.steps)
    t_llama, t_tradefm = times["llama"], times["tradefm"]
    print(f"preset {args.preset}: batch {args.batch_size} x {args.seq_len}, {torch.get_num_threads()} threads")
    print(f"  LlamaForCausalLM   {t_llama * 1000:8.1f} ms/step  {tokens / t_llama:10,.0f} tokens/s  "
          f"({sum(p.numel() for p in llama.parameters()) / 1e6:.2f} M params)")
    print(f"  TradeFMForCausalLM {t_tradefm * 1000:8.1f} ms/step  {tokens / t_tradefm:10,.0f} tokens/s  "
          f"({sum(p.numel() for p in tradefm.parameters()) / 1e6:.2f} M params)")
    print(f"  step-time ratio TradeFM / Llama = {t_tradefm / t_llama:.3f}  (target <= 1.1)")
    if not args.skip_memory:
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, check=True)
        params, before, after = out.stdout.split()
        print(f"500m forward, batch 1 x 1024, CPU fp32: {int(params) / 1e6:.1f} M params, peak RSS {after} MiB "
              f"(model built: {before} MiB; forward adds {int(after) - int(before)} MiB)")


if __name__ == "__main__":
    main()
