#!/bin/sh
# manpages_lint: each manual page given must format without a single groff
# warning (-ww: all of them, as `man --warnings` shows a subset) and have a
# NAME section that lexgrog(1) - hence mandb and apropos - can read.
# Needs groff-base and man-db (tools/install-deps.sh test).
set -u
for tool in groff lexgrog; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "manpages_lint: $tool not found (tools/install-deps.sh test installs it)" >&2
    exit 1
  fi
done
status=0
for page in "$@"; do
  if ! out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1) || [ -n "$out" ]; then
    printf '%s: groff:\n%s\n' "$page" "$out" >&2
    status=1
  fi
  if ! out=$(lexgrog "$page" 2>&1); then
    printf '%s: lexgrog cannot read the NAME section:\n%s\n' "$page" "$out" >&2
    status=1
  fi
done
exit $status
