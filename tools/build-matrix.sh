#!/usr/bin/env bash
# build-matrix.sh [-jN] [NAME...]
#
# Builds the whole tree (tests and benchmarks included) with -DESMTP_WERROR=ON
# for GCC and clang in Release, RelWithDebInfo and Debug, plus the Debian
# package build (GCC, Release, dpkg-buildflags with hardening=+all, no tests or
# benchmarks), each in its own temporary build folder. Prints one line per
# combination (name, compiler, build type, result, seconds) and exits non-zero
# if any failed; the logs of failed combinations are kept and their path
# printed. NAMEs (e.g. gcc-release clang-debug deb-gcc-release) pick
# combinations; default all. -jN: parallel jobs (default: nproc).
# A developer tool: .ci/run does not run it (about 7 full builds).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
picked=()
for arg in "$@"; do
  case $arg in
    -j*) jobs=${arg#-j} ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$0: unknown option $arg" >&2; exit 2 ;;
    *) picked+=("$arg") ;;
  esac
done

# name compiler build-type
combos=(
  "gcc-release gcc Release"
  "gcc-relwithdebinfo gcc RelWithDebInfo"
  "gcc-debug gcc Debug"
  "clang-release clang Release"
  "clang-relwithdebinfo clang RelWithDebInfo"
  "clang-debug clang Debug"
  "deb-gcc-release gcc+dpkg-buildflags Release"
)
names=" $(printf '%s ' "${combos[@]%% *}")"
for p in "${picked[@]}"; do
  if [[ $names != *" $p "* ]]; then
    echo "$0: unknown combination $p (one of:$names)" >&2
    exit 2
  fi
done

work=$(mktemp -d "$root/build-matrix.XXXXXX")
trap 'rm -rf "$work"; exit 130' INT TERM
failed=0

build_one() { # compiler type dir
  local compiler=$1 type=$2 dir=$3
  local -a cfg=(-S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DESMTP_WERROR=ON)
  case $compiler in
    gcc) cfg+=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DESMTP_TESTS=ON -DESMTP_BENCH=ON) ;;
    clang) cfg+=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DESMTP_TESTS=ON -DESMTP_BENCH=ON) ;;
    gcc+dpkg-buildflags) cfg+=(-DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DESMTP_TESTS=OFF -DESMTP_BENCH=OFF) ;;
  esac
  (
    set -x
    # CMake reads CFLAGS, CXXFLAGS and LDFLAGS from the environment at the
    # first configure but ignores CPPFLAGS; debhelper's cmake build system
    # appends CPPFLAGS (-D_FORTIFY_SOURCE=2) to both, and so do we. Run from
    # the tree's root as dpkg-buildpackage does (-ffile-prefix-map=$PWD=.).
    if [[ $compiler == gcc+dpkg-buildflags ]]; then
      cd "$root" || exit 1
      eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
      export CFLAGS="$CFLAGS $CPPFLAGS" CXXFLAGS="$CXXFLAGS $CPPFLAGS"
    else
      unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS
    fi
    cmake "${cfg[@]}" && cmake --build "$dir" -j"$jobs"
  )
}

printf '%-22s %-20s %-15s %-6s %s\n' combination compiler build-type result seconds
for combo in "${combos[@]}"; do
  read -r name compiler type <<<"$combo"
  if [[ ${#picked[@]} -gt 0 && " ${picked[*]} " != *" $name "* ]]; then
    continue
  fi
  start=$SECONDS
  if build_one "$compiler" "$type" "$work/$name" >"$work/$name.log" 2>&1; then
    result=ok
    rm -f "$work/$name.log"
  else
    result=FAILED
    failed=1
  fi
  rm -rf "${work:?}/$name"
  printf '%-22s %-20s %-15s %-6s %d\n' "$name" "$compiler" "$type" "$result" $((SECONDS - start))
done

if [[ $failed -ne 0 ]]; then
  echo "logs of the failed combinations: $work/*.log"
  exit 1
fi
rm -rf "$work"
