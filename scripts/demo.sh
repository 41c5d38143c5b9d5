#!/usr/bin/env bash
# TradeFM main job on the bundled real data (LOBSTER AAPL + AMZN, 2012-06-21; Databento ES futures):
#   1. environment   (.venv with the CPU torch wheel, unless one is active)
#   2. prepare        raw LOBSTER files → calibrated tokenizer + Arrow shards; ES futures as a zero-shot set
#   3. train          the `tiny` preset with accelerate for a bounded time, 2 CPU processes (DDP, gloo)
#   4. report         held-out perplexity vs the uniform and unigram baselines
# Everything lands in demo_output/ (override with OUT=...). Budget: TRAIN_MINUTES (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-demo_output}
TRAIN_MINUTES=${TRAIN_MINUTES:-8}
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

echo "== 1/3 prepare: LOBSTER AAPL + AMZN (train/validation/test by time within the one session)"
tradefm-prep --data data/lobster --output "$OUT/prepared" --context-length 256 --stride 256
echo "== prepare: ES futures (Databento DBN) with the frozen tokenizer, held out for zero-shot"
tradefm-prep --data data/databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst --output "$OUT/zero_shot" \
  --tokenizer "$OUT/prepared/tokenizer" --holdout-instruments ESH4 --context-length 256

echo "== 2/3 train: tiny preset, $NUM_PROCESSES CPU processes, ≤ $TRAIN_MINUTES min"
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$NUM_PROCESSES" -gt 1 ]; then
  LAUNCH=(env GLOO_SOCKET_IFNAME=lo ACCELERATE_USE_CPU=true accelerate launch --multi_gpu
          --num_processes "$NUM_PROCESSES" --num_machines 1 --mixed_precision no --dynamo_backend no
          --main_process_port "$PORT")
else
  LAUNCH=(accelerate launch --cpu --num_processes 1 --mixed_precision no --dynamo_backend no)
fi
"${LAUNCH[@]}" train_accelerate.py --cpu --data "$OUT/prepared" --model-size tiny --context-length 256 \
  --batch-size 8 --lr 2e-3 --warmup-steps 50 --max-minutes "$TRAIN_MINUTES" --eval-every 200 \
  --output-dir "$OUT/run"

echo "== 3/3 report"
python - "$OUT/run/final/training_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps(s, indent=1))
PY
echo "checkpoint: $OUT/run/final  (AutoModelForCausalLM.from_pretrained(\"$OUT/run/final\"))"
