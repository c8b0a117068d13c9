#!/usr/bin/env bash
# bench/grpc.sh: rpcload (gRPC plugin) vs h2load (a pre-encoded gRPC frame) vs
# Locust (a gRPC User), unary SayHello against the C hello_server
# (examples/hello) on loopback. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-c CONNECTIONS] [-m STREAMS] [-C CLIENTS] [-k]
  -d SECONDS      duration of each client's run (default 10)
  -c CONNECTIONS  HTTP/2 connections (default 10)
  -m STREAMS      calls in flight per connection (default 10): rpcload runs
                  CONNECTIONS*STREAMS users on --connections CONNECTIONS,
                  h2load -c CONNECTIONS -m STREAMS, Locust CONNECTIONS*STREAMS
                  users (its channels share connections as grpc decides)
  -C CLIENTS      comma-separated subset of rpcload,h2load,locust (default all)
  -k              keep the temporary directory (server and client outputs)
env: RPCLOAD (default <repo>/build/rpcload), RPCLOAD_PLUGIN_DIR (default: the
     plugins/ folder next to RPCLOAD), HELLO_SERVER (default: examples/hello/
     hello_server next to RPCLOAD), H2LOAD (default h2load),
     LOCUST_PYTHON (default /usr/bin/python3), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 CONN=10 STREAMS=10 CLIENTS=rpcload,h2load,locust KEEP=0
while getopts 'd:c:m:C:kh' opt; do
    case $opt in
        d) DUR=${OPTARG%s} ;;
        c) CONN=$OPTARG ;;
        m) STREAMS=$OPTARG ;;
        C) CLIENTS=$OPTARG ;;
        k) KEEP=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "-d wants whole seconds, got '$DUR'"
[[ $CONN =~ ^[1-9][0-9]*$ ]] || die "-c wants a positive integer, got '$CONN'"
[[ $STREAMS =~ ^[1-9][0-9]*$ ]] || die "-m wants a positive integer, got '$STREAMS'"
USERS=$(( CONN * STREAMS ))

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
RPCLOAD_PLUGIN_DIR=${RPCLOAD_PLUGIN_DIR:-$(dirname "$RPCLOAD")/plugins}
HELLO_SERVER=${HELLO_SERVER:-$(dirname "$RPCLOAD")/examples/hello/hello_server}
H2LOAD=${H2LOAD:-h2load}
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
LOCUSTFILE=$BENCH_DIR/locustfile_grpc.py
PROTO=$REPO_DIR/examples/hello/hello.proto
METHOD=/locust.hello.HelloService/SayHello

# (need_tools also insists on nginx, which this script does not use.)
for t in taskset timeout awk ss; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found"
done
[[ -x $GNU_TIME ]] || die "$GNU_TIME not found: apt-get install time"
[[ -x $HELLO_SERVER ]] || die "no hello_server at $HELLO_SERVER (build rpcload with grpc C core installed, see examples/hello/README.md; or set HELLO_SERVER)"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) > USERS + 100 )) || die "open-files limit $(ulimit -n) too low for $USERS users"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpcload-bench-grpc.XXXXXX")
SERVER_PID=
SERVER_PORT=
CLIENT_PID=

# ---- hello_server: start, ask, stop (by its PID) ---------------------------
# server_start OUT: hello_server pinned to $SERVER_CPU, one thread, on a port
# the kernel picks (it prints "listening on 127.0.0.1:PORT" once it accepts
# calls), in the foreground of a background job so that $! is its PID.
server_start() {
    local out=$1
    : >"$out"
    taskset -c "$SERVER_CPU" "$HELLO_SERVER" --port 0 --threads 1 --grace 1 \
        </dev/null >"$out" 2>"$out.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        SERVER_PORT=$(awk '/^listening on / {n = split($3, a, ":"); print a[n]; exit}' "$out")
        [[ -n $SERVER_PORT ]] && return 0
        sleep 0.05
    done
    tail -n 5 "$out.err" >&2 2>/dev/null || true
    server_stop
    die "hello_server did not start"
}

# SIGTERM: it takes no new calls, finishes those in flight (the client is gone
# by then, so there are none left to wait for) and prints its count.
server_stop() {
    [[ -n $SERVER_PID ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# CPU seconds (user+sys, all threads) hello_server has used so far.
server_cpu() {
    sed 's/.*) //' "/proc/$SERVER_PID/stat" |
        awk -v h="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / h}'
}

# server_count OUT FIELD: from "calls served: N (hello ok A, hello error
# status B, reflection R, unimplemented U), failed F": ok, errors (B + U) or
# failed; "-" when the line is missing.
server_count() {
    awk -v f="$2" '/^calls served: / {
        line = $0; gsub(/[(),]/, " ", line); split(line, w, " ")
        for (i = 1; i in w; i++) {
            if (w[i] == "ok") ok = w[i + 1]
            if (w[i] == "status") st = w[i + 1]
            if (w[i] == "unimplemented") un = w[i + 1]
            if (w[i] == "failed") fl = w[i + 1]
        }
        seen = 1
    } END {
        if (!seen) { print "-"; exit }
        if (f == "ok") print ok + 0; else if (f == "errors") print st + un; else print fl + 0
    }' "$1"
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [[ -n $CLIENT_PID ]] && kill -0 "$CLIENT_PID" 2>/dev/null; then
        kill -TERM "$CLIENT_PID" 2>/dev/null || true   # the client's timeout: it passes it on
        wait "$CLIENT_PID" 2>/dev/null || true
    fi
    server_stop
    if (( KEEP )); then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The h2load body: one gRPC message frame (flag 0, 4-byte big-endian length)
# holding HelloRequest{name: "x"}: field 1, wire type 2 (0x0a), length 1, "x".
FRAME=$WORK/hello_request.bin
printf '\x00\x00\x00\x00\x03\x0a\x01\x78' >"$FRAME"

declare -A REQS CREQS CUT ERRS SFAIL CONNS CPU RSS WALL NOTE SRV OTHER
ORDER=()

# Successful calls the client counted itself. These parsers and the cmd_*
# builders below are called through run_client's arguments:
# shellcheck disable=SC2317
client_ok_locust_table() {     # rpcload's and Locust's Aggregated row: # reqs - # fails
    local n f
    n=$(client_reqs_locust_table "$1") f=$(client_fails_locust_table "$1")
    if [[ $n == - || $f == - ]]; then echo -; else echo $(( n - f )); fi
}
# shellcheck disable=SC2317
no_inflight() { echo -; }      # Locust does not say

# run_client NAME CLIENT-COUNT-PARSER IN-FLIGHT-PARSER COMMAND-BUILDER
# Starts a fresh hello_server (its count at exit is this client's ground
# truth), runs the command the builder puts in CMD (it may use $SERVER_PORT)
# pinned to $CLIENT_CPU under GNU time, samples the server's established
# connections halfway, stops the server and records the figures.
# shellcheck disable=SC2034  # CUT is shown via the table's awk
run_client() {
    local name=$1 parser=$2 inflight=$3 builder=$4
    local out=$WORK/$name.out tf=$WORK/$name.time srv_out=$WORK/$name.server rc=0 t0 t1 f u s m c0 c1 b0 b1
    ORDER+=("$name")
    server_start "$srv_out"
    CMD=()
    "$builder"
    say "running $name against hello_server pid $SERVER_PID on 127.0.0.1:$SERVER_PORT (cpu $SERVER_CPU): ${CMD[*]}"
    c0=$(server_cpu) b0=$(machine_busy)
    t0=$(date +%s.%N)
    timeout -k 5 $(( DUR + 60 )) \
        "$GNU_TIME" -f '%U %S %M' -o "$tf" \
        taskset -c "$CLIENT_CPU" "${CMD[@]}" </dev/null >"$out" 2>&1 &
    CLIENT_PID=$!
    sleep "$(awk -v d="$DUR" 'BEGIN{print d / 2}')"
    CONNS[$name]=$(ss -Htn state established "( sport = :$SERVER_PORT )" 2>/dev/null | wc -l)
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    t1=$(date +%s.%N)
    c1=$(server_cpu) b1=$(machine_busy)
    server_stop
    SRV[$name]=$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f%%", (b-a)*100/d}')
    REQS[$name]=$(server_count "$srv_out" ok)
    ERRS[$name]=$(server_count "$srv_out" errors)
    SFAIL[$name]=$(server_count "$srv_out" failed)
    CREQS[$name]=$($parser "$out")
    CUT[$name]=$($inflight "$out")
    WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    if f=$(time_fields "$tf"); then
        read -r u s m <<<"$f"
        CPU[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
        RSS[$name]=$m
        # busy CPU of everything but this client and the server, per second of run
        OTHER[$name]=$(awk -v a="$b0" -v b="$b1" -v c="${CPU[$name]}" -v n0="$c0" -v n1="$c1" -v w="$t1" -v v="$t0" \
            'BEGIN{o=(b-a-c-(n1-n0))*100/(w-v); if (o<0) o=0; printf "%.0f%%", o}')
    fi
    case $rc in
        0) NOTE[$name]=ok ;;
        124|137) NOTE[$name]="timed out after $(( DUR + 60 ))s" ;;
        *) NOTE[$name]="exit status $rc" ;;
    esac
    if [[ ${REQS[$name]} == - ]]; then
        NOTE[$name]="${NOTE[$name]}; hello_server printed no count"
        REQS[$name]=0
    elif (( ${ERRS[$name]} > 0 )); then
        NOTE[$name]="${NOTE[$name]}; ${ERRS[$name]} calls answered with an error or UNIMPLEMENTED"
    fi
    if (( rc != 0 )); then
        say "$name exited with status $rc; last lines of its output:"
        tail -n 15 "$out" | sed 's/^/    /' >&2
    fi
    sleep 1
}

skip() { ORDER+=("$1"); NOTE[$1]="skipped: $2"; say "skipping $1: $2"; }

# shellcheck disable=SC2317
cmd_rpcload() {
    CMD=("$RPCLOAD" --plugin-dir "$RPCLOAD_PLUGIN_DIR" --threads 1
         --proto "$PROTO" --call SayHello -d '{"name":"x"}'
         -u "$USERS" -r $(( USERS * 100 )) -t "${DUR}s" --connections "$CONN"
         --only-summary "127.0.0.1:$SERVER_PORT")
}
# shellcheck disable=SC2317
cmd_h2load() {
    CMD=("$H2LOAD" -t1 -c "$CONN" -m "$STREAMS" -D "$DUR" -d "$FRAME"
         -H 'content-type: application/grpc' -H 'te: trailers'
         "http://127.0.0.1:$SERVER_PORT$METHOD")
}
# shellcheck disable=SC2317
cmd_locust() {
    CMD=("$LOCUST_PYTHON" -m locust -f "$LOCUSTFILE" --headless -u "$USERS" -r "$USERS"
         -t "${DUR}s" --host "127.0.0.1:$SERVER_PORT" --only-summary)
}

IFS=, read -r -a WANT <<<"$CLIENTS"
for c in "${WANT[@]}"; do
    case $c in
        rpcload)
            if [[ ! -x $RPCLOAD ]]; then
                skip rpcload "no executable at $RPCLOAD (set RPCLOAD)"
            elif [[ ! -e $RPCLOAD_PLUGIN_DIR/grpc.so ]]; then
                skip rpcload "no gRPC plugin: no grpc.so in $RPCLOAD_PLUGIN_DIR (not built yet? set RPCLOAD_PLUGIN_DIR)"
            else
                run_client rpcload client_ok_locust_table client_cut_rpcload cmd_rpcload
            fi ;;
        h2load)
            if command -v "$H2LOAD" >/dev/null 2>&1; then
                run_client h2load client_reqs_h2load client_inflight_h2load cmd_h2load
            else
                skip h2load "'$H2LOAD' not found (apt-get install nghttp2-client)"
            fi ;;
        locust)
            if "$LOCUST_PYTHON" -c 'import locust, grpc, grpc_tools' >/dev/null 2>&1; then
                run_client locust client_ok_locust_table no_inflight cmd_locust
            else
                skip locust "$LOCUST_PYTHON lacks locust, grpc or grpc_tools (apt-get install python3-locust python3-grpcio python3-grpc-tools)"
            fi ;;
        *) die "unknown client '$c' (want rpcload, h2load, locust)" ;;
    esac
done

# ---- the table (stdout) ----------------------------------------------------
# ratios only against an rpcload run whose calls reached the server
base_us='' base_rss=''
if [[ -n ${CPU[rpcload]:-} && ${REQS[rpcload]:-0} -gt 0 ]]; then
    base_us=$(awk -v c="${CPU[rpcload]}" -v n="${REQS[rpcload]}" 'BEGIN{printf "%.6f", c*1e6/n}')
    base_rss=${RSS[rpcload]:-}
fi

echo
echo "gRPC unary $METHOD, HelloRequest{name: \"x\"}: hello_server (1 thread) on cpu $SERVER_CPU, a fresh one per client;"
echo "each client alone on cpu $CLIENT_CPU, 1 thread/process, $CONN connections x $STREAMS streams ($USERS calls in flight), ${DUR} s"
echo "calls = calls the server answered OK during the client's run ('hello ok' of its count at exit; the client's own count of"
echo "successful calls in parentheses); cut = calls in flight when the client stopped (rpcload's 'were cut', h2load's started - done);"
echo "srv fail = calls the server saw cancelled or broken (the calls in flight at the stop); conns = established connections at the server halfway"
echo "calls/s = calls / ${DUR} s; CPU = client user+sys (GNU time); CPU us/call = CPU / calls; RSS = client peak RSS"
echo
FMT='%-8s %10s %12s %6s %8s %6s %9s %7s %7s %11s %8s %10s %8s %7s %7s  %s\n'
# shellcheck disable=SC2059
printf "$FMT" client calls "(client)" cut "srv fail" conns "calls/s" "CPU s" "wall s" "CPU us/call" "RSS MiB" "CPU/call x" "RSS x" server other note
# shellcheck disable=SC2059
printf "$FMT" -------- ---------- ------------ ------ -------- ------ --------- ------- ------- ----------- -------- ---------- -------- ------- ------- ----
for c in "${ORDER[@]}"; do
    if [[ ${NOTE[$c]} == skipped:* ]]; then
        # shellcheck disable=SC2059
        printf "$FMT" "$c" - - - - - - - - - - - - - - "${NOTE[$c]}"
        continue
    fi
    awk -v name="$c" -v n="${REQS[$c]:-0}" -v cn="${CREQS[$c]:--}" -v cut="${CUT[$c]:--}" -v sf="${SFAIL[$c]:--}" \
        -v conns="${CONNS[$c]:--}" -v d="$DUR" \
        -v cpu="${CPU[$c]:-}" -v wall="${WALL[$c]:-}" -v rss="${RSS[$c]:-}" \
        -v bus="$base_us" -v brss="$base_rss" -v note="${NOTE[$c]}" -v srv="${SRV[$c]:--}" -v oth="${OTHER[$c]:--}" 'BEGIN {
        rps = sprintf("%.0f", n / d)
        us = "-"; usx = "-"; mib = "-"; rssx = "-"
        if (cpu != "" && n > 0) { u = cpu * 1e6 / n; us = sprintf("%.2f", u)
            if (bus != "" && bus > 0) usx = sprintf("%.2f", u / bus) }
        if (rss != "") { mib = sprintf("%.1f", rss / 1024)
            if (brss != "" && brss > 0) rssx = sprintf("%.2f", rss / brss) }
        if (cpu == "") cpu = "-"
        if (n == 0 && note == "ok") note = "no calls reached the server"
        printf "%-8s %10d %12s %6s %8s %6s %9s %7s %7s %11s %8s %10s %8s %7s %7s  %s\n",
            name, n, "(" cn ")", cut, sf, conns, rps, cpu, wall, us, mib, usx, rssx, srv, oth, note
    }'
done
echo
echo "CPU/call x and RSS x: ratio to rpcload's (1.00 = same as rpcload; higher = the peer costs more)."
echo "server: CPU of hello_server during the run / run time; near 100% means the server, not the client, was the bottleneck."
echo "other: CPU used by every other process on the machine during the run (% of one core); well above 0% means the figures were disturbed."

# The server's count against the client's: the server may have answered some
# of the calls in flight at the stop that the client no longer counted, so
# client <= server <= client + in flight (Locust does not say how many were in
# flight: at most one per user).
for c in "${ORDER[@]}"; do
    [[ ${NOTE[$c]} == skipped:* || ${CREQS[$c]:--} == - ]] && continue
    slack=${CUT[$c]:--}
    [[ $slack == - ]] && slack=$USERS
    awk -v name="$c" -v s="${REQS[$c]}" -v cl="${CREQS[$c]}" -v k="$slack" 'BEGIN {
        if (s >= cl && s <= cl + k) exit
        printf "count check: %s: server %d, client %d, differ by %d, more than the %d in flight at the stop\n", name, s, cl, s - cl, k
    }'
done

BAR_FAIL=0
bar() {   # bar TEXT X OP LIMIT
    awk -v t="$1" -v x="$2" -v op="$3" -v l="$4" 'BEGIN {
        ok = (op == "<=") ? (x <= l) : (x >= l)
        printf "bar: %s: %.2fx -> %s\n", t, x, (ok ? "PASS" : "FAIL"); exit !ok
    }' || BAR_FAIL=1
}
us_of() { awk -v c="${CPU[$1]}" -v n="${REQS[$1]}" 'BEGIN{printf "%.6f", c*1e6/n}'; }
if [[ -n $base_us && -n ${CPU[h2load]:-} && ${REQS[h2load]:-0} -gt 0 ]]; then
    bar "rpcload CPU/call at most 1.5x h2load's" "$(awk -v r="$base_us" -v h="$(us_of h2load)" 'BEGIN{print r / h}')" "<=" 1.5
else
    echo "(no rpcload and h2load figures to compare: bar 'rpcload CPU/call at most 1.5x h2load's' not checked)"
fi
if [[ -n $base_us && -n ${CPU[locust]:-} && ${REQS[locust]:-0} -gt 0 ]]; then
    bar "Locust CPU/call at least 20x rpcload's" "$(awk -v r="$base_us" -v l="$(us_of locust)" 'BEGIN{print l / r}')" ">=" 20
else
    echo "(no rpcload and Locust figures to compare: bar 'Locust CPU/call at least 20x rpcload's' not checked)"
fi
exit "$BAR_FAIL"
