#!/usr/bin/env bash
# bench/web_ui.sh: what the web UI costs the load. The same HTTP/1.1 load
# (GET /hello on one nginx worker, loopback) run headless and in web mode
# (--web --autostart) while a small client polls /stats/requests every
# second, as the page does; rounds alternate the two. Compares rpcload's
# CPU per request. The bar (issue #6): web mode costs < 3 % more CPU per
# request than headless. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-c CONNECTIONS] [-n ROUNDS] [-k]
  -d SECONDS      duration of each run (default 10)
  -c CONNECTIONS  users = connections (default 50)
  -n ROUNDS       headless/web pairs, alternated (default 3)
  -k              keep the temporary directory (nginx config/log, outputs)
env: RPCLOAD (default <repo>/build/rpcload), SERVER_CPU (0), CLIENT_CPU (1),
     POLL_S (seconds between polls, default 1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=10 CONN=50 ROUNDS=3 KEEP=0
POLL_S=${POLL_S:-1}
parse_options 'd:DUR:secs c:CONN n:ROUNDS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -c "$CONN"
need_count -n "$ROUNDS"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no rpcload executable at $RPCLOAD (set RPCLOAD)"
need_tools taskset timeout curl awk
raise_fd_limit

work_dir web
nginx_start "$WORK/nginx" 20000
URL=http://127.0.0.1:$NGINX_PORT/hello
POLLER_PID=
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$POLLER_PID"'

declare -A POLLS

# web_ui_url OUTFILE: the web UI's base URL, once rpcload has said it in its
# output (up to 10 s); empty when it did not.
web_ui_url() {
    local base=''
    for _ in $(seq 200); do
        base=$(sed -n 's/.*web UI on \(http:[^ ]*\).*/\1/p' "$1" 2>/dev/null | head -n 1 || true)
        [[ -n $base ]] && break
        sleep 0.05
    done
    echo "$base"
}

# poll OUTFILE COUNTFILE: waits for "web UI on http://..." in the client's
# output, then GETs /stats/requests every POLL_S seconds until rpcload is
# gone, one line in COUNTFILE per answered poll. On the server's core: the
# poller's own CPU is not the client's.
poll() {
    local out=$1 count=$2 base
    : >"$count"
    base=$(web_ui_url "$out")
    [[ -n $base ]] || { say "poller: no web UI URL in $out"; return 0; }
    while taskset -c "$SERVER_CPU" curl -fsS -o /dev/null --max-time 2 "$base/stats/requests" 2>/dev/null; do
        echo ok >>"$count"
        sleep "$POLL_S"
    done
}

for round in $(seq "$ROUNDS"); do
    run_nginx_client "headless$round" client_reqs_locust_table client_cut_rpcload \
        "$RPCLOAD" --threads 1 -u "$CONN" -r $(( CONN * 100 )) -t "${DUR}s" --only-summary "$URL"
    name=web$round
    poll "$WORK/$name.out" "$WORK/$name.polls" &
    POLLER_PID=$!
    run_nginx_client "$name" client_reqs_locust_table client_cut_rpcload \
        "$RPCLOAD" --threads 1 --web --web-port 0 --autostart --autoquit 0 \
        -u "$CONN" -r $(( CONN * 100 )) -t "${DUR}s" --only-summary "$URL"
    wait "$POLLER_PID" 2>/dev/null || true
    POLLER_PID=
    POLLS[$name]=$(wc -l <"$WORK/$name.polls")
done

# ---- the cost of one poll, apart from the noise of the load ---------------
# An rpcload in web mode with one stats entry and no load (one user for 2 s,
# then stopped), polled POLL_COST_N times back to back on new connections
# (as the curl poller does); its CPU time over the polls / N.
POLL_COST_N=${POLL_COST_N:-2000}
POLL_US=
poll_cost() {
    local out=$WORK/poll_cost.out pid base=''
    taskset -c "$CLIENT_CPU" "$RPCLOAD" --threads 1 --web --web-port 0 --autostart -u 1 -r 10 -t 2s \
        --only-summary "$URL" </dev/null >"$out" 2>&1 &
    pid=$!
    base=$(web_ui_url "$out")
    sleep 3   # the load has stopped: only the polls use CPU now
    if [[ -n $base && -n $PY ]]; then
        POLL_US=$(taskset -c "$SERVER_CPU" "$PY" - "$base" "$pid" "$POLL_COST_N" <<'PYEOF'
import http.client, os, sys, urllib.parse
base, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def cpu():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
u = urllib.parse.urlparse(base)
c0 = cpu()
for _ in range(n):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("GET", "/stats/requests")
    c.getresponse().read()
    c.close()
print("%.1f" % ((cpu() - c0) / n * 1e6))
PYEOF
) || POLL_US=
    fi
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
poll_cost

# ---- the table (stdout) ----------------------------------------------------
median() { sort -g | awk '{v[NR]=$1} END{if (NR==0) exit; if (NR%2) print v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2}'; }

echo
echo "rpcload headless vs --web (polled on /stats/requests every ${POLL_S} s): HTTP/1.1 keep-alive GET $URL"
echo "nginx 1 worker on cpu $SERVER_CPU; rpcload alone on cpu $CLIENT_CPU, --threads 1, $CONN users, ${DUR} s a run, $ROUNDS rounds alternated"
echo "requests = status-200 lines in nginx's access log during the run; CPU = rpcload user+sys (GNU time); CPU us/req = CPU / requests"
echo
printf '%-10s %10s %9s %7s %7s %10s %8s %6s %7s %7s  %s\n' \
    run requests "req/s" "CPU s" "wall s" "CPU us/req" "RSS MiB" polls nginx other note
printf '%-10s %10s %9s %7s %7s %10s %8s %6s %7s %7s  %s\n' \
    ---------- ---------- --------- ------- ------- ---------- -------- ------ ------- ------- ----
HEADLESS=() WEB=()
for c in "${ORDER[@]}"; do
    us=$(us_per "$c" 4 || true)
    case $c in headless*) [[ -n $us ]] && HEADLESS+=("$us") ;; web*) [[ -n $us ]] && WEB+=("$us") ;; esac
    awk -v name="$c" -v n="${REQS[$c]:-0}" -v d="$DUR" -v cpu="${CPU[$c]:-}" -v wall="${WALL[$c]:-}" \
        -v rss="${RSS[$c]:-}" -v us="${us:--}" -v polls="${POLLS[$c]:--}" -v srv="${SRV[$c]:--}" \
        -v oth="${OTHER[$c]:--}" -v note="${NOTE[$c]}" 'BEGIN {
        printf "%-10s %10d %9.0f %7s %7s %10s %8s %6s %7s %7s  %s\n", name, n, n / d, cpu, wall, us,
            (rss == "" ? "-" : sprintf("%.1f", rss / 1024)), polls, srv, oth, note }'
done
echo
h=$(printf '%s\n' "${HEADLESS[@]}" | median || true)
w=$(printf '%s\n' "${WEB[@]}" | median || true)
if [[ -z $h || -z $w ]]; then
    echo "result: FAIL (a mode served no requests)"
    exit 1
fi
over=$(awk -v h="$h" -v w="$w" 'BEGIN{printf "%+.2f", (w / h - 1) * 100}')
echo "median CPU us/req: headless $h, web $w: web mode costs ${over} % per request (bar: < 3 %)"
if [[ -n $POLL_US ]]; then
    # What the polls alone add to a web run: one poll per POLL_S over the
    # median web run's CPU per second.
    wcpu=$(for c in "${ORDER[@]}"; do [[ $c == web* && -n ${CPU[$c]:-} ]] && echo "${CPU[$c]}"; done | median || true)
    echo "one poll of /stats/requests costs rpcload ${POLL_US} us of CPU ($POLL_COST_N polls, idle web mode): at one per ${POLL_S} s, $(awk -v p="$POLL_US" -v s="$POLL_S" -v c="${wcpu:-0}" -v d="$DUR" 'BEGIN{ if (c > 0) printf "%.3f", p / s / (c * 1e6 / d) * 100; else printf "?" }') % of a web run's CPU"
fi
for c in "${ORDER[@]}"; do
    if [[ $c == web* && ${POLLS[$c]:-0} -lt $(( DUR / POLL_S / 2 )) ]]; then
        echo "result: FAIL ($c was polled ${POLLS[$c]:-0} times in ${DUR} s)"
        exit 1
    fi
done
if awk -v o="$over" 'BEGIN{exit !(o < 3)}'; then
    echo "result: PASS"
else
    echo "result: FAIL (over the bar; rerun on a quiet machine: see the 'other' column)"
    exit 1
fi
