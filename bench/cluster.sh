#!/usr/bin/env bash
# bench/cluster.sh: #17's overhead bar. The same scenario (one class, 100
# tasks, each its own request name: 100 stats entries), the same users and
# run time against one nginx, run as one process and as a master with 2
# workers (three processes on loopback), in interleaved passes. Each
# process runs under GNU time, so its CPU (user+sys, all threads) is its
# own; requests are the report's (--json-file). Prints per pass and as
# medians: CPU per request of the one process and of the cluster (master +
# workers), their ratio (the bar: at most 1.05), and the master's CPU as a
# share of the workers' (the bar: under 2%); and how busy the rest of the
# machine was (other processes' CPU, % of one core). Each of these twice:
# whole processes (start-up, ramp, stop and reports included) and the
# steady state (from 3 s into the run to 1 s before its end: each
# process's CPU from /proc, requests from nginx's access log).
# See bench/README.md.
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [-u USERS] [-t SECONDS] [-n PASSES] [-w WAIT_S] [-k]
  -u USERS    users in all (default 100; the cluster's 2 workers get half each)
  -t SECONDS  run time of each run (default 15, at least 6)
  -n PASSES   interleaved passes of (one process, cluster) (default 5)
  -w WAIT_S   each user's constant wait between requests, s (default 0.001)
  -k          keep the temporary directory
env: RPCLOAD (default <repo>/build/rpcload)
EOF
}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=100 DUR=15 PASSES=5 WAIT=0.001 KEEP=0
parse_options 'u:USERS t:DUR:secs n:PASSES w:WAIT k:KEEP:flag' "$@"
for v in USERS DUR PASSES; do need_count "$v" "${!v}"; done
RPCLOAD=${RPCLOAD:-$REPO_DIR/build/rpcload}
[[ -x $RPCLOAD ]] || die "no executable at $RPCLOAD (build it, or set RPCLOAD)"
need_tools timeout curl awk
need_gnu_time

work_dir cluster
M_PID='' W1_PID='' W2_PID='' S_PID=''
# shellcheck disable=SC2016  # expanded at exit
at_exit 'for p in $S_PID $M_PID $W1_PID $W2_PID; do end_job "$p"; done'
nginx_start "$WORK" 4096
say "nginx on 127.0.0.1:$NGINX_PORT (pid $NGINX_PID)"

SCN=$WORK/scn.yaml
{
    echo "host: http://127.0.0.1:$NGINX_PORT"
    echo "users:"
    echo "  - name: Shop"
    # in the scenario, so that the workers have it (a master's --wait is
    # its own)
    echo "    wait: {constant: $WAIT}"
    echo "    tasks:"
    for i in $(seq -w 0 99); do
        echo "      - {steps: [{http: GET /hello?n=$i, name: n$i}]}"
    done
} >"$SCN"

# requests FILE.json: the report's requests, all names.
requests() {
    "$PY" -c 'import json,sys; print(sum(e["num_requests"] for e in json.load(open(sys.argv[1]))["stats"]))' "$1"
}
# cpu FILE.time: user+sys seconds.
cpu() { time_fields "$1" | awk '{printf "%.3f", $1 + $2}'; }

COMMON=(-f "$SCN" -u "$USERS" -r "$USERS" -t "${DUR}s" --only-summary
        --stop-timeout 2s)
LIMIT=$(( DUR + 60 ))
(( DUR >= 6 )) || die "-t wants at least 6 s (a steady window of DUR - 4 s)"
calc() { awk "BEGIN{printf \"$1\", $2}"; }
# Unpinned: the cluster's three processes share the machine's cores, as the
# one process's threads do.
timed() {
    timeout -k 5 "$LIMIT" "$GNU_TIME" -f '%U %S %M' -o "$WORK/$1.time" "$RPCLOAD" "${@:2}" \
        >"$WORK/$1.out" 2>&1
}

# rl_pid JOB: the rpcload under the job's subshell, timeout and GNU time.
rl_pid() {
    local pid=$1
    for _ in 1 2 3 4; do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == rpcload ]] && break
        pid=$(child_of "$pid")
        [[ -n $pid ]] || break
    done
    echo "$pid"
}
# steady NAME JOB...: after 3 s, each JOB's rpcload CPU and nginx's lines,
# again 1 s before the end; NAME.steady holds "cpu lines" (the differences)
# and NAME.steady_m the first JOB's CPU alone.
steady() {
    local name=$1 j pid c0=0 c1=0 m0 m1 l0 l1 pids=()
    shift
    sleep 3
    for j in "$@"; do pid=$(rl_pid "$j"); pids+=("$pid"); done
    m0=$(proc_cpu "${pids[0]}") l0=$(wc -l <"$ACCESS_LOG")
    for pid in "${pids[@]}"; do c0=$(calc '%.2f' "$c0 + $(proc_cpu "$pid")"); done
    sleep $(( DUR - 4 ))
    m1=$(proc_cpu "${pids[0]}") l1=$(wc -l <"$ACCESS_LOG")
    for pid in "${pids[@]}"; do c1=$(calc '%.2f' "$c1 + $(proc_cpu "$pid")"); done
    echo "$(calc '%.2f' "$c1 - $c0") $(( l1 - l0 ))" >"$WORK/$name.steady"
    calc '%.2f' "$m1 - $m0" >"$WORK/$name.steady_m"
}

run_single() {
    local p=$1
    timed "s$p" "${COMMON[@]}" --json-file "$WORK/s$p.json" &
    S_PID=$!
    steady "s$p" "$S_PID"
    wait "$S_PID" || say "pass $p: the one process exited $? (see s$p.out, -k keeps it)"
    S_PID=''
}

run_cluster() {
    local p=$1 port
    port=$(free_port)
    timed "m$p" "${COMMON[@]}" --master --headless --expect-workers 2 \
        --expect-workers-max-wait 30 --master-bind-host 127.0.0.1 --master-bind-port "$port" \
        --json-file "$WORK/m$p.json" &
    M_PID=$!
    timed "w1_$p" --worker -f "$SCN" --master-port "$port" --stop-timeout 2s &
    W1_PID=$!
    timed "w2_$p" --worker -f "$SCN" --master-port "$port" --stop-timeout 2s &
    W2_PID=$!
    for _ in $(seq 300); do
        grep -q "ramping to" "$WORK/m$p.out" && break
        sleep 0.1
    done
    steady "c$p" "$M_PID" "$W1_PID" "$W2_PID"
    wait "$M_PID" || say "pass $p: the master exited $?"
    wait "$W1_PID" || say "pass $p: worker 1 exited $?"
    wait "$W2_PID" || say "pass $p: worker 2 exited $?"
    M_PID='' W1_PID='' W2_PID=''
}

# The rest of the machine between two machine_busy readings: its busy CPU
# less ours and nginx's, % of one core over the wall time.
other() { calc '%.0f' "($2 - $1 - ($3)) / ($5 - $4) * 100"; }

printf '%-5s %9s %9s %10s %11s %7s %9s %10s %8s %9s | %s\n' pass one_reqs cl_reqs one_us/req \
    cl_us/req ratio master_s workers_s master% other% \
    "steady: one_us/req cl_us/req ratio master%"
RATIOS=() SHARES=() OTHERS=() SUS=() CUS=() SS=() SC=() SR=() SM=()
for p in $(seq "$PASSES"); do
    b0=$(machine_busy) n0=$(nginx_cpu) t0=$(date +%s.%N)
    run_single "$p"
    b1=$(machine_busy) n1=$(nginx_cpu) t1=$(date +%s.%N)
    run_cluster "$p"
    b2=$(machine_busy) n2=$(nginx_cpu) t2=$(date +%s.%N)
    sreq=$(requests "$WORK/s$p.json") creq=$(requests "$WORK/m$p.json")
    scpu=$(cpu "$WORK/s$p.time") mcpu=$(cpu "$WORK/m$p.time")
    wcpu=$(calc '%.3f' "$(cpu "$WORK/w1_$p.time") + $(cpu "$WORK/w2_$p.time")")
    sus=$(calc '%.2f' "$scpu / $sreq * 1e6")
    cus=$(calc '%.2f' "($mcpu + $wcpu) / $creq * 1e6")
    ratio=$(calc '%.3f' "$cus / $sus")
    share=$(calc '%.2f' "$mcpu / $wcpu * 100")
    o1=$(other "$b0" "$b1" "$scpu + $n1 - $n0" "$t0" "$t1")
    o2=$(other "$b1" "$b2" "$mcpu + $wcpu + $n2 - $n1" "$t1" "$t2")
    read -r sc sl <"$WORK/s$p.steady"
    read -r cc cl <"$WORK/c$p.steady"
    cm=$(cat "$WORK/c$p.steady_m")
    ss=$(calc '%.2f' "$sc / $sl * 1e6") scl=$(calc '%.2f' "$cc / $cl * 1e6")
    sr=$(calc '%.3f' "$scl / $ss") sm=$(calc '%.2f' "$cm / ($cc - $cm) * 100")
    printf '%-5s %9s %9s %10s %11s %7s %9s %10s %8s %9s | %s %s %s %s\n' "$p" "$sreq" "$creq" \
        "$sus" "$cus" "$ratio" "$mcpu" "$wcpu" "$share" "$o1/$o2" "$ss" "$scl" "$sr" "$sm"
    RATIOS+=("$ratio") SHARES+=("$share") OTHERS+=("$o1" "$o2") SUS+=("$sus") CUS+=("$cus")
    SS+=("$ss") SC+=("$scl") SR+=("$sr") SM+=("$sm")
done

median() {
    printf '%s\n' "$@" | sort -g |
        awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
echo
echo "medians of $PASSES passes ($USERS users, a constant ${WAIT} s wait, ${DUR} s, 100 request names):"
echo "  CPU per request: one process $(median "${SUS[@]}") us," \
     "master + 2 workers $(median "${CUS[@]}") us"
echo "  ratio (bar: at most 1.05): $(median "${RATIOS[@]}")"
echo "  master's CPU / workers' CPU (bar: under 2%): $(median "${SHARES[@]}")%"
echo "steady state (3 s in to 1 s before the end; requests from nginx's log):"
echo "  CPU per request: one process $(median "${SS[@]}") us," \
     "master + 2 workers $(median "${SC[@]}") us, ratio $(median "${SR[@]}")"
echo "  master's CPU / workers' CPU: $(median "${SM[@]}")%"
echo "  the rest of the machine: median $(median "${OTHERS[@]}")% of one core busy" \
     "($(nproc) cores; load average at the end $(cut -d' ' -f1-3 /proc/loadavg))"
