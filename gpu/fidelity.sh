#!/bin/bash
# Runs on the GPU machine, from the repository root, with .gpu/ carried (made HERE by
# gpu/prepare-fidelity.sh): the fidelity check of issue 17. The original's train.py (through
# .gpu/ref-harness) and ours (plaid.bench.FidelityRun, CUDA backend, bf16 mode) train the same shape
# from one plan of token batches (WikiText-2 + PTB validation text, a held-out part fixed by the seed),
# one after the other on the one GPU; then gpu/fidelity_compare.py prints both validation NLL curves and
# PASS/FAIL (ours within 2% of the original's at the end).
# usage: gpu/fidelity.sh [--NAME=VALUE ...]   FidelityRun plan's arguments: train.py options (defaults
#   dim 384, n_blocks 16, n_heads 6, seq_len 256, batch_size 64, steps 1000, hook_freq 100,
#   val_batch_size 64; lr_warmup_steps and bias_warmup_steps scaled from train.py's 92000 steps; any
#   other train.py option, e.g. --lr=1e-3) and the harness's (--seed=1, --val_batches=4 distinct
#   held-out batches, --val_passes=2 passes over them per validation, --val_fraction=0.2).
# Environment: FIDELITY_LIMIT_S (default 480) bounds the two trainings together, run one after the other:
# the original's first, with at most FIDELITY_ORIGINAL_SHARE_PCT (default 45) percent of it, then ours
# with the rest; FIDELITY_TOLERANCE (default 0.02);
# FIDELITY_JVM_FLAGS: more flags for our side's JVM (a later -D wins, e.g. -Dplaid.backend=cpu for a dry run).
# Output in $OUT/fidelity: spec.txt and windows.i32 (the plan), original.tsv / ours.tsv (the curves),
# original.log / ours.log, device.txt. Exit status: the comparison's (0 PASS, 1 FAIL), 2 when no plan.
set -uo pipefail
cd "$(dirname "$0")/.."
# Python runs with the library path it came with: device-env.sh's (for our JVM) would put the system's
# CUDA libraries before the ones PyTorch ships with
if [ -n "${LD_LIBRARY_PATH+set}" ]; then python=(env "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" python3); else python=(env -u LD_LIBRARY_PATH python3); fi
source gpu/device-env.sh
for need in .gpu/fidelity/tokens.i32 .gpu/original/plaid/train.py .gpu/ref-harness/common.py .gpu/classes/bench/main; do
  [ -e "$need" ] || { echo "no $need: run gpu/prepare-fidelity.sh here first and carry .gpu" >&2; exit 2; }
done
dir=$out/fidelity
rm -rf "$dir"
mkdir -p "$dir"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$dir/device.txt"
cat .gpu/original/VERSION
# the original's wrap_main spawns a process per visible GPU; one GPU for both sides
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}

classpath=$( (ls -d .gpu/classes/*/main; ls .gpu/lib/*.jar | grep -v junit-platform-console-standalone) | paste -sd:)
jvm=("$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m -Xmx32g
  -Dplaid.kernel.cache=/tmp/plaid-kernels -cp "$classpath")
"${jvm[@]}" plaid.bench.FidelityRun plan --tokens=.gpu/fidelity/tokens.i32 --out="$dir" "$@" 2>&1 | grep -v 'incubator modules'
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 2

original() {
  PLAID_ORIGINAL=$PWD/.gpu/original PLAID_REF_HARNESS=$PWD/.gpu/ref-harness \
    timeout "$1" "${python[@]}" -u gpu/fidelity_original.py "$dir" > "$dir/original.log" 2>&1
}
ours() {
  timeout "$1" "${jvm[@]}" -Dplaid.backend=cuda -Dplaid.cuda.precision=bf16 ${FIDELITY_JVM_FLAGS:-} \
    plaid.bench.FidelityRun train "$dir" \
    > "$dir/ours.log" 2>&1
}
# One after the other, not side by side: our backend frees device memory when the JVM collects its
# tensors, so garbage can fill the card until an allocation fails, and would starve a PyTorch process
# beside it; alone, each side's step times are its own, too.
limit=${FIDELITY_LIMIT_S:-480}
start=$SECONDS
original $((limit * ${FIDELITY_ORIGINAL_SHARE_PCT:-45} / 100))
original_status=$?
ours $((limit - (SECONDS - start)))
ours_status=$?
echo "== trainings: original exit $original_status, ours exit $ours_status (124: out of time), $((SECONDS - start)) s"
for side in original ours; do
  echo "-- $side.log, last lines"
  grep -v -e 'incubator modules' -e 'Warning' "$dir/$side.log" | tail -n 14
done
"${python[@]}" gpu/fidelity_compare.py "$dir" "${FIDELITY_TOLERANCE:-0.02}"
