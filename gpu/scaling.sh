#!/bin/bash
# Runs on the GPU machine (no Java, Maven or network), from the repository root, with .gpu/
# carried (made by `gpu/prepare.sh native model bench`): data-parallel training over every GPU
# it finds (1, 2, 4, 8 …), the small and the 1B shape, then the loss curves on 2 GPUs against 1
# (plaid.bench.ScalingBenchmark). Extra arguments go to the JVM, e.g. -Dplaid.scaling.shapes=small
# or -Dplaid.scaling.batch1B=32. SCALING_LIMIT_S bounds the run (default 540).
# Output: $OUT/scaling.txt and nvidia-smi's view of the machine in $OUT/device.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
source gpu/device-env.sh
nvidia-smi > "$out/device.txt" 2>&1
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | wc -l)
[ "$gpus" -ge 1 ] || { echo "no GPU found" >&2; exit 2; }
classpath=$( (ls -d .gpu/classes/*/main; ls .gpu/lib/*.jar | grep -v junit-platform-console-standalone) | paste -sd:)
timeout "${SCALING_LIMIT_S:-540}" "$java" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xss8m -Xmx48g \
  -Dplaid.kernel.cache=/tmp/plaid-kernels -Dplaid.cuda.precision=bf16 -Dplaid.scaling.gpus="$gpus" "$@" \
  -cp "$classpath" plaid.bench.ScalingBenchmark 2>&1 | tee "$out/scaling.txt"
status=${PIPESTATUS[0]}
echo "== scaling: exit $status (124: out of time)"
exit "$status"
