#!/usr/bin/env bash
# run.sh TARGET SECONDS [LIBFUZZER FLAGS...]
#
# Fuzzes TARGET (mime_scanner_fuzz, mime_params_fuzz, config_loader_fuzz,
# policy_protocol_fuzz, dns_message_fuzz, log_roundtrip_fuzz) for SECONDS from the libFuzzer build (default
# build-fuzz/, see README.md), with its committed seeds and dictionary. New
# inputs, crash artifacts and the log go to tests/fuzz/findings/TARGET/
# (git-ignored; ESMTP_FUZZ_WORK overrides); the committed corpus is only read.
# Prints the final execution count and exits with libFuzzer's status (0: no
# finding).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 TARGET SECONDS [LIBFUZZER FLAGS...]" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${ESMTP_FUZZ_BUILD:-$root/build-fuzz}
bin=$build/bin/$target
case $target in
  mime_scanner_fuzz) max_len=65536 ;;
  mime_params_fuzz) max_len=4096 ;;
  config_loader_fuzz) max_len=16384 ;;
  policy_protocol_fuzz) max_len=300000 ;;
  dns_message_fuzz) max_len=4096 ;;
  log_roundtrip_fuzz) max_len=4096 ;;
  *) echo "$0: unknown target $target" >&2; exit 2 ;;
esac
if [[ ! -x $bin ]]; then
  echo "$0: $bin missing; build it with:" >&2
  echo "  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DESMTP_FUZZ=ON -DESMTP_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo" >&2
  echo "  cmake --build build-fuzz -j2 --target $target" >&2
  exit 2
fi

work=${ESMTP_FUZZ_WORK:-$here/findings/$target}
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/fuzz-$(date +%Y%m%d-%H%M%S).log

# UBSan is built recoverable: make every report a finding.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}

set +e
# The first directory receives new inputs; the seeds are only read.
"$bin" "$work/corpus" "$here/corpus/$target" \
  -dict="$here/$target.dict" -max_len=$max_len -rss_limit_mb=2048 -malloc_limit_mb=2048 \
  -timeout=10 -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "== $target: exit $status, ${execs:-?} executions in ${seconds}s budget; log $log"
grep -E '^#[0-9]+' "$log" | tail -1 || true
exit "$status"
