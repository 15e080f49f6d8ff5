#!/bin/bash
# Runs on the GPU machine (no Java, Maven or network), from the repository root, with .gpu/
# carried (made by `gpu/prepare.sh native model`): first the parity tests (gpu/run-tests.sh),
# so a kernel that no longer agrees with the CPU is seen next to its speed, then
# plaid.bench.GpuBenchmark (sampling and training figures beside the original's, and
# the per-op breakdown of a training step). Each phase has its own time limit, in seconds:
# TESTS_LIMIT_S (default 180; 0 skips the tests) and BENCH_LIMIT_S (default 300). Extra arguments
# go to the benchmark's JVM, e.g. -Dplaid.bench.precisions=fp32,tf32,bf16 or -Dplaid.bench.only=training.
# To time an earlier build beside this one in the same lease: BENCH_CLASSES names its classes
# folder (default .gpu/classes: MODULE/main under it), BENCH_MAIN its benchmark class, and
# BENCH_OUT the output file's name (default bench.txt).
# Output: $OUT/$BENCH_OUT (the figures), the tests' logs and reports (see run-tests.sh).
# Exit status: non-zero when the tests failed or the benchmark did not finish.
set -uo pipefail
cd "$(dirname "$0")/.."
source gpu/device-env.sh

classes=${BENCH_CLASSES:-.gpu/classes}
if [ -z "${BENCH_MAIN:-}" ] && [ ! -d "$classes/bench/main" ]; then
  echo "no $classes/bench: the benchmark lives in the bench module; run gpu/prepare.sh native model bench" >&2
  exit 2
fi
tests_status=0
if [ "${TESTS_LIMIT_S:-180}" != 0 ]; then
  timeout "${TESTS_LIMIT_S:-180}" gpu/run-tests.sh
  tests_status=$?
  echo "== parity tests: exit $tests_status (124: out of time)"
fi

classpath=$( (ls -d "$classes"/*/main; ls .gpu/lib/*.jar | grep -v junit-platform-console-standalone) | paste -sd:)
timeout "${BENCH_LIMIT_S:-300}" "$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m -Xmx48g \
  -Dplaid.kernel.cache=/tmp/plaid-kernels "$@" -cp "$classpath" "${BENCH_MAIN:-plaid.bench.GpuBenchmark}" 2>&1 | tee "$out/${BENCH_OUT:-bench.txt}"
bench_status=${PIPESTATUS[0]}
echo "== benchmark: exit $bench_status (124: out of time)"
[ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
