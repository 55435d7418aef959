#!/usr/bin/env bash
# Live delivery at scale: N Server-Sent-Events followers of one stream and M
# consumer-group session long-polls (spread over SB_GROUPS groups of the same
# stream) held by ONE flo-sidecar (upstream: a separate flo-dev). While they
# all wait, the script samples the sidecar's RSS, open fds and upstream
# connections; then bench/sessions_client appends SB_RECORDS records spaced
# SB_INTERVAL_MS apart, each carrying its send time, and reports the
# append-to-delivery latency (p50 / p99 / max) of every delivery: each SSE
# follower gets every record, each group gets every record once (delivered
# to one of its sessions, which acks it and asks again).
#
# usage: bench/sessions.sh [N] [M]        (defaults 5000 5000; e.g. 500 500)
#        M=0 measures the followers alone.
# env:   FLO_BUILD=build-bench  build dir (configured Release and built here
#                               unless SB_NO_BUILD=1)
#        SB_GROUPS=50  SB_RECORDS=20  SB_INTERVAL_MS=200  SB_BLOCK_MS=30000
#        SB_SETTLE_S=3 (wait after everything is connected, before sampling)
#        SB_DRAIN_MS=15000 (wait for late deliveries after the last append)
#
# The table goes to stdout and to bench/out/sessions-<UTC timestamp>.md.
# Exit status 0 only when every expected delivery arrived without errors.
set -euo pipefail

N=${1:-5000}
M=${2:-5000}
GROUPS_=${SB_GROUPS:-50}
RECORDS=${SB_RECORDS:-20}
INTERVAL_MS=${SB_INTERVAL_MS:-200}
BLOCK_MS=${SB_BLOCK_MS:-30000}
SETTLE_S=${SB_SETTLE_S:-3}
DRAIN_MS=${SB_DRAIN_MS:-15000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLO_BUILD:-build-bench}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac

die() {
    echo "sessions: $*" >&2
    exit 1
}
log() { echo "sessions: $*" >&2; }

for v in N M GROUPS_ RECORDS INTERVAL_MS BLOCK_MS SETTLE_S DRAIN_MS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
[ "$((N + M))" -gt 0 ] || die "nothing to measure (N = M = 0)"
if [ "$GROUPS_" -lt 1 ] || [ "$RECORDS" -lt 1 ] || [ "$RECORDS" -gt 1000 ]; then
    die "SB_GROUPS must be >= 1 and SB_RECORDS 1..1000"
fi
[ "$M" = 0 ] || [ "$GROUPS_" -le "$M" ] || GROUPS_=$M
for t in curl ss python3 awk; do
    command -v "$t" >/dev/null || die "'$t' not found"
done

# --- build --------------------------------------------------------------------
if [ "${SB_NO_BUILD:-0}" != 1 ]; then
    log "building flo-sidecar, flo-dev, sessions_client (Release) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null ||
        die "cmake configure failed"
    cmake --build "$BUILD" -j2 --target flo-sidecar flo-dev sessions_client >/dev/null ||
        die "build failed (run: cmake --build $BUILD --target flo-sidecar flo-dev sessions_client)"
fi
SIDECAR=$BUILD/flo-sidecar
FLODEV=$BUILD/flo-dev
CLIENT=$BUILD/bench/sessions_client
for b in "$SIDECAR" "$FLODEV" "$CLIENT"; do
    [ -x "$b" ] || die "missing $b (build it, or unset SB_NO_BUILD)"
done

# The client holds N+M+1 sockets, the sidecar as many plus its own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((N + M + 256)) ] ||
    die "open-file limit $(ulimit -n) is below N+M+256; raise the hard limit (ulimit -Hn)"

# --- process bookkeeping --------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/flo-sessions.XXXXXX")
PIDS=()
cleanup() {
    local rc=$? p i
    # Newest first: the client, then the sidecar (which leaves its groups
    # upstream on SIGTERM), then flo-dev.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ "$rc" -ne 0 ]; then
        echo "sessions: failed (exit $rc); logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

USED_PORTS=" "
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        USED_PORTS+="$p "
        echo "$p"
        return 0
    done
    die "could not find a free loopback port"
}
wait_port() {
    local name=$1 pid=$2 port=$3
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$TMP/$name.log" >&2; die "$name exited"; }
        sleep 0.1
    done
    die "$name did not listen on port $port within 10 s"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system
CLK_TCK=$(getconf CLK_TCK)
cpu_s() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<" $2"; } # field NAME LINE

# --- servers ----------------------------------------------------------------------
DEV_PORT=$(free_port)
HTTP_PORT=$(free_port)
RESP_PORT=$(free_port)
"$FLODEV" --listen "127.0.0.1:$DEV_PORT" >"$TMP/flo-dev.log" 2>&1 &
DEV_PID=$!
PIDS+=("$DEV_PID")
wait_port flo-dev "$DEV_PID" "$DEV_PORT"
"$SIDECAR" --upstream "127.0.0.1:$DEV_PORT" --http "127.0.0.1:$HTTP_PORT" \
    --resp "127.0.0.1:$RESP_PORT" --log-level warn >"$TMP/flo-sidecar.log" 2>&1 &
SC_PID=$!
PIDS+=("$SC_PID")
wait_port flo-sidecar "$SC_PID" "$HTTP_PORT"
for _ in $(seq 1 50); do
    curl -sf -m 2 "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
    sleep 0.1
done
curl -sf -m 2 "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || die "sidecar never became ready"
if [ "$M" -gt 0 ]; then
    probe=$(curl -s -m 5 "http://127.0.0.1:$HTTP_PORT/v1/sessions/x" || true)
    [[ "$probe" == *unknown_session* ]] ||
        die "this sidecar has no session routes (GET /v1/sessions/x answered: $probe); run with M=0"
fi
sleep 1 # let the pool finish connecting upstream
RSS_IDLE=$(rss_kib "$SC_PID")
STREAM="sbench-$$"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- load -----------------------------------------------------------------------------
log "opening $N SSE followers and $M session long-polls ($GROUPS_ groups) on stream $STREAM"
"$CLIENT" 127.0.0.1 "$HTTP_PORT" "$STREAM" "$N" "$M" "$GROUPS_" "$RECORDS" "$INTERVAL_MS" \
    "$BLOCK_MS" 0 "$DRAIN_MS" >"$TMP/client.out" 2>"$TMP/client.err" &
CL_PID=$!
PIDS+=("$CL_PID")
for _ in $(seq 1 3000); do # the client gives up set-up after 300 s itself
    grep -q '^READY' "$TMP/client.out" && break
    kill -0 "$CL_PID" 2>/dev/null || break
    sleep 0.1
done
READY=$(grep '^READY' "$TMP/client.out" || true)
[ -n "$READY" ] || { tail -n 20 "$TMP/client.err" >&2; die "client never got everything connected"; }
kill -0 "$CL_PID" 2>/dev/null || { tail -n 20 "$TMP/client.err" >&2; die "client exited: $READY"; }
log "$READY"
sleep "$SETTLE_S" # let the sidecar read and park every request
kill -0 "$SC_PID" 2>/dev/null || die "flo-sidecar died while the load connected"
RSS_WAIT=$(rss_kib "$SC_PID")
FDS=$(find "/proc/$SC_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
UP_CONNS=$(ss -Htn state established "( dport = :$DEV_PORT )" | wc -l)
CLIENT_CONNS=$(ss -Htn state established "( sport = :$HTTP_PORT )" | wc -l)

log "appending $RECORDS records, one every $INTERVAL_MS ms"
SC_CPU0=$(cpu_ticks "$SC_PID")
DEV_CPU0=$(cpu_ticks "$DEV_PID")
kill -USR1 "$CL_PID"
LIMIT_S=$(((RECORDS * INTERVAL_MS + DRAIN_MS) / 1000 + 60))
for _ in $(seq 1 $((LIMIT_S * 10))); do
    kill -0 "$CL_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$CL_PID" 2>/dev/null && die "client still running after $LIMIT_S s"
CL_RC=0
wait "$CL_PID" || CL_RC=$?
RSS_AFTER=$(rss_kib "$SC_PID")
SC_CPU=$(cpu_s $(($(cpu_ticks "$SC_PID") - SC_CPU0)))
DEV_CPU=$(cpu_s $(($(cpu_ticks "$DEV_PID") - DEV_CPU0)))

DONE=$(grep '^DONE' "$TMP/client.out" || true)
[ -n "$DONE" ] || { tail -n 20 "$TMP/client.err" >&2; die "client produced no summary"; }
SSE_ON=$(field sse "$READY")
SESS_ON=$(field sessions "$READY")
per_waiter=$(awk -v a="$RSS_WAIT" -v b="$RSS_IDLE" -v n=$((SSE_ON + SESS_ON)) \
    'BEGIN {printf "%.1f", (n > 0) ? (a - b) / n : 0}')

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$ROOT/bench/out"
OUT="$ROOT/bench/out/sessions-$STAMP.md"
{
    echo "# flo-sidecar SSE followers + session long-polls, $STAMP"
    echo
    echo "Host: $(nproc) CPUs, $(uname -sr); sidecar and flo-dev from $BUILD" \
        "($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || echo '?'))," \
        "client on the same machine; load average at start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Parameters: $N SSE followers (?follow=true, tail), $M sessions over $GROUPS_ groups" \
        "(GET .../records?count=10&block_ms=$BLOCK_MS, ack, again), $RECORDS appends every" \
        "$INTERVAL_MS ms, settle $SETTLE_S s."
    echo
    echo "| SSE followers | session long-polls | sidecar RSS idle | RSS all waiting | per waiter | RSS after | upstream conns | client conns | sidecar fds |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| $SSE_ON / $N | $SESS_ON / $M | $(mib "$RSS_IDLE") MiB | $(mib "$RSS_WAIT") MiB |" \
        "$per_waiter KiB | $(mib "$RSS_AFTER") MiB | $UP_CONNS | $CLIENT_CONNS | $FDS |"
    echo
    echo "| deliveries | received / expected | duplicates | p50 ms | p99 ms | max ms |"
    echo "|---|---:|---:|---:|---:|---:|"
    grep '^RESULT' "$TMP/client.out" | while read -r line; do
        kind=$(field kind "$line")
        case "$kind" in sse) kind="SSE follow" ;; session) kind="session read" ;; all) kind="all" ;; esac
        echo "| $kind | $(field delivered "$line") / $(field expected "$line") |" \
            "$(field duplicates "$line") | $(field p50_ms "$line") | $(field p99_ms "$line") |" \
            "$(field max_ms "$line") |"
    done
    echo
    echo "Latency = client receive time - the append's send time (CLOCK_REALTIME, in the payload)," \
        "first delivery of each record per follower / per group."
    echo "Errors: $(field errors "$DONE") (connect $(field connect "$DONE"), HTTP status $(field status "$DONE")," \
        "closed $(field closed "$DONE"), protocol $(field protocol "$DONE"), SSE error events" \
        "$(field sse_error "$DONE"), appends $(field append "$DONE")); redelivered (delivery_count > 1):" \
        "$(field redelivered "$DONE"); appended $(field appended "$DONE") / $RECORDS."
    echo "CPU from the first append to the client's exit: flo-sidecar $SC_CPU s, flo-dev $DEV_CPU s" \
        "(user + system)."
} | tee "$OUT"
log "written to $OUT"
if [ -s "$TMP/client.err" ]; then
    log "client stderr (first lines):"
    head -n 10 "$TMP/client.err" >&2
fi
[ "$CL_RC" = 0 ] || die "client reported missing deliveries or errors (exit $CL_RC)"
