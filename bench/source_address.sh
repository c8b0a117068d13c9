#!/usr/bin/env bash
# bench/source_address.sh: more keep-alive connections to one nginx port than
# one source address has ephemeral ports (~28k here), from two rpcload
# processes (this box allows 20,000 fds per process), first without, then
# with --source-address. Without, the connections past the port range fail
# ("cannot assign requested address"); with two addresses per process, all
# connect. Reports, per run, the peak of established server connections and
# rpcload's failures. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-u USERS] [-r SPAWN_RATE] [-t SECONDS] [-k]
  -u USERS        users per rpcload process, a connection each (default 16000)
  -r SPAWN_RATE   users started per second per process (default 4000)
  -t SECONDS      run time of each run (default 20)
  -k              keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=16000 RATE=4000 DUR=20 KEEP=0
parse_options 'u:USERS r:RATE t:DUR:secs k:KEEP:flag' "$@"
for v in USERS RATE DUR; do need_count "$v" "${!v}"; done
RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (build it, or set RPCLOAD)"
need_tools timeout curl awk ss
soak_fd_limit "$USERS"
read -r PORT_LO PORT_HI </proc/sys/net/ipv4/ip_local_port_range
say "ephemeral ports: $PORT_LO-$PORT_HI ($(( PORT_HI - PORT_LO + 1 )) per source address and server port)"

work_dir source_address
# Two nginx workers, each under the 20,000-fd limit, sharing the port by
# SO_REUSEPORT (the kernel spreads connections between them).
NGINX_PID= NGINX_PORT= P1= P2=
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$P1"; end_job "$P2"; [[ -z $NGINX_PID ]] || stop_pid "$NGINX_PID"'
NGINX_PORT=$(free_port)
cat >"$WORK/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile $FDS;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections $(( FDS - 100 )); multi_accept on; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/body;
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport backlog=8192;
        location /hello { default_type text/plain; return 200 "hello world\n"; }
        location = /nginx_status { stub_status; }
    }
}
EOF
"$NGINX_BIN" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' </dev/null >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
wait_up "$NGINX_PID" 50 0.1 curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$NGINX_PORT/nginx_status" ||
    die "nginx did not start: $(tail -n 3 "$WORK/error.log" "$WORK/nginx.out")"
URL=http://127.0.0.1:$NGINX_PORT/hello

# run TAG ARGS1 ARGS2: both processes at once; prints TAG, the peak of
# established server connections, each process's requests and failures, and
# the kinds of connection errors.
run() {
    local tag=$1 a1=$2 a2=$3 t=0 c peak=0
    # shellcheck disable=SC2086  # the extra arguments are words
    timeout $(( DUR + 60 )) "$RPCLOAD" -u "$USERS" -r "$RATE" -t "${DUR}s" --wait constant:5 \
        --allow-unreachable $a1 "$URL" >"$WORK/$tag.1" 2>&1 </dev/null & P1=$!
    # shellcheck disable=SC2086
    timeout $(( DUR + 60 )) "$RPCLOAD" -u "$USERS" -r "$RATE" -t "${DUR}s" --wait constant:5 \
        --allow-unreachable $a2 "$URL" >"$WORK/$tag.2" 2>&1 </dev/null & P2=$!
    while kill -0 "$P1" 2>/dev/null || kill -0 "$P2" 2>/dev/null; do
        sleep 1; t=$(( t + 1 ))
        c=$(ss -Htn state established "( sport = :$NGINX_PORT )" | wc -l)
        if (( c > peak )); then peak=$c; fi
        if (( t % 5 == 0 )); then say "  ($tag) t=${t}s server connections $c"; fi
    done
    wait "$P1" || true; wait "$P2" || true; P1= P2=
    printf '%-18s peak connections %6d | process 1: %8s reqs %6s fails | process 2: %8s reqs %6s fails\n' \
        "$tag" "$peak" "$(client_reqs_locust_table "$WORK/$tag.1")" "$(client_fails_locust_table "$WORK/$tag.1")" \
        "$(client_reqs_locust_table "$WORK/$tag.2")" "$(client_fails_locust_table "$WORK/$tag.2")"
    grep -h -o -i 'cannot assign requested address\|address already in use\|too many open files' \
        "$WORK/$tag.1" "$WORK/$tag.2" | sort | uniq -c | sed 's/^/    error lines: /' || true
    # The closed connections' ports wait in TIME_WAIT on the client side:
    # give the kernel a moment before the next run takes ports again.
    sleep 2
}

say "running: 2 x $USERS users, --wait constant:5, ${DUR}s, against $URL"
run "one address" "" ""
run "source-address" "--source-address 127.0.0.2-127.0.0.3" "--source-address 127.0.0.4-127.0.0.5"
