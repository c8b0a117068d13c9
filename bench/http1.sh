#!/usr/bin/env bash
# bench/http1.sh: rpcload vs wrk vs Locust (FastHttpUser) on HTTP/1.1 keep-alive
# GET /hello against one nginx worker on loopback. See bench/README.md.
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
# shellcheck source=bench/run_client.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_client.sh"

DUR=10 CONN=50 CLIENTS=rpcload,wrk,locust KEEP=0
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
WRK=${WRK:-wrk}
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
LOCUSTFILE=$BENCH_DIR/locustfile_http.py

need_tools taskset timeout curl awk ss
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) > CONN + 100 )) || die "open-files limit $(ulimit -n) too low for $CONN connections"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpcload-bench-http1.XXXXXX")
cleanup() {
    nginx_stop
    if (( KEEP )); then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nginx_start "$WORK/nginx" 20000
URL=http://127.0.0.1:$NGINX_PORT/hello

# CUT is filled by run_client (lib.sh); this table does not show it.
# shellcheck disable=SC2034
declare -A REQS CREQS CUT CPU RSS WALL NOTE SRV OTHER
ORDER=()


IFS=, read -r -a WANT <<<"$CLIENTS"
for c in "${WANT[@]}"; do
    case $c in
        rpcload)
            if [[ -x $RPCLOAD ]]; then
                run_client rpcload client_reqs_locust_table no_cut \
                    "$RPCLOAD" --threads 1 -u "$CONN" -r $(( CONN * 100 )) -t "${DUR}s" \
                    --only-summary "$URL"
            else
                skip rpcload "no executable at $RPCLOAD (set RPCLOAD)"
            fi ;;
        wrk)
            if command -v "$WRK" >/dev/null 2>&1; then
                run_client wrk client_reqs_wrk no_cut "$WRK" -t1 -c"$CONN" -d"${DUR}s" "$URL"
            else
                skip wrk "'$WRK' not found"
            fi ;;
        locust)
            if [[ -n $LOCUST_PYTHON ]] && "$LOCUST_PYTHON" -c 'import locust' >/dev/null 2>&1; then
                run_client locust client_reqs_locust_table no_cut \
                    "$LOCUST_PYTHON" -m locust -f "$LOCUSTFILE" --headless -u "$CONN" -r "$CONN" \
                    -t "${DUR}s" -H "http://127.0.0.1:$NGINX_PORT" --only-summary
            else
                skip locust "'${LOCUST_PYTHON:-python3}' cannot import locust"
            fi ;;
        *) die "unknown client '$c' (want rpcload, wrk, locust)" ;;
    esac
done

# ---- the table (stdout) ----------------------------------------------------
# ratios only against an rpcload run that actually served requests
base_us='' base_rss=''
if [[ -n ${CPU[rpcload]:-} && ${REQS[rpcload]:-0} -gt 0 ]]; then
    base_us=$(awk -v c="${CPU[rpcload]}" -v n="${REQS[rpcload]}" 'BEGIN{printf "%.6f", c*1e6/n}')
    base_rss=${RSS[rpcload]:-}
fi

echo
echo "HTTP/1.1 keep-alive GET $URL: nginx 1 worker on cpu $SERVER_CPU; each client alone on cpu $CLIENT_CPU, 1 thread/process, $CONN connections, ${DUR} s"
echo "requests = status-200 lines in nginx's access log during the client's run (the client's own count in parentheses)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
printf '%-8s %10s %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n' \
    client requests "(client)" "req/s" "CPU s" "wall s" "CPU us/req" "RSS MiB" "CPU/req x" "RSS x" "nginx" "other" note
printf '%-8s %10s %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n' \
    -------- ---------- ------------ --------- ------- ------- ---------- -------- ---------- -------- ------- ------- ----
for c in "${ORDER[@]}"; do
    if [[ ${NOTE[$c]} == skipped:* ]]; then
        printf '%-8s %10s %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n' "$c" - - - - - - - - - - - "${NOTE[$c]}"
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
        printf "%-8s %10d %12s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n",
            name, n, "(" cn ")", rps, cpu, wall, us, mib, usx, rssx, srv, oth, note
    }'
done
echo
echo "CPU/req x and RSS x: ratio to rpcload's (1.00 = same as rpcload; higher = the peer costs more)."
echo "nginx: CPU of nginx's worker during the run / run time; near 100% means the server, not the client, was the bottleneck."
echo "other: CPU used by every other process on the machine during the run (% of one core); well above 0% means the figures were disturbed."
[[ -n $base_us ]] || echo "(no rpcload figures: ratios not available)"
