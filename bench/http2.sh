#!/usr/bin/env bash
# bench/http2.sh: rpcload vs h2load on HTTP/2 (h2c, prior knowledge), GET /hello
# against one nginx worker on loopback, C connections x S streams each.
# See bench/README.md.
# shellcheck disable=SC2317  # client_* and what they call run through run_clients
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-c CONNECTIONS] [-m STREAMS] [-C CLIENTS] [-k]
  -d SECONDS      duration of each client's run (default 10)
  -c CONNECTIONS  HTTP/2 connections (default 10)
  -m STREAMS      concurrent streams per connection (default 10): rpcload runs
                  CONNECTIONS*STREAMS users on --connections CONNECTIONS,
                  h2load -c CONNECTIONS -m STREAMS
  -C CLIENTS      comma-separated subset of rpcload,h2load (default both)
  -k              keep the temporary directory (nginx config/log, client outputs)
env: RPCLOAD (default <repo>/build/rpcload), H2LOAD (default h2load),
     SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 CONN=10 STREAMS=10 CLIENTS=rpcload,h2load KEEP=0
parse_options 'd:DUR:secs c:CONN m:STREAMS C:CLIENTS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -c "$CONN"
need_count -m "$STREAMS"
USERS=$(( CONN * STREAMS ))

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
H2LOAD=${H2LOAD:-h2load}

need_tools taskset timeout curl awk ss
raise_fd_limit
need_fds "$CONN" connections

work_dir http2

# The server's stream limit is at least S (nginx's default, 128, when S is
# smaller): rpcload deals its users to the connections round robin, so each
# connection carries exactly S of them, and h2load -m S opens at most S.
(( STREAMS > NGINX_H2_STREAMS )) && NGINX_H2_STREAMS=$STREAMS
nginx_start "$WORK/nginx" 20000 20000 h2c
URL=http://127.0.0.1:$NGINX_PORT/hello

# The clients, run by run_clients:
client_rpcload() {
    have_rpcload || return 0
    run_nginx_client rpcload client_reqs_locust_table client_cut_rpcload \
        "$RPCLOAD" --threads 1 --http2 --connections "$CONN" -u "$USERS" \
        -r $(( USERS * 100 )) -t "${DUR}s" --only-summary "$URL"
}
client_h2load() {
    have_cmd h2load "$H2LOAD" "apt-get install nghttp2-client" || return 0
    run_nginx_client h2load client_reqs_h2load client_inflight_h2load \
        "$H2LOAD" -t1 -c "$CONN" -m "$STREAMS" -D "$DUR" "$URL"
}
run_clients "$CLIENTS" rpcload,h2load

# ---- the table (stdout) ----------------------------------------------------
echo
echo "HTTP/2 (h2c, prior knowledge) GET $URL: nginx 1 worker on cpu $SERVER_CPU (http2_max_concurrent_streams $NGINX_H2_STREAMS);"
echo "each client alone on cpu $CLIENT_CPU, 1 thread, $CONN connections x $STREAMS streams ($USERS requests in flight), ${DUR} s"
echo "requests = status-200 lines in nginx's access log during the client's run (the client's own count in parentheses;"
echo "cut = requests in flight when the client stopped: rpcload's 'were cut' count, h2load's started - done)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
client_table 8 request nginx "nginx's worker" CUT:cut:6
bar_ratio "rpcload CPU/request at most 1.2x h2load's" rpcload h2load "<=" 1.2 \
    "(no rpcload and h2load figures to compare: bar not checked)"
