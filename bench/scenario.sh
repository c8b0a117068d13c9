#!/usr/bin/env bash
# bench/scenario.sh: the cost of a scenario file. The same requests (GET /hello
# against one nginx worker) from the quick command line and from a scenario
# (-f) with one user class of two weighted tasks, both with 1,000 users; the
# bar (issue #7): the scenario's client CPU per request at most 1.10x the
# command line's. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-d SECONDS] [-u USERS] [-k]
  -d SECONDS  duration of each run (default 60)
  -u USERS    users (default 1000)
  -k          keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DUR=60 USERS=1000 KEEP=0
parse_options 'd:DUR:secs u:USERS k:KEEP:flag' "$@"
need_count -d "$DUR" "whole seconds"
need_count -u "$USERS"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (set RPCLOAD)"
need_tools taskset timeout curl awk ss
raise_fd_limit

work_dir scenario
nginx_start "$WORK/nginx" 20000
HOST=http://127.0.0.1:$NGINX_PORT

# Two tasks, both GET /hello (the quick command line sends only that), so
# the difference is the scenario machinery: class choice, weighted task
# choice, per-step targets, templates and the user's step state.
cat >"$WORK/bench.yaml" <<'YAML'
users:
  - name: Browser
    tasks:
      - {weight: 3, steps: [{http: GET /hello, name: /hello}]}
      - {weight: 1, steps: [{http: "GET /hello?u={{user_id}}", name: /hello}]}
YAML

run_nginx_client cli client_reqs_locust_table no_cut \
    "$RPCLOAD" --threads 1 -u "$USERS" -r "$USERS" -t "${DUR}s" --only-summary "$HOST/hello"
run_nginx_client scenario client_reqs_locust_table no_cut \
    "$RPCLOAD" --threads 1 -u "$USERS" -r "$USERS" -t "${DUR}s" --only-summary \
    -f "$WORK/bench.yaml" "$HOST"

echo
echo "GET /hello, nginx 1 worker on cpu $SERVER_CPU; rpcload alone on cpu $CLIENT_CPU, 1 thread, $USERS users, ${DUR} s"
printf '%-9s %10s %9s %7s %10s %8s %7s  %s\n' run requests "req/s" "CPU s" "CPU us/req" "RSS MiB" nginx note
for c in "${ORDER[@]}"; do
    awk -v name="$c" -v n="${REQS[$c]:-0}" -v d="$DUR" -v cpu="${CPU[$c]:-0}" \
        -v rss="${RSS[$c]:-0}" -v srv="${SRV[$c]:--}" -v note="${NOTE[$c]}" 'BEGIN {
        printf "%-9s %10d %9.0f %7s %10.2f %8.1f %7s  %s\n", name, n, n / d, cpu,
            n ? cpu * 1e6 / n : 0, rss / 1024, srv, note }'
done
ratio=$(awk -v a="${CPU[scenario]:-0}" -v na="${REQS[scenario]:-0}" -v b="${CPU[cli]:-0}" -v nb="${REQS[cli]:-0}" \
    'BEGIN{ if (na && nb && b) printf "%.3f", (a/na)/(b/nb); else print "n/a" }')
echo
echo "scenario CPU per request / command line's: $ratio (bar: <= 1.10)"
if [[ $ratio != n/a ]] && awk -v r="$ratio" 'BEGIN{exit !(r <= 1.10)}'; then
    echo "PASS"
else
    echo "FAIL"
fi
