#!/usr/bin/env bash
# bench/listeners.sh: what listener plugins cost (issue #16's bar), against one
# nginx worker on loopback. See bench/README.md, "listeners.sh".
#   CPU per request of rpcload with a no-op request listener
#   (build/tests/listeners/noop.so) and with the SQLite sink
#   (build/listeners/sqlite_sink.so) against none, P interleaved passes
#   (none, no-op, sink), the median of the pairwise ratios. Bars: no-op at
#   most 1.03x, the sink at most 1.15x. The sink's rows are counted against
#   nginx's log, so a sink that dropped rows cannot pass.
#   Then instructions per request (callgrind, when valgrind is installed):
#   deterministic where CPU time on a shared machine is not, the slope
#   between -n 3000 and -n 9000 requests, every thread counted (the sink's
#   writer too). Reported beside the bars, not a bar itself.
# shellcheck disable=SC2317,SC2034  # measure_client and lib.sh read DUR, KEEP
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-p PASSES] [-d SECONDS] [-u USERS] [-k]
  -p PASSES   interleaved passes: none, no-op, SQLite sink (default 3)
  -d SECONDS  each run's length (default 10)
  -u USERS    users = connections (default 50)
  -k          keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload), LISTENERS (<repo>/build/listeners),
     TEST_LISTENERS (<repo>/build/tests/listeners), SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PASSES=3 DUR=10 USERS=50 KEEP=0
parse_options 'p:PASSES d:DUR:secs u:USERS k:KEEP:flag' "$@"
need_count -p "$PASSES"
need_count -d "$DUR" "whole seconds"
need_count -u "$USERS"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
LISTENERS=${LISTENERS:-$REPO_DIR/build/listeners}
TEST_LISTENERS=${TEST_LISTENERS:-$REPO_DIR/build/tests/listeners}
NOOP=$TEST_LISTENERS/noop.so
SINK=$LISTENERS/sqlite_sink.so
need_tools taskset timeout curl awk
raise_fd_limit
need_fds "$USERS" connections
have_rpcload || die "no rpcload at $RPCLOAD (build it first)"
[[ -f $NOOP ]] || die "no $NOOP (build the tests: cmake --build build)"
[[ -f $SINK ]] || die "no $SINK (libsqlite3-dev missing? scripts/setup.sh)"
PY=${PY:-/usr/bin/python3}

work_dir listeners
nginx_start "$WORK/nginx" 20000
URL=http://127.0.0.1:$NGINX_PORT/hello
RUN=("$RPCLOAD" --threads 1 -u "$USERS" -r $(( USERS * 100 )) -t "${DUR}s" --stop-timeout 5
     --only-summary)

# Rows the sink wrote (Python's sqlite3: no sqlite3 CLI needed).
db_rows() {
    "$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM requests").fetchone()[0])' "$1"
}

declare -a NONE_US NOOP_US SINK_US NOOP_X SINK_X SINK_ROWS WRITER_US
for p in $(seq "$PASSES"); do
    run_nginx_client "none$p" client_reqs_locust_table no_cut "${RUN[@]}" "$URL"
    run_nginx_client "noop$p" client_reqs_locust_table no_cut "${RUN[@]}" \
        --listener "$NOOP" "$URL"
    rm -f "$WORK/sink$p.db"*
    run_nginx_client "sink$p" client_reqs_locust_table no_cut "${RUN[@]}" \
        --listener "$SINK" --listener-opt "file=$WORK/sink$p.db" "$URL"
    n=$(us_per "none$p" 4) o=$(us_per "noop$p" 4) s=$(us_per "sink$p" 4)
    NONE_US+=("$n") NOOP_US+=("$o") SINK_US+=("$s")
    NOOP_X+=("$(awk -v a="$o" -v b="$n" 'BEGIN{printf "%.3f", a / b}')")
    SINK_X+=("$(awk -v a="$s" -v b="$n" 'BEGIN{printf "%.3f", a / b}')")
    SINK_ROWS+=("$(db_rows "$WORK/sink$p.db")")
    # The sink's own line: its writer thread's CPU per row.
    WRITER_US+=("$(awk '/sqlite_sink: .* written/ {for (i = 1; i < NF; i++) if ($(i+1) == "us") print $i}' \
        "$WORK/sink$p.out")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Instructions rpcload runs for N requests with the extra ARGS (callgrind).
instructions() {
    local n=$1 out=$WORK/cg.$1.$RANDOM; shift
    valgrind --tool=callgrind --callgrind-out-file="$out" "$RPCLOAD" --threads 1 -u 10 \
        -r 1000 -n "$n" --only-summary "$@" "$URL" >/dev/null 2>&1 || return 1
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
declare -A INSTR
IR_NOTE="valgrind is not installed: no instruction counts"
if command -v valgrind >/dev/null 2>&1; then
    IR_NOTE=""
    for c in none noop sink; do
        case $c in
            none) extra=() ;;
            noop) extra=(--listener "$NOOP") ;;
            sink) extra=(--listener "$SINK" --listener-opt "file=$WORK/cg.db") ;;
        esac
        say "callgrind: $c, -n 3000 and -n 9000"
        rm -f "$WORK/cg.db"*
        lo=$(instructions 3000 "${extra[@]}") || { IR_NOTE="callgrind failed"; break; }
        rm -f "$WORK/cg.db"*
        hi=$(instructions 9000 "${extra[@]}") || { IR_NOTE="callgrind failed"; break; }
        INSTR[$c]=$(awk -v a="$lo" -v b="$hi" 'BEGIN{printf "%.0f", (b - a) / 6000}')
    done
fi

# ---- the report (stdout) -------------------------------------------------------
echo
echo "listeners against nginx (1 worker, cpu $SERVER_CPU), rpcload --threads 1 -u $USERS on cpu $CLIENT_CPU, $PASSES passes of ${DUR}s"
echo "CPU us/req = client user+sys (GNU time) / requests in nginx's log"
echo
ROWS_OK=1
for i in "${!NOOP_X[@]}"; do
    p=$(( i + 1 ))
    printf '   pass %d: none %s us/req (%s req); no-op %s (%s req) %sx; sqlite sink %s (%s req, %s rows, writer %s us/row) %sx\n' \
        "$p" "${NONE_US[$i]}" "${REQS[none$p]}" "${NOOP_US[$i]}" "${REQS[noop$p]}" "${NOOP_X[$i]}" \
        "${SINK_US[$i]}" "${REQS[sink$p]}" "${SINK_ROWS[$i]}" "${WRITER_US[$i]:-?}" "${SINK_X[$i]}"
    [[ ${SINK_ROWS[$i]} == "${REQS[sink$p]}" ]] || ROWS_OK=0
done
echo "   other processes' CPU per run (% of one core; well above 0 disturbs the figures):" \
    "$(for c in "${ORDER[@]}"; do printf '%s=%s ' "$c" "${OTHER[$c]:--}"; done)"
echo
if [[ -z $IR_NOTE ]]; then
    printf '   instructions per request (callgrind, -n 9000 minus -n 3000): none %s; no-op %s (%sx); sqlite sink %s (%sx)\n' \
        "${INSTR[none]}" "${INSTR[noop]}" "$(awk -v a="${INSTR[noop]}" -v b="${INSTR[none]}" 'BEGIN{printf "%.3f", a / b}')" \
        "${INSTR[sink]}" "$(awk -v a="${INSTR[sink]}" -v b="${INSTR[none]}" 'BEGIN{printf "%.3f", a / b}')"
else
    echo "   $IR_NOTE"
fi
echo
bar "CPU per request, no-op listener / none" "$(median "${NOOP_X[@]}")" "<=" 1.03
bar "CPU per request, SQLite sink / none" "$(median "${SINK_X[@]}")" "<=" 1.15
if (( ROWS_OK )); then
    echo "sink rows: every pass wrote one row per request nginx logged -> PASS"
else
    echo "sink rows: a pass's rows differ from nginx's count -> FAIL"
    BAR_FAIL=1
fi
exit "$BAR_FAIL"
