#!/usr/bin/env bash
# TradeFM main job on the bundled real data (LOBSTER AAPL + AMZN, 2012-06-21; Databento ES futures):
#   1. environment   (.venv with the CPU torch wheel, unless one is active)
#   2. prepare        raw LOBSTER files → calibrated tokenizer + Arrow shards; ES futures as a zero-shot set
#   3. train          the `tiny` preset with accelerate for a bounded time, 2 CPU processes (DDP, gloo)
#   4. generate       closed-loop rollouts after a real prompt, simulator in the loop (Parquet + LOBSTER files)
#   5. evaluate       stylized facts, K-S / W1 vs real, Compound Hawkes and Zero-Intelligence baselines,
#                     perplexity and zero-shot perplexity on ES futures → demo_output/report/report.md
# Everything lands in demo_output/ (override with OUT=...). Training cap: TRAIN_MINUTES (default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-demo_output}
TRAIN_MINUTES=${TRAIN_MINUTES:-15}
NUM_PROCESSES=${NUM_PROCESSES:-2}

if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet torch==2.13.0
  fi
  .venv/bin/pip install --quiet -e ".[dev]"
  . .venv/bin/activate
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"

echo "== 1/5 prepare: LOBSTER AAPL + AMZN (one session: train/validation/test by time within 10 blocks;"
echo "   training windows every 64 events, so each event is learnt at several context positions; every sweep of"
echo "   executions is also a model event, the aggressor's add, so the model sees the flow that takes liquidity)"
tradefm-prep --data data/lobster --output "$OUT/prepared" --context-length 256 --split-blocks 10 --stride 64 \
  --executions aggressor_adds
echo "== prepare: ES futures (Databento DBN) with the frozen tokenizer, held out for zero-shot"
tradefm-prep --data data/databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst --output "$OUT/zero_shot" \
  --tokenizer "$OUT/prepared/tokenizer" --holdout-instruments ESH4 --context-length 256

echo "== 2/5 train: tiny preset, $NUM_PROCESSES CPU processes, ≤ $TRAIN_MINUTES min"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$NUM_PROCESSES" -gt 1 ]; then
  LAUNCH=(env GLOO_SOCKET_IFNAME=lo ACCELERATE_USE_CPU=true accelerate launch --multi_gpu
          --num_processes "$NUM_PROCESSES" --num_machines 1 --mixed_precision no --dynamo_backend no
          --main_process_port "$PORT")
else
  LAUNCH=(accelerate launch --cpu --num_processes 1 --mixed_precision no --dynamo_backend no)
fi
"${LAUNCH[@]}" train_accelerate.py --cpu --data "$OUT/prepared" --model-size tiny --context-length 256 \
  --batch-size $((8 / NUM_PROCESSES)) --lr 2e-3 --warmup-steps 40 --max-steps 600 \
  --max-minutes "$TRAIN_MINUTES" --eval-every 200 --save-every 600 --output-dir "$OUT/run"

python - "$OUT/run/final/training_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"held-out perplexity: TradeFM {s['val_perplexity']:.0f} | unigram {s['unigram_perplexity']:.0f} | "
      f"uniform {s['uniform_perplexity']:.0f}  ({s['step']} steps, {s['train_tokens_seen']} tokens, {s['minutes']} min)")
PY

echo "== 3/5 generate: 4 rollouts × 512 events after 256 real AAPL events"
tradefm-generate --model "$OUT/run/final" --prompt data/lobster/AAPL_2012-06-21_34200000_57600000_message_1.csv.zst \
  --prompt-events 256 --prompt-start 60000 --events 512 --rollouts 4 --seed 0 --out "$OUT/rollouts"

echo "== 4/5 evaluate: held-out windows, TradeFM vs Compound Hawkes vs Zero-Intelligence, perplexity"
tradefm-eval --model "$OUT/run/final" --data data/lobster --prepared "$OUT/prepared" --zero-shot "$OUT/zero_shot" \
  --prompt-events 256 --events 512 --rollouts 4 --windows 4 --out "$OUT/report" > "$OUT/eval.log"
sed -n '/## Summary/,/## Figures/p' "$OUT/report/report.md"

echo "== 5/5 done"
echo "checkpoint: $OUT/run/final   (AutoModelForCausalLM.from_pretrained(\"$OUT/run/final\"))"
echo "rollouts:   $OUT/rollouts    report: $OUT/report/report.md"
