#!/usr/bin/env bash
# bench/grpc.sh: rpcload (gRPC plugin) vs h2load (a pre-encoded gRPC frame) vs
# Locust (a gRPC User), unary SayHello against the C hello_server
# (examples/hello) on loopback. See bench/README.md.
# shellcheck disable=SC2317  # client_* and what they call run through run_clients
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
parse_options 'd:DUR:secs c:CONN m:STREAMS C:CLIENTS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -c "$CONN"
need_count -m "$STREAMS"
USERS=$(( CONN * STREAMS ))

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
RPCLOAD_PLUGIN_DIR=${RPCLOAD_PLUGIN_DIR:-$(dirname "$RPCLOAD")/plugins}
HELLO_SERVER=${HELLO_SERVER:-$(dirname "$RPCLOAD")/examples/hello/hello_server}
H2LOAD=${H2LOAD:-h2load}
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
LOCUSTFILE=$BENCH_DIR/locustfile_grpc.py
PROTO=$REPO_DIR/examples/hello/hello.proto
METHOD=/locust.hello.HelloService/SayHello

need_cmds '' taskset timeout awk ss
need_gnu_time
[[ -x $HELLO_SERVER ]] || die "no hello_server at $HELLO_SERVER (build rpcload with grpc C core installed, see examples/hello/README.md; or set HELLO_SERVER)"
raise_fd_limit
need_fds "$USERS" users

work_dir grpc
CLIENT_PID=
at_exit hello_stop
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$CLIENT_PID"'

# The h2load body: one gRPC message frame (flag 0, 4-byte big-endian length)
# holding HelloRequest{name: "x"}: field 1, wire type 2 (0x0a), length 1, "x".
FRAME=$WORK/hello_request.bin
printf '\x00\x00\x00\x00\x03\x0a\x01\x78' >"$FRAME"

# More figures by client (SFAIL and CONNS are columns of client_table's,
# named to it: the linter takes them for unused where they are set).
declare -A ERRS SFAIL CONNS

# Successful calls the client counted itself. These parsers, conns_now and
# the cmd_* builders below are called through run_client's arguments:
client_ok_locust_table() {     # rpcload's and Locust's Aggregated row: # reqs - # fails
    local n f
    n=$(client_reqs_locust_table "$1") f=$(client_fails_locust_table "$1")
    if [[ $n == - || $f == - ]]; then echo -; else echo $(( n - f )); fi
}
no_inflight() { echo -; }      # Locust does not say

# conns_now NAME: the server's established connections, halfway through.
# shellcheck disable=SC2034
conns_now() {
    CONNS[$1]=$(ss -Htn state established "( sport = :$HELLO_PORT )" 2>/dev/null | wc -l)
}

# run_client NAME CLIENT-COUNT-PARSER IN-FLIGHT-PARSER COMMAND-BUILDER
# Starts a fresh hello_server (its count at exit is this client's ground
# truth), measures the command the builder puts in CMD (it may use
# $HELLO_PORT), sampling the server's established connections halfway,
# stops the server and records its counts.
# shellcheck disable=SC2034
run_client() {
    local name=$1 parser=$2 inflight=$3 builder=$4
    local out=$WORK/$name.out srv_out=$WORK/$name.server
    hello_start "$srv_out"
    CMD=()
    "$builder"
    measure_client "$name" --server-cpu hello_cpu --midway conns_now -- "${CMD[@]}"
    hello_stop
    REQS[$name]=$(hello_count "$srv_out" ok)
    ERRS[$name]=$(hello_count "$srv_out" errors)
    SFAIL[$name]=$(hello_count "$srv_out" failed)
    CREQS[$name]=$($parser "$out")
    CUT[$name]=$($inflight "$out")
    if [[ ${REQS[$name]} == - ]]; then
        NOTE[$name]="${NOTE[$name]}; hello_server printed no count"
        REQS[$name]=0
    elif (( ${ERRS[$name]} > 0 )); then
        NOTE[$name]="${NOTE[$name]}; ${ERRS[$name]} calls answered with an error or UNIMPLEMENTED"
    fi
}

cmd_rpcload() {
    CMD=("$RPCLOAD" --plugin-dir "$RPCLOAD_PLUGIN_DIR" --threads 1
         --proto "$PROTO" --call SayHello -d '{"name":"x"}'
         -u "$USERS" -r $(( USERS * 100 )) -t "${DUR}s" --connections "$CONN"
         --only-summary "127.0.0.1:$HELLO_PORT")
}
cmd_h2load() {
    CMD=("$H2LOAD" -t1 -c "$CONN" -m "$STREAMS" -D "$DUR" -d "$FRAME"
         -H 'content-type: application/grpc' -H 'te: trailers'
         "http://127.0.0.1:$HELLO_PORT$METHOD")
}
cmd_locust() {
    CMD=("$LOCUST_PYTHON" -m locust -f "$LOCUSTFILE" --headless -u "$USERS" -r "$USERS"
         -t "${DUR}s" --host "127.0.0.1:$HELLO_PORT" --only-summary HelloUser)
}

# The clients, run by run_clients:
client_rpcload() {
    have_rpcload_plugin grpc "no gRPC plugin: no grpc.so in $RPCLOAD_PLUGIN_DIR (not built yet? set RPCLOAD_PLUGIN_DIR)" ||
        return 0
    run_client rpcload client_ok_locust_table client_cut_rpcload cmd_rpcload
}
client_h2load() {
    have_cmd h2load "$H2LOAD" "apt-get install nghttp2-client" || return 0
    run_client h2load client_reqs_h2load client_inflight_h2load cmd_h2load
}
client_locust() {
    if ! "$LOCUST_PYTHON" -c 'import locust, grpc, grpc_tools' >/dev/null 2>&1; then
        skip locust "$LOCUST_PYTHON lacks locust, grpc or grpc_tools (apt-get install python3-locust python3-grpcio python3-grpc-tools)"
        return 0
    fi
    run_client locust client_ok_locust_table no_inflight cmd_locust
}
run_clients "$CLIENTS" rpcload,h2load,locust

# ---- the table (stdout) ----------------------------------------------------
echo
echo "gRPC unary $METHOD, HelloRequest{name: \"x\"}: hello_server (1 thread) on cpu $SERVER_CPU, a fresh one per client;"
echo "each client alone on cpu $CLIENT_CPU, 1 thread/process, $CONN connections x $STREAMS streams ($USERS calls in flight), ${DUR} s"
echo "calls = calls the server answered OK during the client's run ('hello ok' of its count at exit; the client's own count of"
echo "successful calls in parentheses); cut = calls in flight when the client stopped (rpcload's 'were cut', h2load's started - done);"
echo "srv fail = calls the server saw cancelled or broken (the calls in flight at the stop); conns = established connections at the server halfway"
echo "calls/s = calls / ${DUR} s; CPU = client user+sys (GNU time); CPU us/call = CPU / calls; RSS = client peak RSS"
echo
client_table 8 call server hello_server CUT:cut:6 "SFAIL:srv fail:8" CONNS:conns:6

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

bar_ratio "rpcload CPU/call at most 1.5x h2load's" rpcload h2load "<=" 1.5 \
    "(no rpcload and h2load figures to compare: bar 'rpcload CPU/call at most 1.5x h2load's' not checked)"
bar_ratio "Locust CPU/call at least 20x rpcload's" locust rpcload ">=" 20 \
    "(no rpcload and Locust figures to compare: bar 'Locust CPU/call at least 20x rpcload's' not checked)"
exit "$BAR_FAIL"
