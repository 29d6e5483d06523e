#!/usr/bin/env bash
# The single-GPU suite: FrenchMedMCQA's test set (622 items) in the constrained and the
# log-likelihood modes through hf and medinj-hf, on a model of Qwen3-4B's shape (random bf16
# weights, built from its config), then the 4B training benchmark (2 timed DoRA steps at the
# recipe's batch). Prints items/s, tokens/s and peak memory; writes JSON under
# benchmarks/results/. About 10 minutes on one H200 (limits below).
#
# On a machine with PyPI:   make gpu-bundle      (.gpu-bundle/: wheels, tokenizer, data)
# On the GPU machine, carrying .gpu-bundle (it needs torch, transformers, peft and accelerate,
# and no network):          bash benchmarks/gpu_suite.sh
# GPU_SUITE_SHAPE=tiny runs the same steps on a tiny model (a check on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${GPU_BUNDLE:-.gpu-bundle}
SHAPE=${GPU_SUITE_SHAPE:-4b}
SITE=${GPU_SUITE_SITE:-/tmp/medinj-site}
PY=${PYTHON:-python3}

[ -d "$BUNDLE/wheels" ] || { echo "gpu_suite: $BUNDLE not found: run make gpu-bundle first"; exit 2; }
"$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$BUNDLE"/wheels/*.whl
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
"$PY" - <<'PY'
import torch, transformers, peft, accelerate, datasets, lm_eval, medinj_eval
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU figures)"
print(f"gpu_suite: GPU {gpu}; torch {torch.__version__}, transformers {transformers.__version__}, "
      f"peft {peft.__version__}, datasets {datasets.__version__}")
PY
limit=()
[ "$SHAPE" = tiny ] && limit=(--limit 8)
timeout 420 "$PY" benchmarks/bench_eval_4b.py --shape "$SHAPE" --data-dir "$BUNDLE/data" \
    --tokenizer "$BUNDLE/tokenizer" "${limit[@]}"
train=(--steps 2 --warmup 1)
[ "$SHAPE" = tiny ] && train+=(--batch 2 --grad-accum 1 --seq-len 64)
timeout 150 "$PY" benchmarks/bench_train_4b.py --shape "$SHAPE" "${train[@]}"
