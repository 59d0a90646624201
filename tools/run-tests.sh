#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine as root: installs the
# build and test packages, runs every test (unit, golden corpus, DNS, Redis
# store, integration against the real peers) on an AddressSanitizer/
# UndefinedBehaviorSanitizer build, then builds normally and runs every test
# again (plus the fuzz regressions). Both builds treat warnings as errors
# (ESMTP_WERROR). The last thing printed is ctest's summary of the full run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

tools/install-deps.sh test

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DESMTP_SANITIZE=ON -DESMTP_BENCH=OFF -DESMTP_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L 'unit|corpus|dns|store|integration' -j"$jobs" --output-on-failure |
  grep -Ev '^ *(Start|[0-9]+/[0-9]+ Test) '

echo "== release build: full suite"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESMTP_TESTS=ON -DESMTP_WERROR=ON >/dev/null
cmake --build build -j"$jobs" >/dev/null
ctest --test-dir build -j"$jobs" --output-on-failure
