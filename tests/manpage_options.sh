#!/bin/sh
# manpage_options PROGRAM PAGE [PROGRAM PAGE]...: every subcommand and option
# that PROGRAM's --help lists (CLI11's layout) must be in its manual page, as
# ".SS NAME" for a subcommand and as \-\-name or \-x for an option, so that an
# option cannot ship undocumented.
set -u
status=0
roff() { printf '%s' "$1" | sed 's/-/\\-/g'; }
# The options of one --help text: the first column of the lines under
# "Options:", split at commas ("-c,--config").
options() {
  awk '/^[A-Za-z]/ { in_opts = ($0 ~ /^Options:/); next }
       in_opts && /^  -/ { print $1 }' | tr ',' '\n' | grep '^-'
}
check() {
  program=$1 page=$2
  subcommands=$("$program" --help | awk '/^[A-Za-z]/ { in_subs = ($0 ~ /^Subcommands:/); next }
                                         in_subs && /^  [a-z]/ { print $1 }')
  for sub in "" $subcommands; do
    if [ -n "$sub" ] && ! NAME=$(roff "$sub") awk '$1 == ".SS" && $2 == ENVIRON["NAME"] { found = 1 }
                                                  END { exit !found }' "$page"; then
      echo "$page: subcommand $sub has no .SS section" >&2
      status=1
    fi
    # shellcheck disable=SC2086
    for opt in $("$program" $sub --help | options); do
      # \-\-dns, not as the start of \-\-dns\-timeout.
      re=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
      if ! grep -qE -- "$re([^a-z0-9\\]|\$)" "$page"; then
        echo "$page: ${sub:+$sub }$opt is not documented" >&2
        status=1
      fi
    done
  done
}
while [ $# -ge 2 ]; do
  check "$1" "$2"
  shift 2
done
exit $status
