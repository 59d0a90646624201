#!/usr/bin/env bash
# Builds engine_bench (Release, -O2) in its own build directory, runs it and
# prints a summary table of the medians.
#
# usage: bench/run_engine_bench.sh [extra benchmark flags...]
#   BUILD_DIR   build directory (default: <repo>/build-bench)
#   REPS        repetitions, medians reported (default: 3)
#   OUT         JSON output (default: $BUILD_DIR/engine_bench.json)
#   NO_BUILD=1  skip the build step
# Example: bench/run_engine_bench.sh --benchmark_filter=plain
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build-bench}
reps=${REPS:-3}
out=${OUT:-$build/engine_bench.json}

if [ "${NO_BUILD:-0}" != 1 ]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DESMTP_BENCH=ON -DESMTP_TESTS=OFF -DESMTP_SANITIZE=OFF -DESMTP_FUZZ=OFF >/dev/null
  cmake --build "$build" --target engine_bench -j"$(nproc)"
fi

# The console may warn "Library was built as DEBUG": that is Debian's
# libbenchmark build, not this code; it does not affect the timed loops.
echo "load before: $(uptime)"
"$build/bin/engine_bench" --benchmark_repetitions="$reps" \
  --benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json "$@"
echo "load after:  $(uptime)"

python3 - "$out" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    doc = json.load(f)  # Python accepts the NaN that the *_cv rows may hold
ctx = doc.get("context", {})
runs = [b for b in doc["benchmarks"] if b.get("run_type") != "aggregate"]
med = {b["run_name"]: b for b in doc["benchmarks"]
       if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"}
for b in runs:  # without repetitions there are no aggregates
    med.setdefault(b["run_name"], b)

# Registration order; the runs themselves are interleaved at random.
order = ["plain_1MiB", "attach_10MiB_200", "small_10k"]
sets = []
for name in med:
    kind, _, ds = name.partition("/")
    if kind in ("engine", "memchr") and ds not in sets:
        sets.append(ds)
sets.sort(key=lambda s: (order.index(s) if s in order else len(order), s))

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

print()
reps = max((b.get("repetitions", 1) for b in runs), default=1)
load = ", ".join(f"{x:.2f}" for x in ctx.get("load_avg", []))
print(f"median of {reps} run(s); {ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz;"
      f" load average at start {load}; MB = 10^6 bytes; rates per CPU second")
hdr = ["data set", "engine MB/s", "memchr MB/s", "ratio %", "msgs/s",
       "allocs/chunk", "allocs/part", "allocs/extra chunk", "allocs/msg"]
rows = []
for ds in sets:
    e, m = med.get("engine/" + ds), med.get("memchr/" + ds)
    if e and e.get("error_occurred"):
        rows.append([ds, "ERROR: " + e.get("error_message", "")] + [""] * (len(hdr) - 2))
        continue
    emb = e["bytes_per_second"] / 1e6 if e else None
    mmb = m["bytes_per_second"] / 1e6 if m else None
    ratio = 100 * emb / mmb if emb and mmb else None
    rows.append([ds, fmt(emb, ".0f"), fmt(mmb, ".0f"), fmt(ratio, ".1f"),
                 fmt(e and e.get("items_per_second"), ".0f"),
                 fmt(e and e.get("allocs_per_chunk"), ".3f"),
                 fmt(e and e.get("allocs_per_part"), ".2f"),
                 fmt(e and e.get("allocs_per_extra_chunk"), ".3f"),
                 fmt(e and e.get("allocs_per_msg"), ".1f")])
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
for r in [hdr] + rows:
    print("  ".join(str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]) for i, c in enumerate(r)))
EOF
