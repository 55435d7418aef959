#!/usr/bin/env bash
# Installs the Debian packages flo-sidecar needs to build, test and benchmark.
# Only packages that are missing are installed; as non-root it only reports.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libuv1-dev libmicrohttpd-dev libhiredis-dev libcjson-dev uthash-dev libsodium-dev
      libcriterion-dev libcurl4-openssl-dev curl redis-tools redis-server)
# redis-server above is a test oracle: RESP replies are compared byte for byte.
# Peers for bench/run.sh only.
BENCH_PKGS=(nutcracker webdis wrk)

want=("${PKGS[@]}")
[ "${1:-}" = "--bench" ] && want+=("${BENCH_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
