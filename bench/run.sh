#!/usr/bin/env bash
# flo-sidecar benchmark: compares the sidecar with real peers in ONE run and
# prints ratios, so the numbers mean something on whatever machine runs it.
#
#   RESP  redis-benchmark SET/GET and LPUSH/RPOP (lists; Flo queues through the
#         sidecar), pipeline 1 and 16, against redis-server direct,
#         twemproxy -> redis-server, flo-sidecar -> flo-dev
#   HTTP  wrk GET/PUT against webdis -> redis-server and the sidecar's /v1/kv
#   QUEUE bench/queue_client: HTTP enqueue -> dequeue -> ack cycles (messages/s)
#         through the sidecar's /v1/queues (no peer: webdis has no leases)
#   RSS   idle VmRSS of flo-sidecar (with an upstream, before any traffic)
#
# Everything listens on 127.0.0.1 on free ports; every process started here is
# killed on exit. Peers come from `scripts/install-deps.sh --bench`.
#
# Environment:
#   BENCH_N=100000       requests per redis-benchmark run
#   BENCH_SECS=10        seconds per wrk run
#   BENCH_CLIENTS=50     connections (redis-benchmark -c, wrk -c)
#   BENCH_ROUNDS=1       repeat everything; each row reports its median round
#   BENCH_KEYSPACE=      unset: redis-benchmark's default single key; a number
#                        K: random keys from a space of K (redis-benchmark -r K)
#   FLO_BUILD=build      build directory holding flo-sidecar and flo-dev
#   BENCH_PEERS_ONLY=1   skip the sidecar (to check the peer half alone)
#
# The table goes to stdout and to bench/out/results-<UTC timestamp>.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${FLO_BUILD:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
N="${BENCH_N:-100000}"
SECS="${BENCH_SECS:-10}"
CLIENTS="${BENCH_CLIENTS:-50}"
ROUNDS="${BENCH_ROUNDS:-1}"
KEYSPACE="${BENCH_KEYSPACE:-}"
PEERS_ONLY="${BENCH_PEERS_ONLY:-0}"
RSS_TARGET_KIB=$((8 * 1024))
BENCHKEY=benchkey
BODY=benchvalue-0123456789abcdef # small fixed value, same for every target

die() {
    echo "bench: $*" >&2
    exit 1
}
log() { echo "bench: $*" >&2; }

for v in BENCH_N BENCH_SECS BENCH_CLIENTS BENCH_ROUNDS BENCH_KEYSPACE; do
    [[ "${!v:-1}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

# --- tools --------------------------------------------------------------------
for t in redis-server redis-cli redis-benchmark nutcracker webdis wrk timeout; do
    command -v "$t" >/dev/null || die "'$t' not found; run: scripts/install-deps.sh --bench (as root)"
done
SIDECAR="$BUILD_DIR/flo-sidecar"
FLODEV="$BUILD_DIR/flo-dev"
QCLIENT="$BUILD_DIR/bench/queue_client"
if [ "$PEERS_ONLY" != 1 ]; then
    [ -x "$SIDECAR" ] || die "$SIDECAR not built; run: make build (or set FLO_BUILD)"
    [ -x "$FLODEV" ] || die "$FLODEV not built; run: make build (or set FLO_BUILD)"
    [ -x "$QCLIENT" ] || die "$QCLIENT not built; run: make build (or set FLO_BUILD)"
fi

# --- process bookkeeping --------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/flo-bench.XXXXXX")"
PIDS=()

cleanup() {
    local rc=$?
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    # Give them a moment to exit cleanly, then make sure.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
        # Keep the logs of a failed run: they are the only way to see why.
        echo "bench: failed (exit $rc); logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: bind port 0 and release it. Ports handed out in this
# run are remembered so two servers never get the same one.
USED_PORTS=" "
free_port() {
    local p
    for _ in $(seq 1 50); do
        if command -v python3 >/dev/null 2>&1; then
            p="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
        else
            p=$((20000 + RANDOM % 30000))
            ss -Htln "sport = :$p" | grep -q . && continue
        fi
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        USED_PORTS+="$p "
        echo "$p"
        return 0
    done
    die "could not find a free loopback port"
}

# Start "$@" in the background with output to $TMP/<name>.log; sets LAST_PID.
start() {
    local name="$1"
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# Wait (at most 10 s) until something accepts on 127.0.0.1:port; fail early
# if the process died.
wait_port() {
    local name="$1" pid="$2" port="$3"
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$TMP/$name.log" >&2 || true
            die "$name exited before listening on port $port"
        fi
        sleep 0.1
    done
    tail -n 20 "$TMP/$name.log" >&2 || true
    die "$name did not listen on port $port within 10 s"
}

# --- start the servers ----------------------------------------------------------
REDIS_PORT="$(free_port)"
start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --protected-mode no --daemonize no --dir "$TMP" --logfile ''
REDIS_PID=$LAST_PID
wait_port redis "$REDIS_PID" "$REDIS_PORT"

TWEM_PORT="$(free_port)"
cat >"$TMP/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$TWEM_PORT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  preconnect: true
  server_connections: 1
  servers:
    - 127.0.0.1:$REDIS_PORT:1
EOF
# -s: stats port (default 22222 would collide between runs); -o: log file.
TWEM_STATS="$(free_port)"
start nutcracker nutcracker -c "$TMP/nutcracker.yml" -a 127.0.0.1 -s "$TWEM_STATS" \
    -o "$TMP/nutcracker-internal.log" -v 4
TWEM_PID=$LAST_PID
wait_port nutcracker "$TWEM_PID" "$TWEM_PORT"

WEBDIS_PORT="$(free_port)"
cat >"$TMP/webdis.json" <<EOF
{
    "redis_host": "127.0.0.1",
    "redis_port": $REDIS_PORT,
    "redis_auth": null,
    "http_host": "127.0.0.1",
    "http_port": $WEBDIS_PORT,
    "threads": 2,
    "pool_size": 20,
    "daemonize": false,
    "database": 0,
    "verbosity": 1,
    "logfile": "$TMP/webdis-internal.log"
}
EOF
start webdis webdis "$TMP/webdis.json"
WEBDIS_PID=$LAST_PID
wait_port webdis "$WEBDIS_PID" "$WEBDIS_PORT"

RSS_IDLE_KIB=""
if [ "$PEERS_ONLY" != 1 ]; then
    FLODEV_PORT="$(free_port)"
    start flo-dev "$FLODEV" --listen "127.0.0.1:$FLODEV_PORT"
    FLODEV_PID=$LAST_PID
    wait_port flo-dev "$FLODEV_PID" "$FLODEV_PORT"

    SC_HTTP="$(free_port)"
    SC_RESP="$(free_port)"
    start flo-sidecar "$SIDECAR" --upstream "127.0.0.1:$FLODEV_PORT" \
        --http "127.0.0.1:$SC_HTTP" --resp "127.0.0.1:$SC_RESP" --log-level warn
    SC_PID=$LAST_PID
    wait_port flo-sidecar "$SC_PID" "$SC_RESP"
    wait_port flo-sidecar "$SC_PID" "$SC_HTTP"
    # Let the pool finish connecting upstream, then read the idle RSS before
    # any client traffic has touched the process.
    sleep 1
    RSS_IDLE_KIB="$(awk '/^VmRSS:/ {print $2}' "/proc/$SC_PID/status")"
fi

# --- sanity: every target answers correctly before it is measured -------------
check_resp() {
    local name="$1" port="$2" got
    got="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" SET "$BENCHKEY" "$BODY" 2>&1)" || true
    [ "$got" = OK ] || die "$name: SET via redis-cli answered '$got'"
    got="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" GET "$BENCHKEY" 2>&1)" || true
    [ "$got" = "$BODY" ] || die "$name: GET via redis-cli answered '$got'"
}
check_http() {
    local name="$1" put_url="$2" get_url="$3" want="$4" got
    command -v curl >/dev/null || return 0
    curl -fsS -m 5 -X PUT --data-binary "$BODY" "$put_url" >/dev/null ||
        die "$name: PUT $put_url failed"
    got="$(curl -fsS -m 5 "$get_url")" || die "$name: GET $get_url failed"
    [ "$got" = "$want" ] || die "$name: GET $get_url answered '$got', expected '$want'"
}
# Lists: the sidecar maps them to Flo queues (RPOP = dequeue + ack).
check_resp_list() {
    local name="$1" port="$2" got
    got="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" LPUSH benchcheck "$BODY" 2>&1)" || true
    [[ "$got" =~ ^[0-9]+$ ]] || die "$name: LPUSH via redis-cli answered '$got'"
    got="$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" RPOP benchcheck 2>&1)" || true
    [ "$got" = "$BODY" ] || die "$name: RPOP via redis-cli answered '$got'"
}
check_resp redis "$REDIS_PORT"
check_resp twemproxy "$TWEM_PORT"
check_resp_list twemproxy "$TWEM_PORT"
check_http webdis "http://127.0.0.1:$WEBDIS_PORT/SET/$BENCHKEY" \
    "http://127.0.0.1:$WEBDIS_PORT/GET/$BENCHKEY" "{\"GET\":\"$BODY\"}"
if [ "$PEERS_ONLY" != 1 ]; then
    check_resp flo-sidecar "$SC_RESP"
    check_resp_list flo-sidecar "$SC_RESP"
    check_http flo-sidecar "http://127.0.0.1:$SC_HTTP/v1/kv/$BENCHKEY" \
        "http://127.0.0.1:$SC_HTTP/v1/kv/$BENCHKEY" "$BODY"
fi

# --- measurements -----------------------------------------------------------------
# Each result is one line in $TMP/results:
#   workload|target|rps|p50|p99|errors|server CPU us per request
RESULTS="$TMP/results"
: >"$RESULTS"

# Server-side CPU (user + system, all threads) of the processes that serve a
# target: the proxy AND its backend, so that every target is charged for the
# whole path a request takes. Throughput on a small shared machine moves with
# whatever else runs; CPU per request is the steadier efficiency figure.
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() {
    local total=0 p t
    for p in "$@"; do
        t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null)" || die "process $p is gone"
        total=$((total + t))
    done
    echo "$total"
}
us_per_req() { # ticks requests
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (n > 0) ? t * 1e6 / hz / n : 0 }'
}

# redis-benchmark --csv (redis 7) prints:
#   "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
#   "SET","81300.81","0.330","0.096","0.303","0.535","0.783","2.159"
# One test per invocation so the CPU used can be charged to it.
run_resp() {
    local target="$1" port="$2" pipe="$3" test="$4" pids="$5" out="$TMP/rb-$1-P$3-$4"
    log "redis-benchmark $test -P $pipe -> $target"
    local c0 c1
    # shellcheck disable=SC2086 # pids is a list
    c0="$(cpu_ticks $pids)"
    # -k 1: keep-alive (the default) so connection setup is not measured.
    # -e: print server errors; redis-benchmark prints "Error from server" on
    # stdout at most once per second, so the errors column counts seconds
    # with errors (0 means every reply was a success), not failed replies.
    local keys=()
    if [ -n "$KEYSPACE" ]; then keys=(-r "$KEYSPACE"); fi
    if ! timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -c "$CLIENTS" -n "$N" \
        -P "$pipe" "${keys[@]}" -k 1 -e --csv >"$out.csv" 2>"$out.err"; then
        tail -n 5 "$out.err" >&2 || true
        die "redis-benchmark against $target ($test -P $pipe) failed"
    fi
    # shellcheck disable=SC2086
    c1="$(cpu_ticks $pids)"
    local errs cpu
    errs="$(cat "$out.csv" "$out.err" | grep -c 'Error from server' || true)"
    cpu="$(us_per_req $((c1 - c0)) "$N")"
    awk -F'"' -v tgt="$target" -v pipe="$pipe" -v errs="$errs" -v cpu="$cpu" -v want="${test^^}" '
        $2 == want {
            printf "RESP %s P%s|%s|%s|%s|%s|%s|%s\n", $2, pipe, tgt, $4, $10, $14, errs, cpu
            found++
        }
        END { if (found != 1) exit 1 }' "$out.csv" >>"$RESULTS" ||
        die "could not parse redis-benchmark output for $target: $(head -c 300 "$out.csv")"
}

# wrk latency values come with a unit (us, ms, s); convert to ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        printf "%.3f", n }'
}

run_wrk() {
    local workload="$1" target="$2" pids="$3" url="$4" script="${5:-}" out
    out="$TMP/wrk-$(echo "$workload-$target" | tr -c 'A-Za-z0-9' '_')"
    log "wrk $workload -> $target ($SECS s)"
    local args=(-t2 -c"$CLIENTS" -d"${SECS}s" --latency --timeout 5s)
    [ -n "$script" ] && args+=(-s "$script")
    local c0 c1
    # shellcheck disable=SC2086
    c0="$(cpu_ticks $pids)"
    if ! timeout $((SECS + 60)) wrk "${args[@]}" "$url" >"$out" 2>&1; then
        tail -n 5 "$out" >&2 || true
        die "wrk against $target ($workload) failed"
    fi
    # shellcheck disable=SC2086
    c1="$(cpu_ticks $pids)"
    local rps p50 p99 errs nreq
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(awk '$1 == "50%" {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    nreq="$(awk '/ requests in / {print $1}' "$out")"
    if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ] || [ -z "$nreq" ]; then
        die "could not parse wrk output for $target: $(head -c 300 "$out")"
    fi
    # Non-2xx answers and socket errors are failed requests, not throughput.
    errs="$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
                 /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
                 END {print n + 0}' "$out")"
    echo "$workload|$target|$rps|$(to_ms "$p50")|$(to_ms "$p99")|$errs|$(us_per_req $((c1 - c0)) "$nreq")" >>"$RESULTS"
}

# HTTP queue cycles: CLIENTS threads, each on its own keep-alive connection
# and queue, loop enqueue -> dequeue -> ack for SECS seconds. One result =
# one acked message (three HTTP requests); latencies are per cycle.
run_queue() {
    local target="$1" port="$2" pids="$3" out="$TMP/queue-$1"
    log "queue_client enqueue->dequeue->ack -> $target ($SECS s)"
    local c0 c1
    # shellcheck disable=SC2086
    c0="$(cpu_ticks $pids)"
    if ! timeout $((SECS + 60)) "$QCLIENT" 127.0.0.1 "$port" "$CLIENTS" "$SECS" "${#BODY}" \
        >"$out" 2>&1; then
        tail -n 5 "$out" >&2 || true
        die "queue_client against $target failed"
    fi
    # shellcheck disable=SC2086
    c1="$(cpu_ticks $pids)"
    local line rate p50 p99 errs msgs
    line="$(grep '^DONE ' "$out")" || die "could not parse queue_client output: $(head -c 300 "$out")"
    msgs="$(sed -n 's/.* msgs=\([0-9]*\).*/\1/p' <<<"$line")"
    rate="$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' <<<"$line")"
    p50="$(sed -n 's/.* p50_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    p99="$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    errs="$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")"
    [ -n "$msgs" ] && [ -n "$rate" ] && [ -n "$errs" ] || die "bad queue_client line: $line"
    echo "HTTP queue enq+deq+ack|$target|$rate|$p50|$p99|$errs|$(us_per_req $((c1 - c0)) "$msgs")" >>"$RESULTS"
}

# wrk Lua scripts for PUT: same small body for both targets.
cat >"$TMP/put.lua" <<EOF
wrk.method = "PUT"
wrk.body = "$BODY"
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# Rounds interleave the targets so that a slow moment of the machine hits
# every target alike; the report keeps each row's median round.
for round in $(seq 1 "$ROUNDS"); do
    [ "$ROUNDS" -gt 1 ] && log "round $round of $ROUNDS"
    for pipe in 1 16; do
        # lpush before rpop: each RPOP run pops what the LPUSH run pushed.
        for test in set get lpush rpop; do
            run_resp redis "$REDIS_PORT" "$pipe" "$test" "$REDIS_PID"
            run_resp twemproxy "$TWEM_PORT" "$pipe" "$test" "$TWEM_PID $REDIS_PID"
            if [ "$PEERS_ONLY" != 1 ]; then
                run_resp flo-sidecar "$SC_RESP" "$pipe" "$test" "$SC_PID $FLODEV_PID"
            fi
        done
    done

    # webdis: GET /GET/key; PUT /SET/key stores the request body as the value.
    run_wrk "HTTP GET" webdis "$WEBDIS_PID $REDIS_PID" "http://127.0.0.1:$WEBDIS_PORT/GET/$BENCHKEY"
    if [ "$PEERS_ONLY" != 1 ]; then
        run_wrk "HTTP GET" flo-sidecar "$SC_PID $FLODEV_PID" "http://127.0.0.1:$SC_HTTP/v1/kv/$BENCHKEY"
    fi
    run_wrk "HTTP PUT" webdis "$WEBDIS_PID $REDIS_PID" "http://127.0.0.1:$WEBDIS_PORT/SET/$BENCHKEY" "$TMP/put.lua"
    if [ "$PEERS_ONLY" != 1 ]; then
        run_wrk "HTTP PUT" flo-sidecar "$SC_PID $FLODEV_PID" "http://127.0.0.1:$SC_HTTP/v1/kv/$BENCHKEY" "$TMP/put.lua"
        run_queue flo-sidecar "$SC_HTTP" "$SC_PID $FLODEV_PID"
    fi
done

RSS_AFTER_KIB=""
if [ "$PEERS_ONLY" != 1 ]; then
    kill -0 "$SC_PID" 2>/dev/null || die "flo-sidecar died during the benchmark (see $TMP/flo-sidecar.log)"
    RSS_AFTER_KIB="$(awk '/^VmRSS:/ {print $2}' "/proc/$SC_PID/status")"
fi

# --- report ---------------------------------------------------------------------
# The ratio column is sidecar throughput / this row's throughput for the same
# workload: > 1.00x means the sidecar is faster than that peer.
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
KEYDESC="one key (redis-benchmark default)"
[ -z "$KEYSPACE" ] || KEYDESC="random among $KEYSPACE (-r $KEYSPACE)"
mkdir -p "$ROOT/bench/out"
OUTFILE="$ROOT/bench/out/results-$STAMP.md"
{
    echo "# flo-sidecar benchmark $STAMP"
    echo
    echo "Host: $(nproc) CPUs, $(uname -sr); redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')," \
        "$(nutcracker --version 2>&1 | sed -n 's/.*nutcracker-\([^ ]*\).*/twemproxy \1/p'), wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')" \
        "webdis $(dpkg-query -W -f='${Version}' webdis 2>/dev/null || echo '?')"
    echo "Parameters: redis-benchmark -t set,get,lpush,rpop -c $CLIENTS -n $N -P 1|16; wrk -t2 -c$CLIENTS -d${SECS}s; value ${#BODY} bytes; RESP keys: $KEYDESC; median of $ROUNDS round(s)"
    echo
    awk -F'|' '
        {
            k = $1 SUBSEP $2
            if (!(k in n)) { keys[++nk] = k; wlk[k] = $1; tgk[k] = $2 }
            if (!($1 in seen)) { seen[$1] = 1; order[++nw] = $1 }
            j = ++n[k]; rps[k, j] = $3 + 0; p50[k, j] = $4; p99[k, j] = $5; cpu[k, j] = $7; err[k] += $6
        }
        END {
            # Median round per row (by requests/s); p50/p99 come from that round.
            for (x = 1; x <= nk; x++) {
                k = keys[x]
                for (a = 1; a <= n[k]; a++) idx[a] = a
                for (a = 2; a <= n[k]; a++)
                    for (b = a; b > 1 && rps[k, idx[b - 1]] > rps[k, idx[b]]; b--) {
                        t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
                    }
                m = idx[int((n[k] + 1) / 2)]
                mr[k] = rps[k, m]; m50[k] = p50[k, m]; m99[k] = p99[k, m]; mcpu[k] = cpu[k, m]
                if (tgk[k] == "flo-sidecar") sc[wlk[k]] = mr[k]
            }
            print "| workload | target | requests/s | p50 ms | p99 ms | errors | sidecar/peer | server CPU us/req |"
            print "|---|---|---:|---:|---:|---:|---:|---:|"
            # Rows grouped by workload (in the order they were run), peers first.
            for (w = 1; w <= nw; w++) {
                for (x = 1; x <= nk; x++) {
                    k = keys[x]
                    if (wlk[k] != order[w]) continue
                    r = "n/a"
                    if (tgk[k] == "flo-sidecar") r = "-"
                    else if ((wlk[k] in sc) && mr[k] > 0) r = sprintf("%.2fx", sc[wlk[k]] / mr[k])
                    printf "| %s | %s | %.0f | %.3f | %.3f | %d | %s | %.2f |\n", wlk[k], tgk[k], mr[k], m50[k], m99[k], err[k], r, mcpu[k]
                }
            }
        }' "$RESULTS"
    echo
    echo "sidecar/peer = flo-sidecar requests/s divided by this row's requests/s (> 1.00x: the sidecar is faster)."
    echo "errors: RESP = seconds in which redis-benchmark saw an error reply; HTTP = non-2xx answers + socket errors."
    echo "HTTP queue enq+deq+ack: requests/s column = messages/s, one message = enqueue + dequeue + ack" \
        "(3 HTTP requests, bench/queue_client, one queue per connection); p50/p99 per cycle; CPU per message."
    echo "server CPU us/req: user+system CPU of the serving processes (proxy + its backend: twemproxy+redis," \
        "webdis+redis, flo-sidecar+flo-dev; redis alone for redis) divided by requests, from the median round."
    echo
    if [ -n "$RSS_IDLE_KIB" ]; then
        verdict="MEETS"
        [ "$RSS_IDLE_KIB" -lt "$RSS_TARGET_KIB" ] || verdict="MISSES"
        printf 'flo-sidecar idle RSS (upstream flo-dev, before traffic): %.2f MiB (%s KiB) - %s the < 8 MiB target; after the run: %.2f MiB\n' \
            "$(awk -v k="$RSS_IDLE_KIB" 'BEGIN {print k / 1024}')" "$RSS_IDLE_KIB" "$verdict" \
            "$(awk -v k="$RSS_AFTER_KIB" 'BEGIN {print k / 1024}')"
    else
        echo "flo-sidecar not measured (BENCH_PEERS_ONLY=1)"
    fi
} | tee "$OUTFILE"
log "written to $OUTFILE"
