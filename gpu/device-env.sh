# Sourced by the scripts that run on the GPU machine (from the repository root, .gpu/ carried):
# unpacks the Java runtime once and sets $java, $out and the library path.
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
[ -x /tmp/jre25/bin/java ] || tar xJf .gpu/jre25.tar.xz -C /tmp || exit 1
java=/tmp/jre25/bin/java
# the driver as container runtimes mount it, the toolkit's NVRTC and cuBLAS, cuDNN's directory
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64:/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
