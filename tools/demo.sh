#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine as root: install what is
# needed, build, start a private Postfix on 127.0.0.1 wired to
# esmtp-inspect-milter, send it the good and bad sample messages of
# conf/samples/ with swaks, and print what each sender saw, what
# esmtp-inspect logged, and whether the message was delivered.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target esmtp-inspect esmtp-inspect-milter esmtp-inspect-policyd >/dev/null
echo "built: $(build/bin/esmtp-inspect --version), $(build/bin/esmtp-inspect-milter --version), $(build/bin/esmtp-inspect-policyd --version)"
build/bin/esmtp-inspect check-config conf/samples/samples.yaml >/dev/null
echo
exec python3 tools/demo.py
