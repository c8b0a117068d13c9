#!/usr/bin/env bash
# bench/soak_h2.sh: one rpcload multiplexing 100 connections x 100 streams
# (10,000 users, --connections 100) of HTTP/2 (h2c) against one nginx worker
# on loopback. Every request must be accounted for: rpcload's count (successes
# + failures, failures 0), plus what it cut at the stop, equals what nginx
# logged. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-c CONNECTIONS] [-m STREAMS] [-t SECONDS] [-s STOP_TIMEOUT] [-r SPAWN_RATE] [-k]
  -c CONNECTIONS  HTTP/2 connections, rpcload --connections (default 100)
  -m STREAMS      streams per connection (default 100): users = CONNECTIONS*STREAMS
  -t SECONDS      run time of the soak (default 30)
  -s SECONDS      rpcload --stop-timeout (default 10: requests in flight at the
                  end finish, so rpcload's count must equal nginx's exactly;
                  0: they are cut, and rpcload's count + its cut count must)
  -r SPAWN_RATE   users started per second (default: all within 1 s)
  -k              keep the temporary directory (nginx config/log, outputs, timeline)
env: RPCLOAD (default <repo>/build/rpcload), SERVER_CPU (0), CLIENT_CPU (1; "all" = no pinning)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONN=100 STREAMS=100 DUR=30 STOP=10 RATE='' KEEP=0
parse_options 'c:CONN m:STREAMS t:DUR:secs s:STOP:secs r:RATE k:KEEP:flag' "$@"
USERS=$(( CONN * STREAMS ))
: "${RATE:=$USERS}"
for v in CONN STREAMS DUR RATE; do need_count "$v" "${!v}"; done
[[ $STOP =~ ^[0-9]+$ ]] || die "-s wants whole seconds >= 0, got '$STOP'"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (build it, or set RPCLOAD)"
need_tools taskset timeout curl awk ss pgrep

# rpcload needs a descriptor per connection, not per user; the 20000 asked
# for is headroom (and what nginx's worker_rlimit_nofile is set to).
soak_fd_limit "$CONN"

work_dir soak-h2
(( STREAMS > NGINX_H2_STREAMS )) && NGINX_H2_STREAMS=$STREAMS
nginx_start "$WORK/nginx" "$FDS" "$FDS" h2c
URL=http://127.0.0.1:$NGINX_PORT/hello
RUN_PID=
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$RUN_PID"'

# ---- the soak ---------------------------------------------------------------
LIMIT=$(( DUR + STOP + 60 ))
OUT=$WORK/soak.out TF=$WORK/soak.time TL=$WORK/soak.timeline
log_settle
OFF=$(log_size)
N0=$(nginx_cpu) B0=$(machine_busy) T0=$(date +%s.%N)
ARGS=(--threads 1 --http2 --connections "$CONN" -u "$USERS" -r "$RATE" -t "${DUR}s"
      --stop-timeout "$STOP" --only-summary "$URL")
say "running: $RPCLOAD ${ARGS[*]}"
timed_prefix "$LIMIT" "$TF"
"${TIMED[@]}" "$RPCLOAD" "${ARGS[@]}" </dev/null >"$OUT" 2>&1 &
RUN_PID=$!
# once a second: established connections at nginx's port, rpcload's RSS
# (t: whole seconds since the start, from the clock: the loop takes a bit
# more than 1 s per round)
PEAK_CONNS=0 PEAK_SAMPLED_RSS=0 MIN_CONNS_STEADY='' t=0 said=0
: >"$TL"
while kill -0 "$RUN_PID" 2>/dev/null && (( t < LIMIT + 10 )); do
    sleep 1
    t=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%d", b - a}')
    tpid=$(child_of "$RUN_PID"); rpid=
    [[ -n $tpid ]] && rpid=$(child_of "$tpid")
    c=$(server_conns)
    r=
    [[ -n $rpid ]] && r=$(rss_kib "$rpid")
    # rpcload not started yet, or gone meanwhile: this sample is not of the run
    [[ -n $rpid ]] || continue
    kill -0 "$rpid" 2>/dev/null || break
    if (( c > PEAK_CONNS )); then PEAK_CONNS=$c; fi
    if [[ -n $r ]] && (( r > PEAK_SAMPLED_RSS )); then PEAK_SAMPLED_RSS=$r; fi
    # connections held from 3 s to 1 s before the end of the run time (not the stop)
    if (( t >= 3 && t < DUR - 1 )) && [[ -z $MIN_CONNS_STEADY || $c -lt $MIN_CONNS_STEADY ]]; then MIN_CONNS_STEADY=$c; fi
    printf 't=%3ds  server connections %6d  rpcload RSS %s KiB\n' "$t" "$c" "${r:--}" >>"$TL"
    if (( t / 5 > said )); then said=$(( t / 5 )); say "  t=${t}s connections=$c rss=${r:--}KiB"; fi
done
RC=0; wait "$RUN_PID" || RC=$?
RUN_PID=
T1=$(date +%s.%N) N1=$(nginx_cpu) B1=$(machine_busy)
if (( RC != 0 )); then
    say "rpcload exited with status $RC; last lines of its output:"
    tail -n 15 "$OUT" | sed 's/^/    /' >&2
fi
log_settle
SERVER_ALL=$(log_count_all "$OFF")
SERVER_200=$(log_count_200 "$OFF")
CLIENT_REQS=$(client_reqs_locust_table "$OUT")
CLIENT_FAILS=$(client_fails_locust_table "$OUT")
CLIENT_CUT=$(client_cut_rpcload "$OUT")
WALL_S=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')
F=$(time_fields "$TF") || F="- - -"
read -r SU SS PEAK_RSS <<<"$F"
if [[ $PEAK_RSS != - ]] && (( PEAK_SAMPLED_RSS > PEAK_RSS )); then PEAK_RSS=$PEAK_SAMPLED_RSS; fi

# ---- report (stdout) --------------------------------------------------------
verdict=PASS why=()
num() { [[ $1 =~ ^[0-9]+$ ]]; }
if num "$CLIENT_REQS" && num "$CLIENT_FAILS"; then
    CLIENT_OK=$(( CLIENT_REQS - CLIENT_FAILS ))
    ACCOUNTED=$(( CLIENT_REQS + CLIENT_CUT ))
    (( CLIENT_FAILS == 0 )) || { verdict=FAIL; why+=("rpcload reported $CLIENT_FAILS failed requests"); }
    # Every request rpcload counted was logged by nginx; a request cut at the
    # stop was logged if nginx had read it before the connection closed (it
    # answers /hello at once), else not: nginx's count is in
    # [requests, requests + cut], exactly requests when nothing was cut.
    if (( SERVER_ALL < CLIENT_REQS || SERVER_ALL > ACCOUNTED )); then
        verdict=FAIL
        if (( CLIENT_CUT == 0 )); then
            why+=("rpcload counted $CLIENT_REQS requests, nginx logged $SERVER_ALL (difference $(( SERVER_ALL - CLIENT_REQS )))")
        else
            why+=("nginx logged $SERVER_ALL requests, outside rpcload's $CLIENT_REQS .. $ACCOUNTED (requests .. requests + cut)")
        fi
    elif (( SERVER_ALL != ACCOUNTED )); then
        why+=("note: $(( ACCOUNTED - SERVER_ALL )) of the $CLIENT_CUT cut requests never reached nginx's log (cut before nginx read them)")
    fi
    if (( SERVER_200 < CLIENT_OK || SERVER_200 > CLIENT_OK + CLIENT_CUT )); then
        verdict=FAIL
        why+=("rpcload's successes $CLIENT_OK (+ cut $CLIENT_CUT) do not match nginx's $SERVER_200 status-200 lines")
    fi
else
    CLIENT_OK=- ACCOUNTED=-
    verdict=FAIL; why+=("no Aggregated row in rpcload's output (did it finish?)")
fi
(( STOP == 0 || CLIENT_CUT == 0 )) || { verdict=FAIL; why+=("$CLIENT_CUT requests were cut despite --stop-timeout $STOP"); }
(( RC == 0 )) || { verdict=FAIL; why+=("rpcload exit status $RC"); }
(( SERVER_200 > 0 )) || { verdict=FAIL; why+=("no request reached the server"); }
[[ ${MIN_CONNS_STEADY:-0} -ge $CONN && $PEAK_CONNS -le $CONN ]] ||
    why+=("warning: established connections at nginx ranged ${MIN_CONNS_STEADY:-?}..$PEAK_CONNS during the run, want exactly $CONN (reconnects?)")

echo
echo "HTTP/2 soak: $CONN connections x $STREAMS streams = $USERS users (spawn rate $RATE/s) for ${DUR} s, --stop-timeout $STOP,"
echo "h2c GET $URL; nginx: 1 worker on cpu $SERVER_CPU (http2_max_concurrent_streams $NGINX_H2_STREAMS); rpcload: --threads 1, cpu ${CLIENT_CPU}"
echo "$FD_NOTE"
echo
awk -v dur="$DUR" -v reqs="$CLIENT_REQS" -v ok="$CLIENT_OK" -v fails="$CLIENT_FAILS" -v cut="$CLIENT_CUT" \
    -v acc="$ACCOUNTED" -v sall="$SERVER_ALL" -v s200="$SERVER_200" -v rc="$RC" -v wall="$WALL_S" \
    -v conns="$PEAK_CONNS" -v minc="${MIN_CONNS_STEADY:--}" -v peak="$PEAK_RSS" \
    -v u="$SU" -v s="$SS" -v n0="$N0" -v n1="$N1" -v b0="$B0" -v b1="$B1" -v t0="$T0" -v t1="$T1" \
    "$SOAK_CPU_ROWS"'BEGIN {
    row = "%-52s %s\n"
    printf row, "rpcload requests (Aggregated # reqs)", reqs
    printf row, "  successes (# reqs - # fails)", ok
    printf row, "  failures (Aggregated # fails)", fails
    printf row, "rpcload cut at the stop (stderr)", cut
    printf row, "rpcload requests + cut", acc
    printf row, "accounted for (nginx lines == requests + cut)", (acc == sall ? "yes, exactly" : "no, differ by " (sall - acc))
    printf row, "nginx access log lines (any status)", sall
    printf row, "nginx access log lines with status 200", s200
    printf row, "req/s (nginx lines / run time)", sprintf("%.0f", sall / dur)
    printf row, "rpcload exit status", rc
    printf row, "rpcload wall time (s)", wall
    printf row, "nginx established conns (min 3 s..end-1 s, max)", minc ", " conns
    cpu_rows(row, sall)
    if (peak != "-")
        printf row, "rpcload peak RSS, KiB", sprintf("%d (%.1f MiB)", peak, peak / 1024)
    else
        printf row, "rpcload peak RSS, KiB", "- (run did not finish)"
}'
soak_verdict "$verdict" "$OUT" "${why[@]}"
