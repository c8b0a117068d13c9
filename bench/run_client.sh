#!/usr/bin/env bash
# bench/run_client.sh: runs one client against the nginx that lib.sh started
# and records its figures; sourced by http1.sh and http2.sh after lib.sh.
# The caller declares: declare -A REQS CREQS CUT CPU RSS WALL NOTE SRV OTHER;
# ORDER=(); and sets WORK, DUR, CLIENT_CPU, GNU_TIME.
# IN-FLIGHT-PARSER reads what the client says was in flight at its stop
# (no_cut when it says nothing).

no_cut() { echo 0; }

# run_client NAME CLIENT-COUNT-PARSER IN-FLIGHT-PARSER COMMAND...
# The result arrays are the caller's associative arrays (declared there, so
# the linter takes them for unused, indexed ones here).
# shellcheck disable=SC2034,SC2004
run_client() {
    local name=$1 parser=$2 inflight=$3; shift 3
    local out=$WORK/$name.out tf=$WORK/$name.time rc=0 off t0 t1 f u s m c0 c1 b0 b1
    ORDER+=("$name")
    off=$(log_size)
    c0=$(nginx_cpu) b0=$(machine_busy)
    say "running $name: $*"
    t0=$(date +%s.%N)
    timeout -k 5 $(( DUR + 60 )) \
        "$GNU_TIME" -f '%U %S %M' -o "$tf" \
        taskset -c "$CLIENT_CPU" "$@" </dev/null >"$out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    c1=$(nginx_cpu) b1=$(machine_busy)
    SRV[$name]=$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f%%", (b-a)*100/d}')
    log_settle
    REQS[$name]=$(log_count_200 "$off")
    CREQS[$name]=$($parser "$out")
    CUT[$name]=$($inflight "$out")
    WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    if f=$(time_fields "$tf"); then
        read -r u s m <<<"$f"
        CPU[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
        RSS[$name]=$m
        # busy CPU of everything but this client and nginx, per second of run
        OTHER[$name]=$(awk -v a="$b0" -v b="$b1" -v c="${CPU[$name]}" -v n0="$c0" -v n1="$c1" -v w="$t1" -v v="$t0" \
            'BEGIN{o=(b-a-c-(n1-n0))*100/(w-v); if (o<0) o=0; printf "%.0f%%", o}')
    fi
    case $rc in
        0) NOTE[$name]=ok ;;
        124|137) NOTE[$name]="timed out after $(( DUR + 60 ))s" ;;
        *) NOTE[$name]="exit status $rc" ;;
    esac
    if (( rc != 0 )); then
        say "$name exited with status $rc; last lines of its output:"
        tail -n 15 "$out" | sed 's/^/    /' >&2
    fi
    sleep 1   # let the server close the previous client's connections
}

# shellcheck disable=SC2034  # NOTE is the caller's array, as above
skip() { ORDER+=("$1"); NOTE[$1]="skipped: $2"; say "skipping $1: $2"; }
