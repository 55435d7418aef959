#!/usr/bin/env bash
# Installs the Debian packages flo-sidecar needs to build, test and benchmark.
# Only packages that are missing are installed; as non-root it only reports.
# The container image (docker/Dockerfile) runs this same script in both of
# its stages, so the README, CI and the image agree on one package list.
#
# Usage: scripts/install-deps.sh [--build | --runtime | --bench] [--dry-run]
#   (none)     build + test packages (what `make run` / `make test` need)
#   --build    only what compiling flo-sidecar and flo-dev needs (image builder)
#   --runtime  only the shared libraries the two binaries load (runtime image)
#   --bench    build + test packages plus the benchmark peers
#   --dry-run  print the selected packages with the version apt would install
#              (apt-cache policy), then which are missing; install nothing.
#              Exits 1 when a package has no installation candidate.
set -euo pipefail

# Compiler and the -dev packages of every library the binaries link.
BUILD_PKGS=(build-essential cmake pkg-config
            libuv1-dev libmicrohttpd-dev libhiredis-dev libcjson-dev uthash-dev libsodium-dev)
# The test suite: clang/libFuzzer, Criterion, libcurl for the HTTP tests,
# redis-tools, python3-yaml for the deployment-file check (tests/deploy).
# redis-server is a test oracle: RESP replies are compared byte for byte.
TEST_PKGS=(clang libclang-rt-14-dev libcriterion-dev libcurl4-openssl-dev curl
           redis-tools redis-server python3 python3-yaml)
# What `readelf -d` lists as NEEDED for flo-sidecar and flo-dev, beyond libc
# (Debian 12 names; tests/deploy/check_deploy.py compares the two).
RUNTIME_PKGS=(libuv1 libmicrohttpd12 libhiredis0.14 libcjson1 libsodium23)
# Peers for bench/run.sh only.
BENCH_PKGS=(nutcracker webdis wrk)

mode=default
dry_run=0
for arg in "$@"; do
    case "$arg" in
        --build | --runtime | --bench)
            [ "$mode" = default ] || { echo "install-deps: $arg conflicts with --$mode" >&2; exit 2; }
            mode=${arg#--}
            ;;
        --dry-run) dry_run=1 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

case "$mode" in
    default) want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
    build)   want=("${BUILD_PKGS[@]}") ;;
    runtime) want=("${RUNTIME_PKGS[@]}") ;;
    bench)   want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "$dry_run" -eq 1 ]; then
    # One line per package: name, installed version, candidate version (one
    # apt-cache call for all). A package apt does not know (a typo, another
    # release, no `apt-get update` yet) has no candidate.
    policy=$(apt-cache policy "${want[@]}" 2>/dev/null || true)
    unresolved=0
    for p in "${want[@]}"; do
        line=$(printf '%s\n' "$policy" | awk -v p="$p:" '
            $0 == p { found = 1; next }
            found && /^[^ ]/ { exit }
            found && /^  Installed:/ { inst = $2 }
            found && /^  Candidate:/ { cand = $2 }
            END { printf "%s %s", (inst == "" ? "(unknown)" : inst), (cand == "" ? "(none)" : cand) }')
        inst=${line%% *}
        cand=${line#* }
        printf '%-24s installed=%-24s candidate=%s\n' "$p" "$inst" "$cand"
        if [ "$cand" = "(none)" ]; then unresolved=1; fi
    done
    echo "install-deps: mode=$mode would install: ${missing[*]:-(nothing, all present)}"
    if [ "$unresolved" -ne 0 ]; then
        echo "install-deps: some packages have no installation candidate (run apt-get update?)" >&2
        exit 1
    fi
    exit 0
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
