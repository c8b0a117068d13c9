#!/usr/bin/env bash
# bench/http1.sh: rpcload vs wrk vs Locust (FastHttpUser) on HTTP/1.1 keep-alive
# GET /hello against one nginx worker on loopback. See bench/README.md.
# shellcheck disable=SC2317  # client_* and what they call run through run_clients
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-c CONNECTIONS] [-C CLIENTS] [-k]
  -d SECONDS      duration of each client's run (default 10)
  -c CONNECTIONS  concurrent connections = users (default 50)
  -C CLIENTS      comma-separated subset of rpcload,wrk,locust (default all)
  -k              keep the temporary directory (nginx config/log, client outputs)
env: RPCLOAD (default <repo>/build/rpcload), WRK (default wrk),
     LOCUST_PYTHON (default /usr/bin/python3), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 CONN=50 CLIENTS=rpcload,wrk,locust KEEP=0
parse_options 'd:DUR:secs c:CONN C:CLIENTS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -c "$CONN"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
WRK=${WRK:-wrk}
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
LOCUSTFILE=$BENCH_DIR/locustfile_http.py

need_tools taskset timeout curl awk ss
raise_fd_limit
need_fds "$CONN" connections

work_dir http1
nginx_start "$WORK/nginx" 20000
URL=http://127.0.0.1:$NGINX_PORT/hello

# The clients, run by run_clients:
client_rpcload() {
    have_rpcload || return 0
    run_nginx_client rpcload client_reqs_locust_table no_cut \
        "$RPCLOAD" --threads 1 -u "$CONN" -r $(( CONN * 100 )) -t "${DUR}s" \
        --only-summary "$URL"
}
client_wrk() {
    have_cmd wrk "$WRK" || return 0
    run_nginx_client wrk client_reqs_wrk no_cut "$WRK" -t1 -c"$CONN" -d"${DUR}s" "$URL"
}
client_locust() {
    if [[ -z $LOCUST_PYTHON ]] || ! "$LOCUST_PYTHON" -c 'import locust' >/dev/null 2>&1; then
        skip locust "'${LOCUST_PYTHON:-python3}' cannot import locust"
        return 0
    fi
    run_nginx_client locust client_reqs_locust_table no_cut \
        "$LOCUST_PYTHON" -m locust -f "$LOCUSTFILE" --headless -u "$CONN" -r "$CONN" \
        -t "${DUR}s" -H "http://127.0.0.1:$NGINX_PORT" --only-summary
}
run_clients "$CLIENTS" rpcload,wrk,locust

# ---- the table (stdout) ----------------------------------------------------
echo
echo "HTTP/1.1 keep-alive GET $URL: nginx 1 worker on cpu $SERVER_CPU; each client alone on cpu $CLIENT_CPU, 1 thread/process, $CONN connections, ${DUR} s"
echo "requests = status-200 lines in nginx's access log during the client's run (the client's own count in parentheses)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
client_table 8 request nginx "nginx's worker"
us_per rpcload >/dev/null || echo "(no rpcload figures: ratios not available)"
