#!/bin/bash
# Run HERE (the build machine) before gpu/fidelity.sh: fills .gpu/ (git-ignored) with what the fidelity
# check needs on the GPU machine, on top of `gpu/prepare.sh native model bench`:
#   .gpu/ref-harness     ../shared/ref-harness (stand-ins for apex and flash-attn, the original on the path)
#   .gpu/original        the original code, never committed: plaid/{lib,train.py} from a git mirror of
#                        igul222/plaid and mup/mup from one of microsoft/mup ($PLAID_MIRROR, $MUP_MIRROR:
#                        git directories, by default where the session's fetch tool puts them)
#   .gpu/fidelity/tokens.i32  WikiText-2 + PTB validation text in OWT2 token ids (FidelityRun tokens)
# (the original's sample.py and misc/ too, for gpu/original-bench.sh)
# The parity fixtures and test classes are dropped when .gpu would pass the 64 MiB a run may carry
# (the fidelity check needs neither; run gpu/prepare.sh again before gpu/run-tests.sh).
# Then: run(command="gpu/fidelity.sh", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
plaid_mirror=${PLAID_MIRROR:-/work/.mirror/igul222+plaid/repo}
mup_mirror=${MUP_MIRROR:-/work/.mirror/microsoft+mup/repo}
for mirror in "$plaid_mirror" "$mup_mirror"; do
  if ! git --git-dir="$mirror" rev-parse --verify -q HEAD > /dev/null; then
    echo "no git mirror at $mirror: fetch github:igul222/plaid and github:microsoft/mup, or set PLAID_MIRROR / MUP_MIRROR" >&2
    exit 2
  fi
done
[ -d ../shared/ref-harness ] || { echo "no ../shared/ref-harness" >&2; exit 2; }

gpu/prepare.sh native model bench

rm -rf .gpu/ref-harness .gpu/original .gpu/fidelity
cp -r ../shared/ref-harness .gpu/ref-harness
find .gpu/ref-harness -name __pycache__ -prune -exec rm -rf {} +
chmod -R u+w .gpu/ref-harness
mkdir -p .gpu/original/plaid .gpu/original/mup .gpu/fidelity
# train.py and its lib (the fidelity run), sample.py and its tokenizer (gpu/original-bench.sh)
git --git-dir="$plaid_mirror" archive HEAD lib train.py sample.py misc/owt2_tokenizer.json | tar x -C .gpu/original/plaid
git --git-dir="$mup_mirror" archive --prefix=mup/ HEAD:mup | tar x -C .gpu/original/mup
echo "original: igul222/plaid $(git --git-dir="$plaid_mirror" rev-parse --short HEAD), microsoft/mup $(git --git-dir="$mup_mirror" rev-parse --short HEAD)" \
  > .gpu/original/VERSION

source scripts/select-jdk.sh > /dev/null
classpath=$( (ls -d .gpu/classes/*/main; ls .gpu/lib/*.jar | grep -v junit-platform-console-standalone) | paste -sd:)
"$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector -cp "$classpath" plaid.bench.FidelityRun tokens \
  --data=../shared/data --tokenizer=../shared/data/owt2_tokenizer.json --out=.gpu/fidelity/tokens.i32 2>&1 \
  | grep -v 'incubator modules'

limit=$((64 * 1024 * 1024))
size() { du -sb .gpu | cut -f1; }
if [ "$(size)" -gt "$limit" ]; then
  echo "dropping the fixtures and test classes: .gpu holds $(size) bytes, over 64 MiB"
  rm -rf .gpu/fixtures .gpu/classes/*/test
fi
du -sh .gpu/* | sort -h
echo "total: $(size) bytes of $limit"
[ "$(size)" -le "$limit" ]
