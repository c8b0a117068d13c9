#!/usr/bin/env bash
# bench/shapes.sh: the open model's bar (issue #15) against one nginx worker
# on loopback. See bench/README.md, "shapes.sh".
#   1. rate accuracy: rpcload --rate R for D seconds; nginx's own request
#      counter (stub_status, read every second) gives the rate it saw,
#      overall and second by second;
#   2. cost: CPU per request of --rate R against the closed model at the
#      same throughput (-u U --wait throughput:R/U), over P interleaved
#      passes, medians and the pairwise ratio;
#   3. wrk2 (-R) on the same server when installed, else a note.
# shellcheck disable=SC2317,SC2034  # measure_client and lib.sh read DUR, KEEP
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-R RATE] [-d SECONDS] [-p PASSES] [-D SECONDS] [-u USERS] [-m POOL] [-k]
  -R RATE     arrivals per second (default 50000)
  -d SECONDS  the accuracy run's length (default 60)
  -p PASSES   interleaved cost passes, open then closed (default 3)
  -D SECONDS  each cost run's length (default 15)
  -u USERS    the closed model's users in the cost runs (default 50)
  -m POOL     the open model's --max-inflight (default 200: nginx answers
              in well under a millisecond; rpcload's default, 0.2 s of the
              rate, would open up to 10,000 connections when the client
              falls behind)
  -k          keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload), WRK2 (default wrk2),
     SERVER_CPU (0), CLIENT_CPU (1)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=50000 ACC_DUR=60 PASSES=3 COST_DUR=15 USERS=50 POOL=200 KEEP=0
parse_options 'R:RATE d:ACC_DUR:secs p:PASSES D:COST_DUR:secs u:USERS m:POOL k:KEEP:flag' "$@"
need_count -R "$RATE"
need_count -d "$ACC_DUR" "whole seconds"
need_count -p "$PASSES"
need_count -D "$COST_DUR" "whole seconds"
need_count -u "$USERS"

RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
WRK2=${WRK2:-wrk2}
need_tools taskset timeout curl awk
raise_fd_limit
have_rpcload || die "no rpcload at $RPCLOAD (build it first)"

work_dir shapes
nginx_start "$WORK/nginx" 20000
URL=http://127.0.0.1:$NGINX_PORT/hello

# nginx's count of requests so far (stub_status's third number; each read
# is itself one request, subtracted by the caller).
nginx_requests() {
    curl -fsS --max-time 1 "http://127.0.0.1:$NGINX_PORT/nginx_status" |
        awk 'NR == 3 {print $3}'
}

# ---- 1. rate accuracy --------------------------------------------------------
DUR=$ACC_DUR
say "accuracy: --rate $RATE for ${ACC_DUR}s, nginx's counter read every second"
SAMPLES=$WORK/samples.txt
: >"$SAMPLES"
(
    # One read a second on the second, with its time: the client's run is
    # bracketed by reads before and after.
    for _ in $(seq $(( ACC_DUR + 4 ))); do
        printf '%s %s\n' "$(date +%s.%N)" "$(nginx_requests)" >>"$SAMPLES"
        sleep 1
    done
) &
SAMPLER=$!
at_exit "end_job $SAMPLER"
sleep 1.5
measure_client rate -- "${PIN[@]}" "$RPCLOAD" --threads 1 --rate "$RATE" \
    --max-inflight "$POOL" -t "${ACC_DUR}s" \
    --only-summary --json "$URL"
wait "$SAMPLER" 2>/dev/null || true
ACC=$(awk -v r="$RATE" -v d="$ACC_DUR" '
    { t[NR] = $1; n[NR] = $2 - (NR - 1) }   # each read counted itself
    END {
        # seconds where the count grew: the run; drop the first and last
        # (partial) and judge the whole ones between.
        first = 0; last = 0
        for (i = 2; i <= NR; i++) if (n[i] > n[i-1]) { if (!first) first = i; last = i }
        worst = 0; seconds = 0
        for (i = first + 1; i < last; i++) {
            rate = (n[i] - n[i-1]) / (t[i] - t[i-1])
            dev = (rate - r) / r; if (dev < 0) dev = -dev
            if (dev > worst) worst = dev
            seconds++
        }
        total = n[NR] - n[1]
        printf "%d %.4f %.4f %d\n", total, (total / d - r) / r, worst, seconds
    }' "$SAMPLES")
read -r ACC_TOTAL ACC_DEV ACC_WORST ACC_SECONDS <<<"$ACC"
DROPPED=$(awk '/"iterations_dropped"/ {gsub(/[^0-9]/, "", $2); print $2; exit}' "$WORK/rate.out")

# ---- 2. cost against the closed model ---------------------------------------
DUR=$COST_DUR
PER_USER=$(awk -v r="$RATE" -v u="$USERS" 'BEGIN{printf "%.6g", r / u}')
declare -a OPEN_US CLOSED_US RATIOS
for p in $(seq "$PASSES"); do
    run_nginx_client "open$p" client_reqs_locust_table no_cut "${PIN[@]}" "$RPCLOAD" \
        --threads 1 --rate "$RATE" --max-inflight "$POOL" -t "${COST_DUR}s" --only-summary "$URL"
    run_nginx_client "closed$p" client_reqs_locust_table no_cut "${PIN[@]}" "$RPCLOAD" \
        --threads 1 -u "$USERS" -r $(( USERS * 100 )) --wait "throughput:$PER_USER" \
        -t "${COST_DUR}s" --only-summary "$URL"
    o=$(us_per "open$p" 3) c=$(us_per "closed$p" 3)
    OPEN_US+=("$o") CLOSED_US+=("$c")
    RATIOS+=("$(awk -v o="$o" -v c="$c" 'BEGIN{printf "%.3f", o / c}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# ---- 3. wrk2 ------------------------------------------------------------------
WRK2_NOTE="wrk2 is not installed (neither Debian 12 nor the npm registry carries it): no side-by-side"
if command -v "$WRK2" >/dev/null 2>&1; then
    DUR=$ACC_DUR
    run_nginx_client wrk2 client_reqs_wrk no_cut "${PIN[@]}" "$WRK2" -t1 -c"$USERS" \
        -d"${ACC_DUR}s" -R"$RATE" --latency "$URL"
    WRK2_NOTE="wrk2: ${REQS[wrk2]} requests in ${ACC_DUR}s ($(us_per wrk2 3) CPU us/req); its percentiles in $WORK/wrk2.out"
fi

# ---- the report (stdout) -------------------------------------------------------
echo
echo "open model against nginx (1 worker, cpu $SERVER_CPU), rpcload --threads 1 on cpu $CLIENT_CPU"
echo
echo "1. rate accuracy, --rate $RATE for ${ACC_DUR}s (nginx's stub_status counter, read each second):"
printf '   requests %s, overall %+.2f%% of the target; worst of %s whole seconds %.2f%%; dropped %s\n' \
    "$ACC_TOTAL" "$(awk -v x="$ACC_DEV" 'BEGIN{print x * 100}')" "$ACC_SECONDS" \
    "$(awk -v x="$ACC_WORST" 'BEGIN{print x * 100}')" "${DROPPED:-?}"
echo
echo "2. CPU per request, --rate $RATE against -u $USERS --wait throughput:$PER_USER (same target), $PASSES passes of ${COST_DUR}s:"
for i in "${!RATIOS[@]}"; do
    printf '   pass %d: open %s us/req (%s req), closed %s us/req (%s req), open/closed %sx\n' \
        $(( i + 1 )) "${OPEN_US[$i]}" "${REQS[open$(( i + 1 ))]}" "${CLOSED_US[$i]}" \
        "${REQS[closed$(( i + 1 ))]}" "${RATIOS[$i]}"
done
MED=$(median "${RATIOS[@]}")
echo "   median open/closed: ${MED}x"
echo
echo "3. $WRK2_NOTE"
echo
ABS_DEV=$(awk -v x="$ACC_DEV" 'BEGIN{if (x < 0) x = -x; print x * 100}')
bar "rate within 1% overall (|deviation| in %)" "$ABS_DEV" "<=" 1
bar "every whole second within 2% (worst, in %)" "$(awk -v x="$ACC_WORST" 'BEGIN{print x * 100}')" "<=" 2
bar "CPU per request, open/closed" "$MED" "<=" 1.05
exit "$BAR_FAIL"
