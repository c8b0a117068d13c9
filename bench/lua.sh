#!/usr/bin/env bash
# bench/lua.sh: a Lua user's cost against the same user in YAML (issue #23's
# bar: a one-request task in Lua at most 1.3x the YAML scenario's client CPU
# per request). The same user (one task, GET /hello) from -s and from -f,
# against one nginx worker, -u 8 --threads 1 -n N each; the two run in turn,
# P passes (Lua, YAML, Lua, YAML ...), so that a machine whose speed drifts
# moves both alike; each pass's ratio is Lua's CPU (user + sys, GNU time)
# over YAML's, and the median of the passes is the figure. Both must send
# exactly N requests (nginx's log says so), else the pass is refused.
# Each pass also runs Locust's FastHttpUser (bench/locustfile_http.py, the
# same task) headless on the same cpu with the same 8 users for D seconds
# (Locust has no request count): its CPU per request is its CPU over the
# requests nginx logged for it, start-up included as for rpcload; the second
# ratio is that over the Lua run's CPU per request (#23's other bar: at
# least 8x). -L skips Locust. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-n REQUESTS] [-p PASSES] [-t TIMESLICE] [-d SECONDS] [-L] [-k]
  -n REQUESTS  requests per rpcload run (default 200000)
  -p PASSES    Lua/YAML pairs (default 5)
  -t TIMESLICE --lua-timeslice of the Lua runs (default: rpcload's, 500ms,
               the watchdog on; 0: LuaJIT's JIT, no watchdog)
  -d SECONDS   length of each Locust run (default 10)
  -L           no Locust runs (Lua and YAML only)
  -k           keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload), LOCUST_PYTHON (default
     /usr/bin/python3), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=200000 PASSES=5 SLICE='' DUR=10 NO_LOCUST=0 KEEP=0
parse_options 'n:N p:PASSES t:SLICE d:DUR:secs L:NO_LOCUST:flag k:KEEP:flag' "$@"
need_count -n "$N"
need_count -p "$PASSES"
need_count -d "$DUR" "whole seconds"
LOCUST_PYTHON=${LOCUST_PYTHON:-$PY}
if (( ! NO_LOCUST )) && ! "$LOCUST_PYTHON" -c 'import locust' >/dev/null 2>&1; then
    die "'$LOCUST_PYTHON' cannot import locust (set LOCUST_PYTHON, or -L)"
fi

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

# locust_run: prints "CPU_SECONDS REQUESTS" of one Locust run of DUR
# seconds, the requests being the lines nginx logged during it (all must be
# 200s: Locust's own failures would make its count wrong).
locust_run() {
    local before after lines ok
    log_settle
    before=$(log_size)
    "$GNU_TIME" -f '%U %S %e' -o "$WORK/time.locust" "${PIN[@]}" \
        "$LOCUST_PYTHON" -m locust -f "$BENCH_DIR/locustfile_http.py" --headless \
        -u 8 -r 8 -t "${DUR}s" -H "$HOST" --only-summary --loglevel WARNING \
        >"$WORK/out.locust" 2>&1 || die "locust run failed: $(tail -n 5 "$WORK/out.locust")"
    log_settle
    after=$(log_size)
    tail -c +$(( before + 1 )) "$ACCESS_LOG" | head -c $(( after - before )) >"$WORK/log.locust"
    lines=$(wc -l <"$WORK/log.locust")
    ok=$(grep -cx 200 "$WORK/log.locust" || true)
    (( lines > 0 && ok == lines )) || die "locust run: $ok of $lines requests answered 200"
    awk -v n="$lines" '{printf "%.2f %d\n", $1 + $2, n}' "$WORK/time.locust"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

say "warm-up (not counted)"
one_run warm "${LUA_ARGS[@]}" >/dev/null
RATIOS=() LRATIOS=() LUS=()
printf '%-5s %9s %9s %9s %9s %7s' pass "Lua CPU" "YAML CPU" "Lua wall" "YAML wall" ratio
(( NO_LOCUST )) || printf ' %11s %9s %10s %10s %8s' "Locust CPU" "Locust n" "Lua us/req" "Loc us/req" "Loc/Lua"
echo
for (( i = 1; i <= PASSES; i++ )); do
    read -r lc lw < <(one_run lua "${LUA_ARGS[@]}")
    read -r yc yw < <(one_run yaml -f "$WORK/bench.yaml")
    r=$(awk -v a="$lc" -v b="$yc" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
    RATIOS+=("$r")
    printf '%-5s %9s %9s %9s %9s %7s' "$i" "$lc" "$yc" "$lw" "$yw" "$r"
    if (( ! NO_LOCUST )); then
        read -r oc on < <(locust_run)
        read -r lus ous lr < <(awk -v lc="$lc" -v n="$N" -v oc="$oc" -v on="$on" 'BEGIN {
            a = lc * 1e6 / n; b = oc * 1e6 / on
            printf "%.2f %.2f %.1f\n", a, b, (a > 0 ? b / a : 0) }')
        LRATIOS+=("$lr") LUS+=("$ous")
        printf ' %11s %9s %10s %10s %8s' "$oc" "$on" "$lus" "$ous" "$lr"
    fi
    echo
done
echo
echo "GET /hello, nginx 1 worker on cpu $SERVER_CPU; rpcload on cpu $CLIENT_CPU, 1 thread, 8 users, $N requests a run"
echo "Lua / YAML client CPU (user + sys), median of $PASSES interleaved passes: $(printf '%s\n' "${RATIOS[@]}" | median)x (bar 1.3x)${SLICE:+, --lua-timeslice $SLICE}"
if (( ! NO_LOCUST )); then
    echo "Locust FastHttpUser on cpu $CLIENT_CPU, 1 process, 8 users, ${DUR} s a run: $(printf '%s\n' "${LUS[@]}" | median) us CPU a request (median)"
    echo "Locust / Lua client CPU per request, median of $PASSES interleaved passes: $(printf '%s\n' "${LRATIOS[@]}" | median)x (bar: at least 8x)"
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
