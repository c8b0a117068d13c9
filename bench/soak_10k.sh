#!/usr/bin/env bash
# bench/soak_10k.sh: 10,000 concurrent keep-alive users from one rpcload against
# one nginx worker on loopback. Reports errors (must be 0), requests, peak RSS,
# idle RSS and the memory each user costs. See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-u USERS] [-r SPAWN_RATE] [-t SECONDS] [-T THREADS] [-i IDLE_SECONDS] [-k]
  -u USERS        concurrent users (default 10000)
  -r SPAWN_RATE   users started per second (default 2000)
  -t SECONDS      run time of the soak (default 30)
  -T THREADS      rpcload --threads (default 1; rpcload is pinned to cpu \$CLIENT_CPU)
  -i SECONDS      run time of the idle (-u 1) measurement (default 5)
  -k              keep the temporary directory (nginx config/log, outputs)
env: RPCLOAD (default <repo>/build/rpcload), SERVER_CPU (0), CLIENT_CPU (1; "all" = no pinning)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=10000 RATE=2000 DUR=30 THREADS=1 IDLE=5 KEEP=0
parse_options 'u:USERS r:RATE t:DUR:secs T:THREADS i:IDLE:secs k:KEEP:flag' "$@"
for v in USERS RATE DUR THREADS IDLE; do need_count "$v" "${!v}"; done
(( USERS >= 2 )) || die "-u must be at least 2"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (build it, or set RPCLOAD)"
need_tools taskset timeout curl awk ss pgrep

# One fd per user plus a few; nginx needs as many again (it inherits this limit
# and also sets worker_rlimit_nofile).
soak_fd_limit "$USERS"

work_dir soak
nginx_start "$WORK/nginx" "$FDS" "$FDS"
URL=http://127.0.0.1:$NGINX_PORT/hello
RUN_PID=
# shellcheck disable=SC2016  # expanded at exit
at_exit 'end_job "$RUN_PID"'

# run_rpcload TAG LIMIT_SECONDS ARGS... : runs rpcload under GNU time in the
# background, samples server connections and rpcload's RSS once a second.
# Sets RC, PEAK_CONNS, FULL_AT (seconds until all USERS connections were up),
# PEAK_SAMPLED_RSS (largest VmRSS seen, KiB: the kernel's high-water mark that
# GNU time reports can lag it by a few pages).
run_rpcload() {
    local tag=$1 limit=$2; shift 2
    local out=$WORK/$tag.out tf=$WORK/$tag.time t=0 c r tpid rpid
    say "running ($tag): $RPCLOAD $*"
    timed_prefix "$limit" "$tf"
    "${TIMED[@]}" "$RPCLOAD" "$@" </dev/null >"$out" 2>&1 &
    RUN_PID=$!
    PEAK_CONNS=0 FULL_AT=- PEAK_SAMPLED_RSS=0
    : >"$WORK/$tag.timeline"
    while kill -0 "$RUN_PID" 2>/dev/null; do
        sleep 1
        t=$(( t + 1 ))
        tpid=$(child_of "$RUN_PID"); rpid=
        [[ -n $tpid ]] && rpid=$(child_of "$tpid")
        c=$(server_conns)
        r=
        [[ -n $rpid ]] && r=$(rss_kib "$rpid")
        if (( c > PEAK_CONNS )); then PEAK_CONNS=$c; fi
        if [[ -n $r ]] && (( r > PEAK_SAMPLED_RSS )); then PEAK_SAMPLED_RSS=$r; fi
        if [[ $FULL_AT == - ]] && (( c >= USERS )); then FULL_AT=$t; fi
        printf 't=%3ds  server connections %6d  rpcload RSS %s KiB\n' "$t" "$c" "${r:--}" >>"$WORK/$tag.timeline"
        if (( t % 5 == 0 )); then say "  t=${t}s connections=$c rss=${r:--}KiB"; fi
    done
    RC=0; wait "$RUN_PID" || RC=$?
    RUN_PID=
    if (( RC != 0 )); then
        say "($tag) rpcload exited with status $RC; last lines of its output:"
        tail -n 15 "$out" | sed 's/^/    /' >&2
    fi
}

# ---- 1. idle rpcload: one user ----------------------------------------------
run_rpcload idle $(( IDLE + 30 )) --threads "$THREADS" -u 1 -r 1 -t "${IDLE}s" --only-summary "$URL"
IDLE_RC=$RC
IDLE_F=$(time_fields "$WORK/idle.time") || die "no GNU time figures for the idle run (rc $IDLE_RC)"
read -r _ _ IDLE_RSS <<<"$IDLE_F"
if (( PEAK_SAMPLED_RSS > IDLE_RSS )); then IDLE_RSS=$PEAK_SAMPLED_RSS; fi
sleep 1

# ---- 2. the soak ------------------------------------------------------------
log_settle
OFF=$(log_size)
N0=$(nginx_cpu) B0=$(machine_busy) T0=$(date +%s.%N) L0=$(listen_overflows)
run_rpcload soak $(( DUR + 60 )) --threads "$THREADS" -u "$USERS" -r "$RATE" -t "${DUR}s" --only-summary "$URL"
SOAK_RC=$RC
N1=$(nginx_cpu) B1=$(machine_busy) T1=$(date +%s.%N) L1=$(listen_overflows)
log_settle
SERVER_REQS=$(log_count_200 "$OFF")
CLIENT_REQS=$(client_reqs_locust_table "$WORK/soak.out")
CLIENT_FAILS=$(client_fails_locust_table "$WORK/soak.out")
SOAK_F=$(time_fields "$WORK/soak.time") || SOAK_F="- - -"
read -r SU SS PEAK_RSS <<<"$SOAK_F"
if [[ $PEAK_RSS != - ]] && (( PEAK_SAMPLED_RSS > PEAK_RSS )); then PEAK_RSS=$PEAK_SAMPLED_RSS; fi

# ---- report (stdout) --------------------------------------------------------
verdict=PASS why=()
[[ $CLIENT_FAILS == 0 ]] || { verdict=FAIL; why+=("rpcload reported ${CLIENT_FAILS} failed requests"); }
(( SOAK_RC == 0 )) || { verdict=FAIL; why+=("rpcload exit status $SOAK_RC"); }
(( SERVER_REQS > 0 )) || { verdict=FAIL; why+=("no request reached the server"); }
(( PEAK_CONNS >= USERS )) || why+=("warning: at most $PEAK_CONNS of $USERS connections seen at once")
(( L1 - L0 == 0 )) || why+=("warning: the kernel dropped $(( L1 - L0 )) connection attempts (nginx's accept queue was full); those users waited for SYN retransmits")

echo
echo "soak: $USERS users (spawn rate $RATE/s) for ${DUR} s, keep-alive GET $URL"
echo "nginx: 1 worker on cpu $SERVER_CPU; rpcload: --threads $THREADS, cpu ${CLIENT_CPU}"
echo "$FD_NOTE"
echo
awk -v users="$USERS" -v dur="$DUR" -v fails="$CLIENT_FAILS" -v sreq="$SERVER_REQS" -v creq="$CLIENT_REQS" \
    -v conns="$PEAK_CONNS" -v full="$FULL_AT" -v idle="$IDLE_RSS" -v peak="$PEAK_RSS" \
    -v u="$SU" -v s="$SS" -v rc="$SOAK_RC" -v n0="$N0" -v n1="$N1" -v b0="$B0" -v b1="$B1" \
    -v t0="$T0" -v t1="$T1" -v lo=$(( L1 - L0 )) "$SOAK_CPU_ROWS"'BEGIN {
    row = "%-48s %s\n"
    printf row, "errors (rpcload Aggregated # fails)", fails
    printf row, "rpcload exit status", rc
    printf row, "requests (status 200 in nginx access log)", sreq
    printf row, "requests (rpcload Aggregated # reqs)", creq
    printf row, "req/s (server requests / run time)", sprintf("%.0f", sreq / dur)
    printf row, "peak established connections at nginx", conns
    printf row, "all connections up after (s, 1 s samples)", full
    printf row, "accept-queue overflows (kernel ListenOverflows)", lo
    cpu_rows(row, sreq)
    printf row, "idle rpcload peak RSS (-u 1), KiB", sprintf("%d (%.1f MiB)", idle, idle / 1024)
    if (peak != "-") {
        printf row, "rpcload peak RSS, KiB", sprintf("%d (%.1f MiB)", peak, peak / 1024)
        printf row, "KiB per user beyond idle", sprintf("%.2f  = (peak - idle) / (%d - 1)", (peak - idle) / (users - 1), users)
    } else {
        printf row, "rpcload peak RSS, KiB", "- (run did not finish)"
    }
}'
soak_verdict "$verdict" "$WORK/soak.out" "${why[@]}"
