#!/usr/bin/env bash
# Long-poll capacity: N concurrent HTTP long-polls (GET /v1/kv/{key}?block_ms=60000)
# waiting in one flo-sidecar (upstream: a separate flo-dev), with the sidecar's RSS
# and upstream connection count while they wait; then ONE PUT of the key releases
# them all and the script reports how many got 200.
#
# usage: bench/longpoll.sh [N]        (default 5000)
# env:   FLO_BUILD=build dir holding flo-sidecar, flo-dev, bench/longpoll_client
#        LP_BLOCK_MS=60000  LP_SETTLE_S=3
set -euo pipefail

N=${1:-5000}
BLOCK_MS=${LP_BLOCK_MS:-60000}
SETTLE_S=${LP_SETTLE_S:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FLO_BUILD:-$ROOT/build}
SIDECAR=$BUILD/flo-sidecar
FLODEV=$BUILD/flo-dev
CLIENT=$BUILD/bench/longpoll_client
for b in "$SIDECAR" "$FLODEV" "$CLIENT"; do
    [ -x "$b" ] || { echo "missing $b: build first (cmake --build $BUILD)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" || true
if [ "$(ulimit -n)" -lt $((N + 256)) ]; then
    echo "open-file limit $(ulimit -n) is below N+256; raise it (ulimit -Hn)" >&2
    exit 2
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened" >&2
    return 1
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

TMP=$(mktemp -d)
DEV_PID= SC_PID= CL_PID=
cleanup() {
    for p in $CL_PID $SC_PID $DEV_PID; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

DEV_PORT=$(free_port)
HTTP_PORT=$(free_port)
RESP_PORT=$(free_port)
"$FLODEV" --listen "127.0.0.1:$DEV_PORT" >"$TMP/dev.log" 2>&1 &
DEV_PID=$!
wait_port "$DEV_PORT"
"$SIDECAR" --upstream "127.0.0.1:$DEV_PORT" --http "127.0.0.1:$HTTP_PORT" \
    --resp "127.0.0.1:$RESP_PORT" --log-level warn >"$TMP/sc.log" 2>&1 &
SC_PID=$!
wait_port "$HTTP_PORT"
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
    sleep 0.1
done

KEY="lp-$$"
RSS_IDLE=$(rss_kib "$SC_PID")
START=$(date +%s.%N)
"$CLIENT" 127.0.0.1 "$HTTP_PORT" "$KEY" "$N" "$BLOCK_MS" >"$TMP/client.out" 2>&1 &
CL_PID=$!
for _ in $(seq 1 600); do
    grep -q '^READY' "$TMP/client.out" && break
    kill -0 "$CL_PID" 2>/dev/null || break
    sleep 0.1
done
SENT=$(awk '/^READY/ {print $2}' "$TMP/client.out")
[ -n "$SENT" ] || { echo "client never got its requests out:" >&2; cat "$TMP/client.out" >&2; exit 1; }
sleep "$SETTLE_S" # let the sidecar read and suspend every request
RSS_WAIT=$(rss_kib "$SC_PID")
FDS=$(ls "/proc/$SC_PID/fd" | wc -l)
UP_CONNS=$(ss -Htn state established "( dport = :$DEV_PORT )" 2>/dev/null | wc -l)
CLIENT_CONNS=$(ss -Htn state established "( sport = :$HTTP_PORT )" 2>/dev/null | wc -l)
EARLY=$(grep -c '^DONE' "$TMP/client.out" || true)

T0=$(date +%s%N)
curl -sf -X PUT --data-binary released "http://127.0.0.1:$HTTP_PORT/v1/kv/$KEY" >/dev/null
wait "$CL_PID" || true
CL_PID=
T1=$(date +%s%N)
DONE_LINE=$(grep '^DONE' "$TMP/client.out" || echo "DONE (client produced no summary)")
RSS_AFTER=$(rss_kib "$SC_PID")
S200=$(sed -n 's/.* s200=\([0-9]*\).*/\1/p' <<<"$DONE_LINE")

cat <<EOF
long-polls requested:          $N (block_ms=$BLOCK_MS)
requests written by client:    $SENT
answered before the PUT:       $([ "$EARLY" = 0 ] && echo none || echo "$EARLY (!)")
sidecar client connections:    $CLIENT_CONNS established (fds open: $FDS)
sidecar upstream connections:  $UP_CONNS to flo-dev (normal + long-poll lanes)
sidecar RSS idle:              $((RSS_IDLE / 1024)) MiB ($RSS_IDLE KiB)
sidecar RSS with all waiting:  $((RSS_WAIT / 1024)) MiB ($RSS_WAIT KiB)
  per waiting long-poll:       $(( (RSS_WAIT - RSS_IDLE) * 1024 / (SENT > 0 ? SENT : 1) )) bytes
released by one PUT:           ${S200:-0} of $N got 200, in $(( (T1 - T0) / 1000000 )) ms
sidecar RSS after release:     $((RSS_AFTER / 1024)) MiB
client summary:                $DONE_LINE
EOF
[ "${S200:-0}" = "$N" ]
