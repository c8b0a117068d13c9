#!/usr/bin/env bash
# bench/redis.sh: rpcload (the redis example plugin) vs redis-benchmark, GET of
# one 3-byte value against one redis-server on loopback. See bench/README.md.
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
while getopts 'd:c:C:kh' opt; do
    case $opt in
        d) DUR=${OPTARG%s} ;;
        c) CONN=$OPTARG ;;
        C) CLIENTS=$OPTARG ;;
        k) KEEP=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $DUR =~ ^[1-9][0-9]*$ ]] || die "-d wants whole seconds, got '$DUR'"
[[ $CONN =~ ^[1-9][0-9]*$ ]] || die "-c wants a positive integer, got '$CONN'"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
RPCLOAD_PLUGIN_DIR=${RPCLOAD_PLUGIN_DIR:-$(dirname "$RPCLOAD")/plugins}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
# redis-benchmark's GET without -r reads this one key for every request.
# rpcload sends the very same command, so both get the same reply.
KEY='key:__rand_int__'

# (need_tools also insists on nginx, which this script does not use.)
for t in taskset timeout awk redis-cli "$REDIS_SERVER"; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' not found (apt-get install redis-server redis-tools?)"
done
[[ -x $GNU_TIME ]] || die "$GNU_TIME not found: apt-get install time"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) > CONN + 100 )) || die "open-files limit $(ulimit -n) too low for $CONN connections"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpcload-bench-redis.XXXXXX")
REDIS_PID=
REDIS_PORT=

# ---- redis-server: start, ask, stop (by its PID) ---------------------------
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# redis_start DIR: redis-server pinned to $SERVER_CPU on a free port, no
# persistence, in the foreground of a background job so that $! is its PID.
redis_start() {
    local dir=$1 attempt port
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        taskset -c "$SERVER_CPU" "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 \
            --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" \
            --maxclients $(( CONN + 1000 )) --daemonize no </dev/null >/dev/null 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 50); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
                REDIS_PORT=$port
                say "redis-server pid $REDIS_PID on 127.0.0.1:$port (cpu $SERVER_CPU), dir $dir"
                return 0
            fi
            sleep 0.1
        done
        redis_stop
        say "redis-server did not start on port $port (attempt $attempt):"
        tail -n 3 "$dir/redis.log" >&2 2>/dev/null || true
    done
    die "could not start redis-server"
}

redis_stop() {
    [[ -n $REDIS_PID ]] || return 0
    if kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$REDIS_PID" 2>/dev/null; then kill -KILL "$REDIS_PID" 2>/dev/null || true; fi
    fi
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
}

# GETs Redis has executed so far (INFO commandstats): the ground truth.
redis_gets() {
    rcli info commandstats | tr -d '\r' |
        awk -F'[:=,]' '$1=="cmdstat_get" {n=$3} END{print n+0}'
}

# CPU seconds (user+sys, all threads) redis-server has used so far.
redis_cpu() {
    sed 's/.*) //' "/proc/$REDIS_PID/stat" |
        awk -v h="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / h}'
}

cleanup() {
    redis_stop
    if (( KEEP )); then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis_start "$WORK/redis"
rcli set "$KEY" xxx >/dev/null
URL=redis://127.0.0.1:$REDIS_PORT

declare -A REQS CREQS CPU RSS WALL NOTE SRV OTHER
ORDER=()

# redis-benchmark, stopped by a signal, prints no total of its own.
client_reqs_none() { echo -; }

# run_client NAME CLIENT-COUNT-PARSER STOP COMMAND...
# STOP "self": the client ends its run itself after DUR s (bounded by DUR +
# 60 s); "sigint": it gets SIGINT after DUR s, which is the end of its run,
# not a failure.
run_client() {
    local name=$1 parser=$2 stop=$3; shift 3
    local out=$WORK/$name.out tf=$WORK/$name.time rc=0 t0 t1 f u s m c0 c1 b0 b1 g0 g1 limit sig
    ORDER+=("$name")
    g0=$(redis_gets) c0=$(redis_cpu) b0=$(machine_busy)
    if [[ $stop == sigint ]]; then limit=$DUR sig=INT; else limit=$(( DUR + 60 )) sig=TERM; fi
    say "running $name: $*"
    t0=$(date +%s.%N)
    # timeout signals its whole process group; GNU time ignores SIGINT while
    # it waits, so the client gets it and time still reports the client's CPU.
    timeout -k 5 -s "$sig" "$limit" \
        "$GNU_TIME" -f '%U %S %M' -o "$tf" \
        taskset -c "$CLIENT_CPU" "$@" </dev/null >"$out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    c1=$(redis_cpu) b1=$(machine_busy)
    SRV[$name]=$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f%%", (b-a)*100/d}')
    sleep 0.5   # commands still in socket buffers when the client ended
    g1=$(redis_gets)
    REQS[$name]=$(( g1 - g0 ))
    CREQS[$name]=$($parser "$out")
    WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    if f=$(time_fields "$tf"); then
        read -r u s m <<<"$f"
        CPU[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
        RSS[$name]=$m
        # busy CPU of everything but this client and Redis, per second of run
        OTHER[$name]=$(awk -v a="$b0" -v b="$b1" -v c="${CPU[$name]}" -v n0="$c0" -v n1="$c1" -v w="$t1" -v v="$t0" \
            'BEGIN{o=(b-a-c-(n1-n0))*100/(w-v); if (o<0) o=0; printf "%.0f%%", o}')
    fi
    if [[ $stop == sigint && $rc == 124 ]]; then rc=0; fi
    case $rc in
        0) NOTE[$name]=ok ;;
        124|137) NOTE[$name]="timed out after ${limit}s" ;;
        *) NOTE[$name]="exit status $rc" ;;
    esac
    if (( rc != 0 )); then
        say "$name exited with status $rc; last lines of its output:"
        tail -n 15 "$out" | sed 's/^/    /' >&2
    fi
    sleep 1   # let the server close the previous client's connections
}

skip() { ORDER+=("$1"); NOTE[$1]="skipped: $2"; say "skipping $1: $2"; }

IFS=, read -r -a WANT <<<"$CLIENTS"
for c in "${WANT[@]}"; do
    case $c in
        rpcload)
            if [[ ! -x $RPCLOAD ]]; then
                skip rpcload "no executable at $RPCLOAD (set RPCLOAD)"
            elif [[ ! -e $RPCLOAD_PLUGIN_DIR/redis.so ]]; then
                skip rpcload "no redis.so in $RPCLOAD_PLUGIN_DIR (set RPCLOAD_PLUGIN_DIR)"
            else
                run_client rpcload client_reqs_locust_table self \
                    "$RPCLOAD" --plugin-dir "$RPCLOAD_PLUGIN_DIR" --threads 1 -u "$CONN" \
                    -r $(( CONN * 100 )) -t "${DUR}s" --only-summary --call "GET $KEY" "$URL"
            fi ;;
        redis-benchmark)
            if command -v "$REDIS_BENCHMARK" >/dev/null 2>&1; then
                # One thread (its default), no pipelining, far more requests
                # than it can make in DUR s: it is stopped at DUR s.
                run_client redis-benchmark client_reqs_none sigint \
                    "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONN" -n 2000000000 \
                    -P 1 -t get -q
            else
                skip redis-benchmark "'$REDIS_BENCHMARK' not found"
            fi ;;
        *) die "unknown client '$c' (want rpcload, redis-benchmark)" ;;
    esac
done

# ---- the table (stdout) ----------------------------------------------------
base_us='' base_rss=''
if [[ -n ${CPU[rpcload]:-} && ${REQS[rpcload]:-0} -gt 0 ]]; then
    base_us=$(awk -v c="${CPU[rpcload]}" -v n="${REQS[rpcload]}" 'BEGIN{printf "%.6f", c*1e6/n}')
    base_rss=${RSS[rpcload]:-}
fi

echo
echo "Redis GET $KEY (3-byte value) on $URL: redis-server on cpu $SERVER_CPU; each client alone on cpu $CLIENT_CPU, 1 thread, $CONN connections, ${DUR} s"
echo "requests = GETs Redis executed during the client's run (INFO commandstats; the client's own count in parentheses)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
FMT='%-15s %10s %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n'
# shellcheck disable=SC2059
printf "$FMT" client requests "(client)" "req/s" "CPU s" "wall s" "CPU us/req" "RSS MiB" "CPU/req x" "RSS x" redis other note
# shellcheck disable=SC2059
printf "$FMT" --------------- ---------- ------------ --------- ------- ------- ---------- -------- ---------- -------- ------- ------- ----
for c in "${ORDER[@]}"; do
    if [[ ${NOTE[$c]} == skipped:* ]]; then
        # shellcheck disable=SC2059
        printf "$FMT" "$c" - - - - - - - - - - - "${NOTE[$c]}"
        continue
    fi
    awk -v name="$c" -v n="${REQS[$c]:-0}" -v cn="${CREQS[$c]:--}" -v d="$DUR" \
        -v cpu="${CPU[$c]:-}" -v wall="${WALL[$c]:-}" -v rss="${RSS[$c]:-}" \
        -v bus="$base_us" -v brss="$base_rss" -v note="${NOTE[$c]}" -v srv="${SRV[$c]:--}" -v oth="${OTHER[$c]:--}" 'BEGIN {
        rps = sprintf("%.0f", n / d)
        us = "-"; usx = "-"; mib = "-"; rssx = "-"
        if (cpu != "" && n > 0) { u = cpu * 1e6 / n; us = sprintf("%.2f", u)
            if (bus != "" && bus > 0) usx = sprintf("%.2f", u / bus) }
        if (rss != "") { mib = sprintf("%.1f", rss / 1024)
            if (brss != "" && brss > 0) rssx = sprintf("%.2f", rss / brss) }
        if (cpu == "") cpu = "-"
        if (n == 0 && note == "ok") note = "no requests reached the server"
        printf "%-15s %10d %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n",
            name, n, "(" cn ")", rps, cpu, wall, us, mib, usx, rssx, srv, oth, note
    }'
done
echo
echo "CPU/req x and RSS x: ratio to rpcload's (1.00 = same as rpcload; higher = the peer costs more)."
echo "redis: CPU of redis-server during the run / run time; near 100% means the server, not the client, was the bottleneck."
echo "other: CPU used by every other process on the machine during the run (% of one core); well above 0% means the figures were disturbed."
if [[ -n $base_us && -n ${CPU[redis-benchmark]:-} && ${REQS[redis-benchmark]:-0} -gt 0 ]]; then
    awk -v r="$base_us" -v c="${CPU[redis-benchmark]}" -v n="${REQS[redis-benchmark]}" 'BEGIN {
        x = r / (c * 1e6 / n)
        printf "bar: rpcload CPU/request at most 1.5x redis-benchmark'"'"'s: %.2fx -> %s\n", x, (x <= 1.5 ? "PASS" : "FAIL")
    }'
else
    echo "(no rpcload and redis-benchmark figures to compare: bar not checked)"
fi
