#!/bin/sh
# run_case.sh: run one golden-corpus case and compare with its .ref.
#
#   run_case.sh BIN DIR NAME            run DIR/NAME.eml, diff against DIR/NAME.ref
#   run_case.sh --update BIN DIR NAME   write the engine's output to DIR/NAME.ref
#   run_case.sh --update BIN DIR        the same for every case in DIR
#
# BIN is the esmtp-inspect executable. The command is
#   BIN test --config DIR/CONFIG [ARGS...] DIR/NAME.eml
# where CONFIG is corpus.yaml, or the file named in DIR/NAME.config, and ARGS
# are the lines of DIR/NAME.args (one argument per line). The output is stdout
# followed by a line "exit: N".
#
# --update blesses whatever the engine prints. Expected verdicts come from
# esmtp-inspect.yaml(5), not from the engine: for generated cases edit
# generate.py instead, and review every --update diff against the page before
# committing it.
set -u

update=0
if [ "${1:-}" = "--update" ]; then
  update=1
  shift
fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 [--update] BIN DIR [NAME]" >&2
  exit 2
fi
bin=$1
dir=$2

run() {  # NAME -> output on stdout
  name=$1
  config=corpus.yaml
  if [ -f "$dir/$name.config" ]; then
    config=$(head -n 1 "$dir/$name.config")
  fi
  set -- test --config "$dir/$config"
  if [ -f "$dir/$name.args" ]; then
    # One argument per line; arguments may contain blanks and shell characters.
    while IFS= read -r arg || [ -n "$arg" ]; do
      set -- "$@" "$arg"
    done < "$dir/$name.args"
  fi
  "$bin" "$@" "$dir/$name.eml"
  echo "exit: $?"
}

if [ $# -eq 2 ]; then
  [ $update -eq 1 ] || { echo "usage: $0 [--update] BIN DIR [NAME]" >&2; exit 2; }
  for eml in "$dir"/*.eml; do
    name=$(basename "$eml" .eml)
    run "$name" > "$dir/$name.ref"
  done
  exit 0
fi

name=$3
if [ ! -f "$dir/$name.eml" ]; then
  echo "$0: no such case: $dir/$name.eml" >&2
  exit 2
fi
if [ $update -eq 1 ]; then
  run "$name" > "$dir/$name.ref"
  exit 0
fi
if [ ! -f "$dir/$name.ref" ]; then
  echo "$0: $dir/$name.ref is missing" >&2
  exit 1
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/corpus-$name.XXXXXX") || exit 2
trap 'rm -f "$tmp"' EXIT
run "$name" > "$tmp" 2> "$tmp.err"
status=0
if ! diff -u --label "$name.ref (expected)" --label "$name (actual)" "$dir/$name.ref" "$tmp"; then
  status=1
  if [ -s "$tmp.err" ]; then
    echo "--- stderr:"
    cat "$tmp.err"
  fi
fi
rm -f "$tmp.err"
exit $status
