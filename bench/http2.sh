#!/usr/bin/env bash
# bench/http2.sh: rpcload vs h2load on HTTP/2 (h2c, prior knowledge), GET /hello
# against one nginx worker on loopback, C connections x S streams each.
# See bench/README.md.
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
# shellcheck source=bench/run_client.sh
source "$(dirname "${BASH_SOURCE[0]}")/run_client.sh"

DUR=10 CONN=10 STREAMS=10 CLIENTS=rpcload,h2load KEEP=0
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
H2LOAD=${H2LOAD:-h2load}

need_tools taskset timeout curl awk ss
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
(( $(ulimit -n) > CONN + 100 )) || die "open-files limit $(ulimit -n) too low for $CONN connections"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpcload-bench-http2.XXXXXX")
cleanup() {
    nginx_stop
    if (( KEEP )); then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server's stream limit is at least S (nginx's default, 128, when S is
# smaller): rpcload deals its users to the connections round robin, so each
# connection carries exactly S of them, and h2load -m S opens at most S.
(( STREAMS > NGINX_H2_STREAMS )) && NGINX_H2_STREAMS=$STREAMS
nginx_start "$WORK/nginx" 20000 20000 h2c
URL=http://127.0.0.1:$NGINX_PORT/hello

declare -A REQS CREQS CUT CPU RSS WALL NOTE SRV OTHER
ORDER=()


IFS=, read -r -a WANT <<<"$CLIENTS"
for c in "${WANT[@]}"; do
    case $c in
        rpcload)
            if [[ -x $RPCLOAD ]]; then
                run_client rpcload client_reqs_locust_table client_cut_rpcload \
                    "$RPCLOAD" --threads 1 --http2 --connections "$CONN" -u "$USERS" \
                    -r $(( USERS * 100 )) -t "${DUR}s" --only-summary "$URL"
            else
                skip rpcload "no executable at $RPCLOAD (set RPCLOAD)"
            fi ;;
        h2load)
            if command -v "$H2LOAD" >/dev/null 2>&1; then
                run_client h2load client_reqs_h2load client_inflight_h2load \
                    "$H2LOAD" -t1 -c "$CONN" -m "$STREAMS" -D "$DUR" "$URL"
            else
                skip h2load "'$H2LOAD' not found (apt-get install nghttp2-client)"
            fi ;;
        *) die "unknown client '$c' (want rpcload, h2load)" ;;
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
echo "HTTP/2 (h2c, prior knowledge) GET $URL: nginx 1 worker on cpu $SERVER_CPU (http2_max_concurrent_streams $NGINX_H2_STREAMS);"
echo "each client alone on cpu $CLIENT_CPU, 1 thread, $CONN connections x $STREAMS streams ($USERS requests in flight), ${DUR} s"
echo "requests = status-200 lines in nginx's access log during the client's run (the client's own count in parentheses;"
echo "cut = requests in flight when the client stopped: rpcload's 'were cut' count, h2load's started - done)"
echo "req/s = requests / ${DUR} s; CPU = client user+sys (GNU time); CPU us/req = CPU / requests; RSS = client peak RSS"
echo
FMT='%-8s %10s %12s %6s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n'
# shellcheck disable=SC2059
printf "$FMT" client requests "(client)" cut "req/s" "CPU s" "wall s" "CPU us/req" "RSS MiB" "CPU/req x" "RSS x" nginx other note
# shellcheck disable=SC2059
printf "$FMT" -------- ---------- ------------ ------ --------- ------- ------- ---------- -------- ---------- -------- ------- ------- ----
for c in "${ORDER[@]}"; do
    if [[ ${NOTE[$c]} == skipped:* ]]; then
        # shellcheck disable=SC2059
        printf "$FMT" "$c" - - - - - - - - - - - - "${NOTE[$c]}"
        continue
    fi
    awk -v name="$c" -v n="${REQS[$c]:-0}" -v cn="${CREQS[$c]:--}" -v cut="${CUT[$c]:--}" -v d="$DUR" \
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
        printf "%-8s %10d %12s %6s %9s %7s %7s %10s %8s %10s %8s %7s %7s  %s\n",
            name, n, "(" cn ")", cut, rps, cpu, wall, us, mib, usx, rssx, srv, oth, note
    }'
done
echo
echo "CPU/req x and RSS x: ratio to rpcload's (1.00 = same as rpcload; higher = the peer costs more)."
echo "nginx: CPU of nginx's worker during the run / run time; near 100% means the server, not the client, was the bottleneck."
echo "other: CPU used by every other process on the machine during the run (% of one core); well above 0% means the figures were disturbed."
if [[ -n $base_us && -n ${CPU[h2load]:-} && ${REQS[h2load]:-0} -gt 0 ]]; then
    awk -v r="$base_us" -v c="${CPU[h2load]}" -v n="${REQS[h2load]}" 'BEGIN {
        x = r / (c * 1e6 / n)
        printf "bar: rpcload CPU/request at most 1.2x h2load'"'"'s: %.2fx -> %s\n", x, (x <= 1.2 ? "PASS" : "FAIL")
    }'
else
    echo "(no rpcload and h2load figures to compare: bar not checked)"
fi
