#!/usr/bin/env bash
# Installs everything esmtp-inspect needs to build, test and benchmark on
# Debian 12. Idempotent: packages already present are left alone, so running
# it twice costs one `dpkg -s` per package.
set -euo pipefail

build_pkgs=(cmake make g++ clang pkg-config libmilter-dev libboost-dev
  libboost-program-options-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  libbenchmark-dev libc-ares-dev libre2-dev nlohmann-json3-dev libcli11-dev
  libssl-dev libpsl-dev publicsuffix libfmt-dev clang-format python3 zlib1g-dev
  libsystemd-dev prometheus-cpp-dev libhiredis-dev)
peer_pkgs=(postfix swaks miltertest unbound dnsutils m4 libwrap0 procps openssl pflogsumm groff-base man-db
  debhelper dpkg-dev lintian fakeroot systemd python3-prometheus-client systemd-journal-remote
  redis-server)
bench_pkgs=(postfwd policyd-weight mimedefang pflogsumm)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  test) want+=("${peer_pkgs[@]}") ;;
  all) want+=("${peer_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
# Postfix asks an interactive question on install unless pre-answered.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged daemons must not run system-wide: tests start private instances.
for svc in postfix unbound mimedefang postfwd policyd-weight redis-server; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
