#!/usr/bin/env bash
# bench/lua.sh: a Lua user's cost against the same user in YAML (issue #23's
# bar: a one-request task in Lua at most 1.3x the YAML scenario's client CPU
# per request). The same user (one task, GET /hello) from -s and from -f,
# against one nginx worker, -u 8 --threads 1 -n N each; the two run in turn,
# P passes (Lua, YAML, Lua, YAML ...), so that a machine whose speed drifts
# moves both alike; each pass's ratio is Lua's CPU (user + sys, GNU time)
# over YAML's, and the median of the passes is the figure. Both must send
# exactly N requests (nginx's log says so), else the pass is refused.
# See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-n REQUESTS] [-p PASSES] [-t TIMESLICE] [-k]
  -n REQUESTS  requests per run (default 200000)
  -p PASSES    Lua/YAML pairs (default 5)
  -t TIMESLICE --lua-timeslice of the Lua runs (default: rpcload's, 500ms,
               the watchdog on; 0: LuaJIT's JIT, no watchdog)
  -k           keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=200000 PASSES=5 SLICE='' KEEP=0
parse_options 'n:N p:PASSES t:SLICE k:KEEP:flag' "$@"
need_count -n "$N"
need_count -p "$PASSES"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (set RPCLOAD)"
need_tools taskset curl awk sort
raise_fd_limit

work_dir lua
nginx_start "$WORK/nginx" 1000
HOST=http://127.0.0.1:$NGINX_PORT

cat >"$WORK/bench.lua" <<'LUA'
Hello = rl.user { tasks = { function(u) u.http:get("/hello") end } }
LUA
cat >"$WORK/bench.yaml" <<'YAML'
users:
  - name: Hello
    tasks:
      - steps: [{http: GET /hello}]
YAML

COMMON=(--threads 1 -u 8 -r 8 -n "$N" --only-summary --host "$HOST")
LUA_ARGS=(-s "$WORK/bench.lua")
[[ -n $SLICE ]] && LUA_ARGS+=(--lua-timeslice "$SLICE")

# one_run NAME ARGS...: prints "CPU_SECONDS WALL_SECONDS" of one run, after
# checking that nginx's log grew by exactly N lines for it.
one_run() {
    local name=$1 before after served; shift
    log_settle
    before=$(log_size)
    "$GNU_TIME" -f '%U %S %e' -o "$WORK/time.$name" "${PIN[@]}" \
        "$RPCLOAD" "${COMMON[@]}" "$@" >"$WORK/out.$name" 2>&1 ||
        die "$name run failed: $(tail -n 5 "$WORK/out.$name")"
    log_settle
    after=$(log_size)
    served=$(tail -c +$(( before + 1 )) "$ACCESS_LOG" | head -c $(( after - before )) | wc -l)
    (( served == N )) || die "$name run: nginx served $served requests, not $N"
    awk '{printf "%.2f %.2f\n", $1 + $2, $3}' "$WORK/time.$name"
}

say "warm-up (not counted)"
one_run warm "${LUA_ARGS[@]}" >/dev/null
RATIOS=()
printf '%-5s %9s %9s %9s %9s %7s\n' pass "Lua CPU" "YAML CPU" "Lua wall" "YAML wall" ratio
for (( i = 1; i <= PASSES; i++ )); do
    read -r lc lw < <(one_run lua "${LUA_ARGS[@]}")
    read -r yc yw < <(one_run yaml -f "$WORK/bench.yaml")
    r=$(awk -v a="$lc" -v b="$yc" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    RATIOS+=("$r")
    printf '%-5s %9s %9s %9s %9s %7s\n' "$i" "$lc" "$yc" "$lw" "$yw" "$r"
done
median=$(printf '%s\n' "${RATIOS[@]}" | sort -g |
    awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo
echo "GET /hello, nginx 1 worker on cpu $SERVER_CPU; rpcload on cpu $CLIENT_CPU, 1 thread, 8 users, $N requests a run"
echo "Lua / YAML client CPU (user + sys), median of $PASSES interleaved passes: ${median}x (bar 1.3x)${SLICE:+, --lua-timeslice $SLICE}"
