# shellcheck shell=bash
# Helpers shared by bench/*.sh (sourced, not run): options, limits, the
# temporary directory, servers (nginx here; the scripts that start another
# one use start_on_free_port or wait_up, and stop_pid), one measured client
# run, the clients' own counts, and the comparison table.
#
# Everything here targets 127.0.0.1 only, asks the kernel for free ports and
# only ever signals processes whose PID it recorded when starting them.
#
# A script defines usage() (for -h and bad options), then sources this file.
# (The linter takes the result arrays below for unused, or for indexed ones;
# nginx_on reads nginx_start's locals.)
# shellcheck disable=SC2034,SC2004,SC2154

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

# Debian's python carries locust; a python3 earlier on PATH may not.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

NGINX_BIN=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
GNU_TIME=/usr/bin/time

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# How a client is pinned: CLIENT_CPU=all (the soaks) leaves it unpinned.
if [[ $CLIENT_CPU == all ]]; then PIN=(); else PIN=(taskset -c "$CLIENT_CPU"); fi

NGINX_PID=
NGINX_PORT=
ACCESS_LOG=

# The figures of each client run, by client name (measure_client and the
# run_*_client functions fill them; client_table prints them), and the
# clients in the order they ran.
declare -A REQS CREQS CUT CPU RSS WALL NOTE SRV OTHER
ORDER=()

say() { printf '%s\n' "$*" >&2; }          # progress: stderr
die() { say "error: $*"; exit 2; }

# ---- options, tools, limits -------------------------------------------------

# parse_options SPEC "$@": getopts over SPEC, words "L:VAR" (option -L with a
# value, into VAR), "L:VAR:secs" (the same, a trailing "s" dropped: -d 30s
# is -d 30) or "L:VAR:flag" (no value: VAR=1). -h prints usage and exits 0;
# any other option, or one missing its value, prints usage on stderr and
# exits 2.
parse_options() {
    local optstring=h word letter var kind opt OPTARG OPTIND=1 words
    local -A var_of kind_of
    read -r -a words <<<"$1"
    shift
    for word in "${words[@]}"; do
        IFS=: read -r letter var kind <<<"$word"
        var_of[$letter]=$var kind_of[$letter]=$kind
        if [[ $kind == flag ]]; then optstring+=$letter; else optstring+=$letter:; fi
    done
    while getopts "$optstring" opt; do
        if [[ $opt == h ]]; then usage; exit 0; fi
        [[ -n ${var_of[$opt]:-} ]] || { usage >&2; exit 2; }
        case ${kind_of[$opt]} in
            flag) printf -v "${var_of[$opt]}" 1 ;;
            secs) printf -v "${var_of[$opt]}" '%s' "${OPTARG%s}" ;;
            *) printf -v "${var_of[$opt]}" '%s' "$OPTARG" ;;
        esac
    done
}

# need_count NAME VALUE [WHAT]: dies unless VALUE is a whole number >= 1
# ("NAME wants WHAT, got 'VALUE'"; WHAT defaults to "a positive integer").
need_count() {
    [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 wants ${3:-a positive integer}, got '$2'"
}

# need_cmds HINT CMD...: dies naming the first CMD not on PATH, followed by
# HINT when there is one (%s in HINT stands for the command).
need_cmds() {
    local hint=$1 t; shift
    for t in "$@"; do
        # shellcheck disable=SC2059  # HINT is a format
        command -v "$t" >/dev/null 2>&1 || die "'$t' not found${hint:+ $(printf "$hint" "$t")}"
    done
}

need_gnu_time() {
    [[ -x $GNU_TIME ]] || die "$GNU_TIME not found: apt-get install time"
}

# need_tools CMD...: what the nginx scripts need: CMD..., GNU time, nginx.
need_tools() {
    need_cmds '(apt-get install %s?)' "$@"
    need_gnu_time
    [[ -x $NGINX_BIN ]] || die "nginx not found: apt-get install nginx-light"
}

# The open-files limit up to 20000 (or the hard limit).
raise_fd_limit() {
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
}

# need_fds N WHAT: dies unless the open-files limit leaves room for N WHAT
# (connections, users) and 100 files more.
need_fds() {
    (( $(ulimit -n) > $1 + 100 )) || die "open-files limit $(ulimit -n) too low for $1 $2"
}

# soak_fd_limit N: the soft open-files limit raised to FDS: 20000, or N +
# 1000 when 20000 does not leave 100 beyond N (nginx inherits it and takes it
# for worker_rlimit_nofile). Sets FD_NOTE, which the soak's report prints.
soak_fd_limit() {
    local old
    old=$(ulimit -Sn)
    FDS=20000
    (( FDS >= $1 + 100 )) || FDS=$(( $1 + 1000 ))
    if ! ulimit -Sn "$FDS" 2>/dev/null; then
        die "cannot raise the soft open-files limit to $FDS (hard limit $(ulimit -Hn))"
    fi
    FD_NOTE="soft open-files limit raised with 'ulimit -n $FDS' (was $old, hard $(ulimit -Hn))"
    say "$FD_NOTE"
}

# ---- the temporary directory, and what to undo at exit ----------------------

AT_EXIT=()
# at_exit COMMAND: evaluate COMMAND at exit (before those given earlier), so
# that it sees the variables as they are then ('end_job "$RUN_PID"').
at_exit() { AT_EXIT=("$1" "${AT_EXIT[@]}"); }

# work_dir NAME: WORK, a new directory for this run's files, removed at exit
# unless KEEP=1; on exit (also on error or Ctrl-C) the at_exit commands run
# first.
work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rpcload-bench-$1.XXXXXX")
    trap bench_exit EXIT
    trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317  # called by the EXIT trap
bench_exit() {
    local c
    for c in "${AT_EXIT[@]}"; do eval "$c"; done
    if (( KEEP )); then say "kept $WORK"; else rm -rf "$WORK"; fi
}

# end_job PID: a client job we started in the background (empty or gone:
# nothing to do) gets SIGTERM (timeout(1) passes it on) and is reaped.
end_job() {
    if [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

# ---- servers ----------------------------------------------------------------

# Print a TCP port on 127.0.0.1 that the kernel says is free right now.
free_port() {
    if [[ -n $PY ]]; then
        "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
    else
        # no python: probe the ephemeral range with bash's /dev/tcp
        local p
        for _ in $(seq 200); do
            p=$(( 20000 + RANDOM % 10000 ))
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
        done
        die "no free port found"
    fi
}

# start_on_free_port NAME START STOP LOG...: up to 5 times, START PORT on a
# free port (it starts the server and returns 0 once it answers there); when
# it did not come up (port taken meanwhile?), STOP, say so with the last
# lines of the LOG files, and try another port.
start_on_free_port() {
    local name=$1 start=$2 stop=$3 attempt port; shift 3
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        "$start" "$port" && return 0
        "$stop"
        say "$name did not start on port $port (attempt $attempt):"
        tail -n 3 "$@" >&2 2>/dev/null || true
    done
    die "could not start $name"
}

# wait_up PID TRIES PAUSE PROBE...: PROBE until it succeeds (0), at most
# TRIES times PAUSE seconds apart; 1 when it never did or PID ended first.
wait_up() {
    local pid=$1 tries=$2 pause=$3; shift 3
    for _ in $(seq "$tries"); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$@" && return 0
        sleep "$pause"
    done
    return 1
}

# stop_pid PID [TENTHS]: stops a server we started, by its PID: SIGTERM, up
# to TENTHS tenths of a second (default 50) to end, then SIGKILL; reaps it.
stop_pid() {
    local pid=$1 tenths=${2:-50}
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq "$tenths"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    wait "$pid" 2>/dev/null || true
}

# CPU seconds (user+sys, all threads) process $1 has used so far.
proc_cpu() {
    sed 's/.*) //' "/proc/$1/stat" |
        awk -v h="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / h}'
}

# ---- nginx ------------------------------------------------------------------

# nginx_start WORKDIR WORKER_CONNECTIONS [RLIMIT_NOFILE (default 20000)] [PROTO]
# Writes WORKDIR/nginx.conf, starts nginx pinned to $SERVER_CPU, in the
# foreground of a background job so that $! is the master's PID. Sets
# NGINX_PID, NGINX_PORT, ACCESS_LOG; stopped at exit.
# PROTO: "http1" (default) or "h2c": HTTP/2 over cleartext by prior knowledge
# only (nginx 1.22's `listen ... http2` without ssl), with
# http2_max_concurrent_streams $NGINX_H2_STREAMS (default 128, nginx's own).
# In nginx 1.22 keepalive_requests also caps the requests of one HTTP/2
# connection (it replaced http2_max_requests), so h2c raises it to 10^9.
NGINX_H2_STREAMS=${NGINX_H2_STREAMS:-128}
nginx_start() {
    local dir=$1 wconn=$2 nofile=${3:-20000} proto=${4:-http1}
    local listen_opts='' h2_conf='' keepalive_requests=1000000 probe=(curl -fsS)
    case $proto in
        http1) ;;
        h2c)
            listen_opts=' http2'
            h2_conf="http2_max_concurrent_streams $NGINX_H2_STREAMS;"
            keepalive_requests=1000000000
            probe=(curl -fsS --http2-prior-knowledge) ;;
        *) die "nginx_start: unknown protocol '$proto' (want http1 or h2c)" ;;
    esac
    mkdir -p "$dir/tmp"
    at_exit nginx_stop
    # nginx_on PORT sees nginx_start's locals (bash's dynamic scope)
    start_on_free_port nginx nginx_on nginx_stop "$dir/error.log" "$dir/nginx.stdout"
}

nginx_on() {
    local port=$1
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections $wconn;
    multi_accept on;    # drain the accept queue on each wake-up (10k users)
}
http {
    # One short line per request, buffered: the requests the server answered
    # are counted from this log (same ground truth for every client).
    log_format bench '\$status';
    access_log $dir/access.log bench buffer=256k flush=1s;
    keepalive_requests $keepalive_requests;
    keepalive_timeout 300s;
    $h2_conf
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096$listen_opts;
        location /hello {
            default_type text/plain;
            return 200 "hello world\n";
        }
        location = /nginx_status {
            access_log off;
            stub_status;
        }
    }
}
EOF
    : >"$dir/access.log"
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" \
        -g 'daemon off;' </dev/null >"$dir/nginx.stdout" 2>&1 &
    NGINX_PID=$!
    wait_up "$NGINX_PID" 50 0.1 \
        "${probe[@]}" -o /dev/null --max-time 1 "http://127.0.0.1:$port/nginx_status" 2>/dev/null || return 1
    NGINX_PORT=$port ACCESS_LOG=$dir/access.log
    say "nginx pid $NGINX_PID on 127.0.0.1:$port ($proto, cpu $SERVER_CPU), prefix $dir"
}

nginx_stop() {
    [[ -n $NGINX_PID ]] || return 0
    stop_pid "$NGINX_PID"
    NGINX_PID=
}

# Wait until nginx's buffered access log is flushed (flush=1s) and stable.
log_settle() {
    local a b
    sleep 1.2
    a=$(stat -c %s "$ACCESS_LOG")
    for _ in $(seq 20); do
        sleep 0.3
        b=$(stat -c %s "$ACCESS_LOG")
        [[ $a == "$b" ]] && return 0
        a=$b
    done
}

log_size() { stat -c %s "$ACCESS_LOG"; }

# log_count_200 OFFSET: number of "200" lines written after byte OFFSET.
log_count_200() {
    tail -c +$(( $1 + 1 )) "$ACCESS_LOG" | grep -c '^200$' || true
}

# log_count_all OFFSET: number of lines (any status) written after byte OFFSET.
log_count_all() {
    tail -c +$(( $1 + 1 )) "$ACCESS_LOG" | wc -l
}

# Established server-side connections on the nginx port right now.
server_conns() {
    ss -Htn state established "( sport = :$NGINX_PORT )" 2>/dev/null | wc -l
}

# CPU seconds (user+sys) used so far by nginx's worker(s), children of NGINX_PID.
nginx_cpu() {
    local tck total=0 p
    tck=$(getconf CLK_TCK)
    for p in $(pgrep -P "$NGINX_PID" 2>/dev/null || true); do
        # fields 14 and 15 of /proc/PID/stat (after the ")" of the comm field)
        total=$(( total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}') ))
    done
    awk -v t="$total" -v h="$tck" 'BEGIN{printf "%.2f", t / h}'
}

# ---- the machine ------------------------------------------------------------

# CPU seconds the whole machine has been busy (all cores; user nice system irq
# softirq steal from /proc/stat): used to see how much other processes ran.
machine_busy() {
    awk -v h="$(getconf CLK_TCK)" '$1=="cpu" {printf "%.2f", ($2+$3+$4+$7+$8+$9) / h; exit}' /proc/stat
}

# Kernel counter TcpExt ListenOverflows: connections dropped because a listen
# socket's accept queue was full (machine-wide; the client retries the SYN
# after 1 s, 3 s, 7 s...).
listen_overflows() {
    awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 }
                      else for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' /proc/net/netstat
}

# first child PID of $1 (timeout -> time -> rpcload)
child_of() { pgrep -P "$1" 2>/dev/null | head -n 1 || true; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }

# ---- one client run, measured -----------------------------------------------

# timed_prefix LIMIT TIMEFILE [SIGNAL]: sets TIMED, what a measured command
# runs under: timeout (SIGNAL, default TERM, after LIMIT s; KILL 5 s later),
# GNU time (user s, sys s, peak RSS KiB into TIMEFILE) and the client's pin.
# An array, not a function, so that a background job's $! is timeout's PID.
timed_prefix() {
    TIMED=(timeout -k 5 -s "${3:-TERM}" "$1" "$GNU_TIME" -f '%U %S %M' -o "$2" "${PIN[@]}")
}

# Parse "U S M" (user s, sys s, max RSS KiB) from a GNU time -o file; the
# last line holds the format (a "Command exited with ..." line may precede).
time_fields() {
    [[ -s $1 ]] || return 1
    tail -n 1 "$1" | awk 'NF==3 && $1 ~ /^[0-9.]+$/ {print; ok=1} END{exit !ok}'
}

# measure_client NAME [OPTION...] -- COMMAND...
# Runs COMMAND alone (output into $WORK/NAME.out, bounded by DUR + 60 s) and
# records NAME in ORDER and its figures: WALL, CPU (user+sys), RSS (peak),
# SRV (the server's CPU during the run / DUR), OTHER (every other process's
# busy CPU, % of one core) and NOTE (ok, timed out, exit status); RC is its
# exit status. Then waits 1 s, to let the server close its connections.
# Options:
#   --server-cpu FN  the server's CPU seconds so far (default nginx_cpu)
#   --sigint-ends    the client runs until SIGINT at DUR s, its normal end
#   --midway FN      FN NAME runs halfway through the run (the client is
#                    then a background job, CLIENT_PID)
measure_client() {
    local name=$1 cpu_fn=nginx_cpu midway='' limit=$(( DUR + 60 )) sig=TERM
    local out tf t0 t1 c0 c1 b0 b1 f u s m
    shift
    while (( $# )); do
        case $1 in
            --server-cpu) cpu_fn=$2; shift 2 ;;
            --sigint-ends) limit=$DUR sig=INT; shift ;;
            --midway) midway=$2; shift 2 ;;
            --) shift; break ;;
            *) die "measure_client: unknown option '$1'" ;;
        esac
    done
    out=$WORK/$name.out tf=$WORK/$name.time RC=0
    ORDER+=("$name")
    timed_prefix "$limit" "$tf" "$sig"
    c0=$("$cpu_fn") b0=$(machine_busy)
    say "running $name: $*"
    t0=$(date +%s.%N)
    if [[ -z $midway ]]; then
        # timeout signals its whole process group; GNU time ignores SIGINT
        # while it waits, so the client gets it and time still reports the
        # client's CPU.
        "${TIMED[@]}" "$@" </dev/null >"$out" 2>&1 || RC=$?
    else
        "${TIMED[@]}" "$@" </dev/null >"$out" 2>&1 &
        CLIENT_PID=$!
        sleep "$(awk -v d="$DUR" 'BEGIN{print d / 2}')"
        "$midway" "$name"
        wait "$CLIENT_PID" || RC=$?
        CLIENT_PID=
    fi
    t1=$(date +%s.%N)
    c1=$("$cpu_fn") b1=$(machine_busy)
    SRV[$name]=$(awk -v a="$c0" -v b="$c1" -v d="$DUR" 'BEGIN{printf "%.0f%%", (b-a)*100/d}')
    WALL[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    if f=$(time_fields "$tf"); then
        read -r u s m <<<"$f"
        CPU[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
        RSS[$name]=$m
        # busy CPU of everything but this client and the server, per second of run
        OTHER[$name]=$(awk -v a="$b0" -v b="$b1" -v c="${CPU[$name]}" -v n0="$c0" -v n1="$c1" -v w="$t1" -v v="$t0" \
            'BEGIN{o=(b-a-c-(n1-n0))*100/(w-v); if (o<0) o=0; printf "%.0f%%", o}')
    fi
    if [[ $sig == INT && $RC == 124 ]]; then RC=0; fi
    case $RC in
        0) NOTE[$name]=ok ;;
        124|137) NOTE[$name]="timed out after ${limit}s" ;;
        *) NOTE[$name]="exit status $RC" ;;
    esac
    if (( RC != 0 )); then
        say "$name exited with status $RC; last lines of its output:"
        tail -n 15 "$out" | sed 's/^/    /' >&2
    fi
    sleep 1
}

# run_nginx_client NAME CLIENT-COUNT-PARSER IN-FLIGHT-PARSER COMMAND...
# measure_client against the nginx of nginx_start; REQS: the status-200
# lines nginx logged meanwhile; CREQS and CUT: what the parsers read in the
# client's output (no_cut for a client that does not say what was in flight).
run_nginx_client() {
    local name=$1 parser=$2 inflight=$3 off; shift 3
    off=$(log_size)
    measure_client "$name" -- "$@"
    log_settle
    REQS[$name]=$(log_count_200 "$off")
    CREQS[$name]=$($parser "$WORK/$name.out")
    CUT[$name]=$($inflight "$WORK/$name.out")
}

# run_clients WANTED ALL: runs the clients WANTED names (comma-separated,
# in that order), each through the script's function client_NAME (a "-" in
# NAME as "_"); dies on a name that is not in ALL (comma-separated).
run_clients() {
    local c want
    IFS=, read -r -a want <<<"$1"
    for c in "${want[@]}"; do
        [[ ,$2, == *,"$c",* ]] || die "unknown client '$c' (want ${2//,/, })"
        "client_${c//-/_}"
    done
}

# skip NAME WHY: NAME's row says it was skipped, and why.
skip() { ORDER+=("$1"); NOTE[$1]="skipped: $2"; say "skipping $1: $2"; }

# have_rpcload: whether $RPCLOAD can run; if not, skips rpcload.
have_rpcload() {
    [[ -x $RPCLOAD ]] && return 0
    skip rpcload "no executable at $RPCLOAD (set RPCLOAD)"
    return 1
}

# have_rpcload_plugin PLUGIN WHY: have_rpcload, and PLUGIN.so is in
# $RPCLOAD_PLUGIN_DIR; if not, skips rpcload saying WHY.
have_rpcload_plugin() {
    have_rpcload || return 1
    [[ -e $RPCLOAD_PLUGIN_DIR/$1.so ]] && return 0
    skip rpcload "$2"
    return 1
}

# have_cmd NAME CMD [HINT]: whether CMD is on PATH; if not, skips client
# NAME ("'CMD' not found (HINT)").
have_cmd() {
    command -v "$2" >/dev/null 2>&1 && return 0
    skip "$1" "'$2' not found${3:+ ($3)}"
    return 1
}

# ---- hello_server (examples/hello): start, ask, stop (by its PID) -----------
# For the gRPC scripts (grpc.sh, grpc_stream.sh), which set HELLO_SERVER.
HELLO_PID=
HELLO_PORT=

# hello_start OUT: hello_server pinned to $SERVER_CPU, one thread, on a port
# the kernel picks (it prints "listening on 127.0.0.1:PORT" once it accepts
# calls), in the foreground of a background job so that $! is its PID.
hello_start() {
    local out=$1
    : >"$out"
    taskset -c "$SERVER_CPU" "$HELLO_SERVER" --port 0 --threads 1 --grace 1 \
        </dev/null >"$out" 2>"$out.err" &
    HELLO_PID=$!
    if ! wait_up "$HELLO_PID" 100 0.05 hello_port "$out"; then
        tail -n 5 "$out.err" >&2 2>/dev/null || true
        hello_stop
        die "hello_server did not start"
    fi
    say "hello_server pid $HELLO_PID on 127.0.0.1:$HELLO_PORT (cpu $SERVER_CPU)"
}

# hello_port OUT: HELLO_PORT from hello_server's "listening on" line, once
# it is there (called by wait_up).
hello_port() {
    HELLO_PORT=$(awk '/^listening on / {n = split($3, a, ":"); print a[n]; exit}' "$1")
    [[ -n $HELLO_PORT ]]
}

# SIGTERM: it takes no new calls, finishes those in flight (the client is gone
# by then, so there are none left to wait for) and prints its counts.
hello_stop() {
    [[ -n $HELLO_PID ]] || return 0
    stop_pid "$HELLO_PID" 100
    HELLO_PID=
}

# CPU seconds (user+sys, all threads) hello_server has used so far (called
# by measure_client).
hello_cpu() { proc_cpu "$HELLO_PID"; }

# hello_count OUT FIELD: from its exit lines "calls served: N (hello ok A,
# hello error status B, reflection R, unimplemented U), failed F" and
# "stream calls served: S (ok O, error status E), failed G; messages
# received R, sent W": ok (A), errors (B + U), failed (F), stream_ok (O),
# stream_failed (G), msgs_in (R), msgs_out (W); "-" when the line is
# missing.
hello_count() {
    awk -v f="$2" '/^calls served: / {
        line = $0; gsub(/[(),]/, " ", line); split(line, w, " ")
        for (i = 1; i in w; i++) {
            if (w[i] == "ok") ok = w[i + 1]
            if (w[i] == "status") st = w[i + 1]
            if (w[i] == "unimplemented") un = w[i + 1]
            if (w[i] == "failed") fl = w[i + 1]
        }
        seen = 1
    }
    /^stream calls served: / {
        line = $0; gsub(/[(),;]/, " ", line); split(line, w, " ")
        for (i = 1; i in w; i++) {
            if (w[i] == "ok") sok = w[i + 1]
            if (w[i] == "failed") sfl = w[i + 1]
            if (w[i] == "received") min = w[i + 1]
            if (w[i] == "sent") mout = w[i + 1]
        }
        sseen = 1
    } END {
        if (f ~ /^(stream|msgs)/ ? !sseen : !seen) { print "-"; exit }
        if (f == "ok") print ok + 0; else if (f == "errors") print st + un
        else if (f == "failed") print fl + 0; else if (f == "stream_ok") print sok + 0
        else if (f == "stream_failed") print sfl + 0; else if (f == "msgs_in") print min + 0
        else print mout + 0
    }' "$1"
}

# ---- what the clients say ---------------------------------------------------

no_cut() { echo 0; }

# Requests reported by the client itself, from its own output file.
client_reqs_locust_table() {   # Locust's (and rpcload's) Aggregated row: "# reqs"
    awk '$1=="Aggregated" && $3 ~ /^[0-9]+\(/ {n=$2} END{print (n==""?"-":n)}' "$1"
}
client_fails_locust_table() {
    awk '$1=="Aggregated" && $3 ~ /^[0-9]+\(/ {f=$3; sub(/\(.*/,"",f)} END{print (f==""?"-":f)}' "$1"
}
# h2load's "requests: T total, S started, D done, OK succeeded, ..." line.
client_reqs_h2load() {         # succeeded
    awk '$1=="requests:" && $3=="total," {n=$8} END{print (n==""?"-":n)}' "$1"
}
client_inflight_h2load() {     # started but not done when the run ended
    awk '$1=="requests:" && $3=="total," {n=$4-$6} END{print (n==""?"-":n)}' "$1"
}
# rpcload's stderr line "N request(s) in flight at the stop were cut ...";
# no such line: none were cut.
client_cut_rpcload() {
    awk '/request\(s\) in flight at the stop were cut/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) {n=$i; break}}
         END{print (n==""?0:n)}' "$1"
}
client_reqs_wrk() {
    awk '/ requests in / {n=$1} END{print (n==""?"-":n)}' "$1"
}

# ---- the comparison table ---------------------------------------------------

# us_per NAME [DECIMALS]: NAME's client CPU per request (or call), in
# microseconds with DECIMALS (default 6) decimals; fails when NAME has no CPU
# figure or served nothing.
us_per() {
    [[ -n ${CPU[$1]:-} && ${REQS[$1]:-0} -gt 0 ]] || return 1
    awk -v c="${CPU[$1]}" -v n="${REQS[$1]}" -v p="${2:-6}" 'BEGIN{printf("%." p "f", c*1e6/n)}'
}

# client_table NAME_WIDTH UNIT SERVER SERVER_WHAT [ARRAY:HEADER:WIDTH]...
# One row (stdout) per client of ORDER: its name; the UNITs ("request" or
# "call") the server counted (REQS) and the client's own count (CREQS); the
# extra columns, each from the array ARRAY under HEADER, WIDTH wide; UNITs/s
# over DUR; CPU, wall time, CPU us per UNIT, peak RSS, CPU per UNIT and RSS
# as ratios to rpcload's; the server's CPU (SRV) under SERVER; other
# processes' CPU; the note. Then what the ratio, SERVER and other columns
# mean (SERVER_WHAT: the server process, e.g. "nginx's worker").
client_table() {
    local namew=$1 unit=$2 server=$3 server_what=$4; shift 4
    local units short rate col arr head w c base_us='' base_rss='' rps cpu us mib usx rssx note
    local -a heads widths arrays vals dashes
    case $unit in
        request) units=requests short=req rate=req/s ;;
        call) units=calls short=call rate=calls/s ;;
        *) die "client_table: unknown unit '$unit'" ;;
    esac
    heads=(client "$units" "(client)") widths=(-"$namew" 10 12) arrays=()
    for col in "$@"; do
        IFS=: read -r arr head w <<<"$col"
        heads+=("$head") widths+=("$w") arrays+=("$arr")
    done
    heads+=("$rate" "CPU s" "wall s" "CPU us/$short" "RSS MiB" "CPU/$short x" "RSS x" "$server" other note)
    w=${#heads[-7]}
    widths+=(9 7 7 $(( w > 10 ? w : 10 )) 8 10 8 7 7)
    local fmt=''
    for w in "${widths[@]}"; do fmt+="%${w}s "; done
    fmt+=" %s\n"
    for w in "${widths[@]}"; do dashes+=("$(printf '%*s' "${w#-}" '' | tr ' ' -)"); done
    # ratios only against an rpcload run that actually served requests
    if base_us=$(us_per rpcload); then base_rss=${RSS[rpcload]:-}; else base_us=''; fi

    # shellcheck disable=SC2059  # fmt is built above
    {
        printf "$fmt" "${heads[@]}"
        printf "$fmt" "${dashes[@]}" ----
        for c in "${ORDER[@]}"; do
            if [[ ${NOTE[$c]} == skipped:* ]]; then
                vals=()
                for _ in "${widths[@]:1}"; do vals+=(-); done
                printf "$fmt" "$c" "${vals[@]}" "${NOTE[$c]}"
                continue
            fi
            vals=()
            for arr in "${arrays[@]}"; do
                local -n ref=$arr
                vals+=("${ref[$c]:--}")
                unset -n ref
            done
            IFS=$'\t' read -r rps cpu us mib usx rssx note < <(
                awk -v n="${REQS[$c]:-0}" -v d="$DUR" -v cpu="${CPU[$c]:-}" -v rss="${RSS[$c]:-}" \
                    -v bus="$base_us" -v brss="$base_rss" -v note="${NOTE[$c]}" -v units="$units" 'BEGIN {
                    rps = sprintf("%.0f", n / d)
                    us = "-"; usx = "-"; mib = "-"; rssx = "-"
                    if (cpu != "" && n > 0) { u = cpu * 1e6 / n; us = sprintf("%.2f", u)
                        if (bus != "" && bus > 0) usx = sprintf("%.2f", u / bus) }
                    if (rss != "") { mib = sprintf("%.1f", rss / 1024)
                        if (brss != "" && brss > 0) rssx = sprintf("%.2f", rss / brss) }
                    if (cpu == "") cpu = "-"
                    if (n == 0 && note == "ok") note = "no " units " reached the server"
                    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rps, cpu, us, mib, usx, rssx, note
                }')
            printf "$fmt" "$c" "${REQS[$c]:-0}" "(${CREQS[$c]:--})" "${vals[@]}" "$rps" "$cpu" \
                "${WALL[$c]:-}" "$us" "$mib" "$usx" "$rssx" "${SRV[$c]:--}" "${OTHER[$c]:--}" "$note"
        done
    }
    echo
    echo "CPU/$short x and RSS x: ratio to rpcload's (1.00 = same as rpcload; higher = the peer costs more)."
    echo "$server: CPU of $server_what during the run / run time; near 100% means the server, not the client, was the bottleneck."
    echo "other: CPU used by every other process on the machine during the run (% of one core); well above 0% means the figures were disturbed."
}

BAR_FAIL=0
# bar TEXT X OP LIMIT: prints "bar: TEXT: Xx -> PASS" when X OP LIMIT holds
# (OP "<=" or ">="), else the same with FAIL, and sets BAR_FAIL=1.
bar() {
    awk -v t="$1" -v x="$2" -v op="$3" -v l="$4" 'BEGIN {
        ok = (op == "<=") ? (x <= l) : (x >= l)
        printf "bar: %s: %.2fx -> %s\n", t, x, (ok ? "PASS" : "FAIL"); exit !ok
    }' || BAR_FAIL=1
}

# bar_ratio TEXT A B OP LIMIT UNCHECKED: the bar on A's CPU per request over
# B's; UNCHECKED is printed instead when A or B has no figures.
bar_ratio() {
    local a b
    if a=$(us_per "$2") && b=$(us_per "$3"); then
        bar "$1" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.6f", a / b}')" "$4" "$5"
    else
        echo "$6"
    fi
}

# ---- a soak's report --------------------------------------------------------

# An awk function for a soak's report: cpu_rows(row, n) prints, formatted
# with row, rpcload's CPU (user u + sys s; u "-": unknown) and its CPU per
# request over n, nginx's worker CPU (n0 to n1 over dur s) and the other
# processes' CPU (the machine busy b0 to b1 over the wall time t0 to t1),
# all -v variables of the awk program.
SOAK_CPU_ROWS='
function cpu_rows(row, n,   o) {
    if (u != "-") {
        printf row, "rpcload CPU user+sys (s)", sprintf("%.2f", u + s)
        if (n > 0) printf row, "rpcload CPU us per request", sprintf("%.2f", (u + s) * 1e6 / n)
    }
    printf row, "nginx worker CPU (% of run time)", sprintf("%.0f%%", (n1 - n0) * 100 / dur)
    o = (b1 - b0 - (n1 - n0) - (u == "-" ? 0 : u + s)) * 100 / (t1 - t0); if (o < 0) o = 0
    printf row, "other processes CPU (% of one core)", sprintf("%.0f%%", o)
}
'

# soak_verdict VERDICT OUT WHY...: "result: VERDICT", the reasons, and the
# head of rpcload's error report from OUT; returns 0 when VERDICT is PASS.
soak_verdict() {
    local verdict=$1 out=$2 w; shift 2
    echo
    echo "result: $verdict"
    for w in "$@"; do echo "  $w"; done
    if [[ -s $out ]] && grep -q '^Error report' "$out"; then
        echo; sed -n '/^Error report/,$p' "$out" | head -n 20
    fi
    [[ $verdict == PASS ]]
}
