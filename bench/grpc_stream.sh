#!/usr/bin/env bash
# bench/grpc_stream.sh: what a streamed message costs rpcload, against what a
# unary call costs it and what a message costs a Locust gRPC User, on the C
# hello_server (examples/hello) over loopback. See bench/README.md.
#
#   rpcload-unary    SayHello, the reference: CPU per call
#   rpcload-stream   SayHelloStream, COUNT messages per call: CPU per message
#   locust-stream    the same stream consumed by a Locust User (one request
#                    event per message, as rpcload): CPU per message
#   rpcload-pingpong SayHelloChat with --stream-ping-pong, COUNT round trips
#                    per call: CPU per round trip
#
# The bars (issue #18): a streamed message at most 0.5x a unary call, at least
# 10x cheaper than Locust's; a ping-pong round trip at most 1.1x a unary call.
# shellcheck disable=SC2317  # client_* and what they call run through run_clients
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-u USERS] [-c CONNECTIONS] [-n COUNT] [-C CLIENTS] [-k]
  -d SECONDS      duration of each client's run (default 10)
  -u USERS        users, each with one call in flight (default 20)
  -c CONNECTIONS  HTTP/2 connections rpcload shares among them (default 4)
  -n COUNT        messages per streamed call, round trips per ping-pong call
                  (default 1000)
  -C CLIENTS      comma-separated subset of rpcload-unary,rpcload-stream,
                  locust-stream,rpcload-pingpong (default all)
  -k              keep the temporary directory (server and client outputs)
env: RPCLOAD (default <repo>/build/rpcload), RPCLOAD_PLUGIN_DIR (default: the
     plugins/ folder next to RPCLOAD), HELLO_SERVER (default: examples/hello/
     hello_server next to RPCLOAD), LOCUST_PYTHON (default /usr/bin/python3),
     SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 USERS=20 CONN=4 COUNT=1000 KEEP=0
ALL=rpcload-unary,rpcload-stream,locust-stream,rpcload-pingpong
CLIENTS=$ALL
parse_options 'd:DUR:secs u:USERS c:CONN n:COUNT C:CLIENTS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -u "$USERS"
need_count -c "$CONN"
need_count -n "$COUNT"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
RPCLOAD_PLUGIN_DIR=${RPCLOAD_PLUGIN_DIR:-$(dirname "$RPCLOAD")/plugins}
HELLO_SERVER=${HELLO_SERVER:-$(dirname "$RPCLOAD")/examples/hello/hello_server}
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
LOCUSTFILE=$BENCH_DIR/locustfile_grpc.py
PROTO=$REPO_DIR/examples/hello/hello.proto
SVC=/locust.hello.HelloService

need_cmds '' taskset timeout awk
need_gnu_time
[[ -x $HELLO_SERVER ]] || die "no hello_server at $HELLO_SERVER (build rpcload with grpc C core installed, see examples/hello/README.md; or set HELLO_SERVER)"
raise_fd_limit
need_fds "$USERS" users

work_dir grpc-stream
CLIENT_PID=
at_exit hello_stop
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$CLIENT_PID"'

# What each row counts, and the server's view (columns of client_table's,
# named to it: the linter takes them for unused where they are set).
declare -A UNIT SCALLS SFAIL

# The client's own count of what the row counts: rpcload's and Locust's rows
# of that name (# reqs), found in the final table (the last one printed).
client_row() {  # FILE NAME
    awk -v n="$2" 'index($0, "grpc     " n " ") == 1 && $0 ~ /[0-9]+\([0-9.]+%\) +\|/ {
        line = substr($0, length("grpc     " n) + 1); split(line, w, " "); c = w[1]
    } END { print (c == "" ? "-" : c) }' "$1"
}
client_calls_unary() { client_row "$1" "$SVC/SayHello"; }
client_msgs_stream() { client_row "$1" "$SVC/SayHelloStream [recv]"; }
client_trips() { client_row "$1" "$SVC/SayHelloChat [recv]"; }
no_inflight() { echo -; }

# run_client NAME UNIT SERVER-FIELD CLIENT-PARSER IN-FLIGHT-PARSER BUILDER:
# a fresh hello_server, the command the builder puts in CMD measured, the
# server stopped; REQS is the server's count (SERVER-FIELD of hello_count:
# unary calls answered OK, stream messages written, ping-pong messages read)
# and CREQS the client's own.
# shellcheck disable=SC2034
run_client() {
    local name=$1 unit=$2 field=$3 parser=$4 inflight=$5 builder=$6
    local out=$WORK/$name.out srv_out=$WORK/$name.server
    hello_start "$srv_out"
    CMD=()
    "$builder"
    measure_client "$name" --server-cpu hello_cpu -- "${CMD[@]}"
    hello_stop
    UNIT[$name]=$unit
    REQS[$name]=$(hello_count "$srv_out" "$field")
    SCALLS[$name]=$(hello_count "$srv_out" "$([[ $field == ok ]] && echo ok || echo stream_ok)")
    SFAIL[$name]=$(hello_count "$srv_out" "$([[ $field == ok ]] && echo failed || echo stream_failed)")
    CREQS[$name]=$($parser "$out")
    CUT[$name]=$($inflight "$out")
    if [[ ${REQS[$name]} == - ]]; then
        NOTE[$name]="${NOTE[$name]}; hello_server printed no count"
        REQS[$name]=0
    fi
}

rpcload_cmd() {
    CMD=("$RPCLOAD" --plugin-dir "$RPCLOAD_PLUGIN_DIR" --threads 1 --proto "$PROTO"
         -u "$USERS" -r $(( USERS * 100 )) -t "${DUR}s" --connections "$CONN"
         --only-summary "$@" "127.0.0.1:$HELLO_PORT")
}
cmd_rpcload_unary() { rpcload_cmd --call SayHello -d '{"name":"x"}'; }
cmd_rpcload_stream() {
    rpcload_cmd --call SayHelloStream -d "{\"name\":\"x\",\"count\":$COUNT}" --timeout 600
}
cmd_rpcload_pingpong() {
    rpcload_cmd --call SayHelloChat -d '{"name":"x"}' --stream-ping-pong \
        --stream-call-count "$COUNT" --timeout 600
}
cmd_locust_stream() {
    CMD=(env STREAM_COUNT="$COUNT" "$LOCUST_PYTHON" -m locust -f "$LOCUSTFILE" --headless
         -u "$USERS" -r "$USERS" -t "${DUR}s" --host "127.0.0.1:$HELLO_PORT" --only-summary
         HelloStreamUser)
}

# have_grpc NAME: whether rpcload and its gRPC plugin can run; if not,
# skips client NAME saying why.
have_grpc() {
    if [[ ! -x $RPCLOAD ]]; then
        skip "$1" "no executable at $RPCLOAD (set RPCLOAD)"
        return 1
    fi
    [[ -e $RPCLOAD_PLUGIN_DIR/grpc.so ]] && return 0
    skip "$1" "no grpc.so in $RPCLOAD_PLUGIN_DIR (not built yet? set RPCLOAD_PLUGIN_DIR)"
    return 1
}
# The clients, run by run_clients:
client_rpcload_unary() {
    have_grpc rpcload-unary || return 0
    run_client rpcload-unary call ok client_calls_unary client_cut_rpcload cmd_rpcload_unary
}
client_rpcload_stream() {
    have_grpc rpcload-stream || return 0
    run_client rpcload-stream message msgs_out client_msgs_stream client_cut_rpcload cmd_rpcload_stream
}
client_rpcload_pingpong() {
    have_grpc rpcload-pingpong || return 0
    run_client rpcload-pingpong "round trip" msgs_in client_trips client_cut_rpcload cmd_rpcload_pingpong
}
client_locust_stream() {
    if ! "$LOCUST_PYTHON" -c 'import locust, grpc, grpc_tools' >/dev/null 2>&1; then
        skip locust-stream "$LOCUST_PYTHON lacks locust, grpc or grpc_tools (apt-get install python3-locust python3-grpcio python3-grpc-tools)"
        return 0
    fi
    run_client locust-stream message msgs_out client_msgs_stream no_inflight cmd_locust_stream
}
run_clients "$CLIENTS" "$ALL"

# ---- the table (stdout) ----------------------------------------------------
echo
echo "gRPC streams on $SVC: hello_server (1 thread) on cpu $SERVER_CPU, a fresh one per client;"
echo "each client alone on cpu $CLIENT_CPU, 1 thread/process, $USERS users (rpcload on $CONN connections), ${DUR} s;"
echo "streams of $COUNT messages per call (SayHelloStream), ping-pong of $COUNT round trips per call (SayHelloChat)"
echo "calls = what the row counts (unit), by the server: unary calls answered OK, stream messages it wrote,"
echo "ping-pong messages it read; the client's own count in parentheses (its [recv] row for streams);"
echo "srv calls / srv fail = the server's calls of the row's method that ended OK / cancelled (cut at the stop)"
echo "CPU us/call = client CPU per unit: per call, per message, per round trip"
echo
client_table 17 call server hello_server "UNIT:unit:11" CUT:cut:5 "SCALLS:srv calls:9" "SFAIL:srv fail:8"

bar_ratio "rpcload CPU per streamed message at most 0.5x per unary call" rpcload-stream rpcload-unary "<=" 0.5 \
    "(no rpcload-stream and rpcload-unary figures: bar 'per streamed message at most 0.5x per unary call' not checked)"
bar_ratio "Locust CPU per streamed message at least 10x rpcload's" locust-stream rpcload-stream ">=" 10 \
    "(no locust-stream and rpcload-stream figures: bar 'Locust per message at least 10x rpcload' not checked)"
bar_ratio "rpcload CPU per ping-pong round trip at most 1.1x per unary call" rpcload-pingpong rpcload-unary "<=" 1.1 \
    "(no rpcload-pingpong and rpcload-unary figures: bar 'round trip at most 1.1x unary call' not checked)"
exit "$BAR_FAIL"
