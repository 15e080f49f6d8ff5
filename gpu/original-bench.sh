#!/bin/bash
# Runs on the GPU machine, from the repository root, with .gpu/ carried (made HERE by
# gpu/prepare-fidelity.sh, which puts the original's code in .gpu/original and the reference harness
# in .gpu/ref-harness): the original's own sample.py and train.py timed on this card, for ratios
# against ours from the same lease (issue 17). Random weights and synthetic tokens, as our benchmarks.
# usage: gpu/original-bench.sh [sampling] [training]   (default: both)
#   sampling: the 1B shape (D 2048, L 24, H 32) and the small one (D 384, L 16, H 6), 8 × 1024,
#             unguided then sample.py's first prefix completion; the small shape's prefix call also at 8 × 256
#   training: the small shape at batch 256 × 256 (100 steps) and D 1024, L 16, H 16 at 32 × 1024 (40 steps)
# Output: $OUT/original/*.txt (the harness's output) and a summary on stdout; ORIGINAL_LIMIT_S (default
# 150) bounds each run.
set -uo pipefail
cd "$(dirname "$0")/.."
for need in .gpu/original/plaid/sample.py .gpu/original/plaid/train.py .gpu/ref-harness/common.py; do
  [ -e "$need" ] || { echo "no $need: run gpu/prepare-fidelity.sh here first and carry .gpu" >&2; exit 2; }
done
out=${OUT:-/tmp/out}/original
mkdir -p "$out"
export PLAID_ORIGINAL=$PWD/.gpu/original CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
harness=$PWD/.gpu/ref-harness
limit=${ORIGINAL_LIMIT_S:-150}
parts=("${@:-sampling training}")
parts=(${parts[*]})

sample() { # name dim blocks heads seq_len steps calls
  (cd "$harness" && timeout "$limit" python3 bench_sample.py "${@:2}") > "$out/sample-$1.txt" 2>&1
  # tqdm's carriage returns make the output look binary to grep; a line reads CALL n steps=N median_step_s=S total_s=T
  echo "sampling $1 (D $2, L $3, H $4, 8 × $5, $6 steps a call): $(tr '\r' '\n' < "$out/sample-$1.txt" | grep -aE '^CALL' \
    | awk '{split($4, m, "="); printf "call %d %.1f ms/step; ", NR, m[2] * 1000}')$(grep -a MAXMEM "$out/sample-$1.txt")"
}
train() { # name dim blocks heads seq_len batch steps
  (cd "$harness" && timeout "$limit" python3 bench_train.py "${@:2}") > "$out/train-$1.txt" 2>&1
  # train.py prints the running mean of step time since step 0; windows between prints are (n2 t2 - n1 t1)/(n2 - n1)
  echo "training $1 (D $2, L $3, H $4, batch $6 × $5): $(awk '$1 ~ /^[0-9]+$/ && NF > 5 {
      n = $1 + 1; if (pn) printf "steps %d-%d %.1f ms; ", pn, n - 1, (n * $2 - pn * pt) / (n - pn) * 1000; pn = n; pt = $2 }' \
    "$out/train-$1.txt")$(grep -a MAXMEM "$out/train-$1.txt")"
}
for part in "${parts[@]}"; do
  case $part in
    sampling)
      sample 1B 2048 24 32 1024 32 2
      sample small 384 16 6 1024 64 2
      sample small-256 384 16 6 256 64 2 ;;
    training)
      train small 384 16 6 256 256 100
      train 1024 1024 16 16 1024 32 40 ;;
    *) echo "unknown part $part (sampling, training)" >&2; exit 2 ;;
  esac
done
