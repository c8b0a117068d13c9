#!/usr/bin/env bash
# bench/processes_100k.sh: #17's scale bar. `rpcload --processes P` (a master
# and P forked workers) runs USERS keep-alive users (--wait constant:5, a
# connection each) against one nginx port for the run time, with
# --source-address over several loopback addresses (one address has ~28k
# ephemeral ports per server port) and nginx's workers sharing the port
# (reuseport; 20,000 fds per process here). Reports the peak of established
# server connections, the report's requests and failures, and the RSS of
# rpcload's processes (master + workers) at the peak, against the same
# processes idle (one user per worker). See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-u USERS] [-P PROCESSES] [-r SPAWN_RATE] [-t SECONDS] [-a ADDRESSES] [-k]
  -u USERS        concurrent users in all (default 100000)
  -P PROCESSES    rpcload --processes (default 6)
  -r SPAWN_RATE   users started per second (default 5000)
  -t SECONDS      run time (default 60)
  -a ADDRESSES    --source-address (default 127.0.0.2-127.0.0.6)
  -k              keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=100000 PROCS=6 RATE=5000 DUR=60 ADDRS=127.0.0.2-127.0.0.6 KEEP=0
parse_options 'u:USERS P:PROCS r:RATE t:DUR:secs a:ADDRS k:KEEP:flag' "$@"
for v in USERS PROCS RATE DUR; do need_count "$v" "${!v}"; done
RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (build it, or set RPCLOAD)"
need_tools timeout curl awk ss
ulimit -Sn "$(ulimit -Hn)"
FDS=$(ulimit -n)
NGX_WORKERS=$(( USERS / (FDS - 500) + 1 ))
(( NGX_WORKERS >= 2 )) || NGX_WORKERS=2
say "fds per process $FDS: $PROCS rpcload workers, $NGX_WORKERS nginx workers"

work_dir processes_100k
NGINX_PID= NGINX_PORT= RUN_PID=
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$RUN_PID"; [[ -z $NGINX_PID ]] || stop_pid "$NGINX_PID"'
NGINX_PORT=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
worker_processes $NGX_WORKERS;
worker_rlimit_nofile $FDS;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections $(( FDS - 100 )); multi_accept on; }
http {
    log_format bench '\$status';
    access_log $WORK/access.log bench buffer=256k flush=1s;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/body;
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport backlog=16384;
        location /hello { default_type text/plain; return 200 "hello world\n"; }
        location = /nginx_status { access_log off; stub_status; }
    }
}
EOF
: >"$WORK/access.log"
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' </dev/null >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
wait_up "$NGINX_PID" 50 0.1 curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/nginx_status" ||
    die "nginx did not start: $(tail -n 3 "$WORK/error.log" "$WORK/nginx.out")"
ACCESS_LOG=$WORK/access.log
cat >"$WORK/scenario.yaml" <<EOF
host: http://127.0.0.1:$NGINX_PORT
users:
  - name: Reader
    wait: {constant: 5}
    tasks: [{steps: [{http: GET /hello}]}]
EOF

# The RSS (KiB) of a process and its children.
tree_rss() {
    local total=0 p r
    for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
        r=$(rss_kib "$p"); total=$(( total + ${r:-0} ))
    done
    echo "$total"
}

# run TAG USERS: sets PEAK_CONNS, PEAK_RSS, and the report in $WORK/TAG.out.
run() {
    local tag=$1 users=$2 t=0 c r start=$SECONDS
    PEAK_CONNS=0 PEAK_RSS=0
    timeout $(( DUR + 120 )) "$RPCLOAD" -f "$WORK/scenario.yaml" --processes "$PROCS" \
        -u "$users" -r "$RATE" -t "${DUR}s" --source-address "$ADDRS" \
        --json-file "$WORK/$tag.json" >"$WORK/$tag.out" 2>&1 </dev/null &
    RUN_PID=$!
    while kill -0 "$RUN_PID" 2>/dev/null; do
        sleep 1; t=$(( t + 1 ))
        # timeout(1) is RUN_PID; rpcload (the master) its child.
        c=$(ss -Htn state established "( sport = :$NGINX_PORT )" | wc -l)
        r=$(tree_rss "$(child_of "$RUN_PID")")
        if (( c > PEAK_CONNS )); then PEAK_CONNS=$c; fi
        if (( r > PEAK_RSS )); then PEAK_RSS=$r; fi
        # A sample takes a while with 100,000 sockets: say the real time.
        if (( t % 10 == 0 )); then say "  ($tag) $(( SECONDS - start ))s: connections $c rss ${r} KiB"; fi
    done
    RC=0; wait "$RUN_PID" || RC=$?
    RUN_PID=
}

say "idle: $PROCS workers, one user each"
IDLE_DUR=$DUR; DUR=10
run idle "$PROCS"; IDLE_RSS=$PEAK_RSS
DUR=$IDLE_DUR
log_settle; before=$(log_size)
say "load: $USERS users, --wait constant:5, ${DUR}s"
run load "$USERS"
log_settle
served=$(log_count_200 "$before")
read -r reqs fails < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print(t["num_requests"], t["num_failures"])' "$WORK/load.json" 2>/dev/null || echo "- -")
cut=$( (grep -o '[0-9]* request(s) in flight were cut' "$WORK/load.out" || true) | awk '{s+=$1} END{print s+0}')
printf 'users %d, --processes %d, %ds: exit %d, peak connections %d, requests %s (nginx %d, cut at the stop %d), failures %s\n' \
    "$USERS" "$PROCS" "$DUR" "$RC" "$PEAK_CONNS" "$reqs" "$served" "$cut" "$fails"
printf 'RSS of master + workers: idle %d KiB, at the peak %d KiB: %.2f KiB per user beyond idle\n' \
    "$IDLE_RSS" "$PEAK_RSS" "$(awk -v a="$PEAK_RSS" -v b="$IDLE_RSS" -v u="$USERS" 'BEGIN{print (a-b)/u}')"
