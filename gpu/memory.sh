#!/bin/bash
# Runs on the GPU machine, from the repository root, with .gpu/ carried (made by
# `gpu/prepare.sh native model bench`): plaid.bench.TrainingMemoryBenchmark, the small model's
# training step (batch 256, bf16) with the output head chunked and 0, 8 and 16 of its blocks'
# activations recomputed, its peak device memory and ms/step beside the original's (issue 17:
# ≤ 20 GiB). No parity tests (gpu/run-tests.sh has them). Extra arguments go to the JVM, e.g.
# -Dplaid.bench.recomputedBlocks=0,4,auto, -Dplaid.bench.chunkModes=chunked,head,whole,
# -Dplaid.bench.chunkRows=1024, -Dplaid.bench.timedSteps=20, -Dplaid.bench.precision=fp32,
# -Dplaid.bench.trainingBatch=128. Time limit: BENCH_LIMIT_S (default 420).
# Output: $OUT/memory.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
BENCH_MAIN=plaid.bench.TrainingMemoryBenchmark BENCH_OUT=memory.txt TESTS_LIMIT_S=0 \
  BENCH_LIMIT_S=${BENCH_LIMIT_S:-420} exec gpu/bench.sh "$@"
