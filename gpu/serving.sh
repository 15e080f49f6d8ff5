#!/bin/bash
# Runs on the GPU machine (no Java, Maven or network), from the repository root, with .gpu/
# carried (made by `gpu/prepare.sh native model bench`): first the batch-invariance test of the
# step-level engine on CUDA (plaid.model.sampling.SamplerBatchInvarianceParityTest, in fp32/TF32 and
# in the bf16 mode), then the serving load benchmark plaid.bench.ServingBenchmark on CUDA in the bf16
# mode (the small and the 1B shape, about 2 minutes each; docs/serving.md).
# Time limits in seconds: TESTS_LIMIT_S (default 80 per precision; 0 skips the test) and BENCH_LIMIT_S (default 400):
# with both shapes that is close to run's 600 s a call, so the lead runs the shapes in two calls
# (-Dplaid.bench.shapes=small, then TESTS_LIMIT_S=0 ... -Dplaid.bench.shapes=1B).
# Extra arguments go to the benchmark's JVM, e.g. -Dplaid.bench.shapes=small or -Dplaid.bench.seconds=60.
# Output: $OUT/serving.txt (the figures), $OUT/invariance*.log and their JUnit reports.
# Exit status: non-zero when the test failed or the benchmark did not finish.
set -uo pipefail
cd "$(dirname "$0")/.."
source gpu/device-env.sh
if [ ! -d .gpu/classes/bench/main ] || [ ! -d .gpu/classes/model/test ]; then
  echo "no .gpu/classes/{bench,model}: run gpu/prepare.sh native model bench" >&2
  exit 2
fi
nvidia-smi > "$out/device.txt" 2>&1
classpath=$( (ls -d .gpu/classes/*/main; ls .gpu/lib/*.jar | grep -v junit-platform-console-standalone) | paste -sd:)
jvm_flags=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m -Xmx48g
  -Dplaid.backend=cuda -Dplaid.cuda.required=true -Dplaid.kernel.cache=/tmp/plaid-kernels)

tests_status=0
if [ "${TESTS_LIMIT_S:-80}" != 0 ]; then
  console=$(ls .gpu/lib/junit-platform-console-standalone-*.jar)
  for precision in fp32 bf16; do
    timeout "${TESTS_LIMIT_S:-80}" "$java" "${jvm_flags[@]}" -Dplaid.cuda.precision=$precision \
      -jar "$console" execute --disable-banner --details=tree \
      --class-path "$classpath:$( ls -d .gpu/classes/model/test)" --fail-if-no-tests \
      --exclude-engine junit-vintage --exclude-engine junit-platform-suite --reports-dir "$out/invariance-$precision" \
      --select-class plaid.model.sampling.SamplerBatchInvarianceParityTest > "$out/invariance-$precision.log" 2>&1
    status=$?
    grep -E "batch invariance|moved with|✘|expected|Expect|at most|less than" "$out/invariance-$precision.log" | head -30
    echo "== batch invariance, $precision: exit $status (124: out of time)"
    [ "$status" -eq 0 ] || tests_status=$status
  done
fi

timeout "${BENCH_LIMIT_S:-400}" "$java" "${jvm_flags[@]}" -Dplaid.cuda.precision=bf16 "$@" \
  -cp "$classpath" plaid.bench.ServingBenchmark 2>&1 | grep -v '^WARNING' | tee "$out/serving.txt"
bench_status=${PIPESTATUS[0]}
echo "== serving benchmark: exit $bench_status (124: out of time)"
[ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
