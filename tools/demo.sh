#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine as root: install what is
# needed, build, and run the inspection engine over the sample messages in
# conf/samples/, printing each verdict as an operator would see it.
#
# (The milter and policy daemons, and the private Postfix wired to them, join
# this demo as they land; until then it runs `esmtp-inspect test`.)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target esmtp-inspect >/dev/null
echo "built: $(build/bin/esmtp-inspect --version)"

build/bin/esmtp-inspect check-config conf/samples/samples.yaml >/dev/null
echo "config: conf/samples/samples.yaml (the defaults plus an attachment type filter) is valid"

accepted=0 refused=0
for eml in conf/samples/*.eml; do
  args=()
  # The envelope (client, HELO, sender, recipients): whitespace-separated words.
  [ -f "${eml%.eml}.args" ] && read -r -d '' -a args < "${eml%.eml}.args" || true
  echo
  echo "== $(basename "$eml")"
  set +e
  build/bin/esmtp-inspect test --config conf/samples/samples.yaml "${args[@]}" "$eml" |
    sed -e 's/^/   /' | awk 'length > 240 { $0 = substr($0, 1, 237) "..." } { print }'
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ]; then accepted=$((accepted + 1)); else refused=$((refused + 1)); fi
done
echo
echo "samples: $accepted accepted, $refused refused"
