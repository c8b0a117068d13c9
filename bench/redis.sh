#!/usr/bin/env bash
# bench/redis.sh: rpcload (the redis example plugin) vs redis-benchmark, GET of
# one 3-byte value against one redis-server on loopback. See bench/README.md.
# shellcheck disable=SC2317  # client_* and what they call run through run_clients
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-c CONNECTIONS] [-C CLIENTS] [-k]
  -d SECONDS      duration of each client's run (default 10)
  -c CONNECTIONS  concurrent connections = users (default 50)
  -C CLIENTS      comma-separated subset of rpcload,redis-benchmark (default both)
  -k              keep the temporary directory (redis log, client outputs)
env: RPCLOAD (default <repo>/build/rpcload), RPCLOAD_PLUGIN_DIR (default: the
     plugins/ folder next to RPCLOAD), REDIS_SERVER (redis-server),
     REDIS_BENCHMARK (redis-benchmark), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 CONN=50 CLIENTS=rpcload,redis-benchmark KEEP=0
parse_options 'd:DUR:secs c:CONN C:CLIENTS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -c "$CONN"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
RPCLOAD_PLUGIN_DIR=${RPCLOAD_PLUGIN_DIR:-$(dirname "$RPCLOAD")/plugins}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
# redis-benchmark's GET without -r reads this one key for every request.
# rpcload sends the very same command, so both get the same reply.
KEY='key:__rand_int__'

need_cmds '(apt-get install redis-server redis-tools?)' taskset timeout awk redis-cli "$REDIS_SERVER"
need_gnu_time
raise_fd_limit
need_fds "$CONN" connections

work_dir redis
REDIS_PID=
REDIS_PORT=
at_exit redis_stop

# ---- redis-server: start, ask, stop (by its PID) ---------------------------
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# redis_start DIR: redis-server pinned to $SERVER_CPU on a free port, no
# persistence, in the foreground of a background job so that $! is its PID.
redis_start() {
    local dir=$1
    mkdir -p "$dir"
    # redis_on PORT sees redis_start's dir (bash's dynamic scope)
    start_on_free_port redis-server redis_on redis_stop "$dir/redis.log"
}

redis_on() {
    local port=$1
    taskset -c "$SERVER_CPU" "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" \
        --maxclients $(( CONN + 1000 )) --daemonize no </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    wait_up "$REDIS_PID" 50 0.1 redis_pong "$port" || return 1
    REDIS_PORT=$port
    say "redis-server pid $REDIS_PID on 127.0.0.1:$port (cpu $SERVER_CPU), dir $dir"
}

redis_pong() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

redis_stop() {
    [[ -n $REDIS_PID ]] || return 0
    stop_pid "$REDIS_PID"
    REDIS_PID=
}

# GETs Redis has executed so far (INFO commandstats): the ground truth.
redis_gets() {
    rcli info commandstats | tr -d '\r' |
        awk -F'[:=,]' '$1=="cmdstat_get" {n=$3} END{print n+0}'
}

# CPU seconds (user+sys, all threads) redis-server has used so far (called
# by measure_client).
redis_cpu() { proc_cpu "$REDIS_PID"; }

redis_start "$WORK/redis"
rcli set "$KEY" xxx >/dev/null
URL=redis://127.0.0.1:$REDIS_PORT

# redis-benchmark, stopped by a signal, prints no total of its own.
client_reqs_none() { echo -; }

# run_client NAME CLIENT-COUNT-PARSER STOP COMMAND...
# STOP "self": the client ends its run itself after DUR s (bounded by DUR +
# 60 s); "sigint": it gets SIGINT after DUR s, which is the end of its run,
# not a failure. REQS: the GETs Redis executed meanwhile.
run_client() {
    local name=$1 parser=$2 stop=$3 g0 sigint=(); shift 3
    if [[ $stop == sigint ]]; then sigint=(--sigint-ends); fi
    g0=$(redis_gets)
    measure_client "$name" --server-cpu redis_cpu "${sigint[@]}" -- "$@"
    # a second after the client's end: commands still in socket buffers
    # when it ended have run by now
    REQS[$name]=$(( $(redis_gets) - g0 ))
    CREQS[$name]=$($parser "$WORK/$name.out")
}

# The clients, run by run_clients:
client_rpcload() {
    have_rpcload_plugin redis "no redis.so in $RPCLOAD_PLUGIN_DIR (set RPCLOAD_PLUGIN_DIR)" || return 0
    run_client rpcload client_reqs_locust_table self \
        "$RPCLOAD" --plugin-dir "$RPCLOAD_PLUGIN_DIR" --threads 1 -u "$CONN" \
        -r $(( CONN * 100 )) -t "${DUR}s" --only-summary --call "GET $KEY" "$URL"
}
client_redis_benchmark() {
    have_cmd redis-benchmark "$REDIS_BENCHMARK" || return 0
    # One thread (its default), no pipelining, far more requests than it
    # can make in DUR s: it is stopped at DUR s.
    run_client redis-benchmark client_reqs_none sigint \
        "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONN" -n 2000000000 \
        -P 1 -t get -q
}
run_clients "$CLIENTS" rpcload,redis-benchmark

# ---- the table (stdout) ----------------------------------------------------
echo
echo "Redis GET $KEY (3-byte value) on $URL: redis-server on cpu $SERVER_CPU; each client alone on cpu $CLIENT_CPU, 1 thread, $CONN connections, ${DUR} s"
echo "requests = GETs Redis executed during the client's run (INFO commandstats; the client's own count in parentheses)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
client_table 15 request redis redis-server
bar_ratio "rpcload CPU/request at most 1.5x redis-benchmark's" rpcload redis-benchmark "<=" 1.5 \
    "(no rpcload and redis-benchmark figures to compare: bar not checked)"
