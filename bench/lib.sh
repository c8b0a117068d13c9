# shellcheck shell=bash
# Helpers shared by bench/*.sh (sourced, not run).
#
# Everything here targets 127.0.0.1 only, asks the kernel for free ports and
# only ever signals processes whose PID it recorded when starting them.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

# Debian's python carries locust; a python3 earlier on PATH may not.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

NGINX_BIN=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
GNU_TIME=/usr/bin/time

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

NGINX_PID=
NGINX_PORT=
ACCESS_LOG=

say() { printf '%s\n' "$*" >&2; }          # progress: stderr
die() { say "error: $*"; exit 2; }

need_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "'$t' not found (apt-get install $t?)"
    done
    [[ -x $GNU_TIME ]] || die "$GNU_TIME not found: apt-get install time"
    [[ -x $NGINX_BIN ]] || die "nginx not found: apt-get install nginx-light"
}

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

# nginx_start WORKDIR WORKER_CONNECTIONS [RLIMIT_NOFILE (default 20000)] [PROTO]
# Writes WORKDIR/nginx.conf, starts nginx pinned to $SERVER_CPU, in the
# foreground of a background job so that $! is the master's PID. Sets
# NGINX_PID, NGINX_PORT, ACCESS_LOG.
# PROTO: "http1" (default) or "h2c": HTTP/2 over cleartext by prior knowledge
# only (nginx 1.22's `listen ... http2` without ssl), with
# http2_max_concurrent_streams $NGINX_H2_STREAMS (default 128, nginx's own).
# In nginx 1.22 keepalive_requests also caps the requests of one HTTP/2
# connection (it replaced http2_max_requests), so h2c raises it to 10^9.
NGINX_H2_STREAMS=${NGINX_H2_STREAMS:-128}
nginx_start() {
    local dir=$1 wconn=$2 nofile=${3:-20000} proto=${4:-http1} attempt port
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
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
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
        for _ in $(seq 50); do
            if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
            if "${probe[@]}" -o /dev/null --max-time 1 "http://127.0.0.1:$port/nginx_status" 2>/dev/null; then
                NGINX_PORT=$port ACCESS_LOG=$dir/access.log
                say "nginx pid $NGINX_PID on 127.0.0.1:$port ($proto, cpu $SERVER_CPU), prefix $dir"
                return 0
            fi
            sleep 0.1
        done
        # did not come up (port taken meanwhile?): stop it and try another port
        nginx_stop
        say "nginx did not start on port $port (attempt $attempt):"
        tail -n 3 "$dir/error.log" "$dir/nginx.stdout" >&2 2>/dev/null || true
    done
    die "could not start nginx"
}

nginx_stop() {
    [[ -n $NGINX_PID ]] || return 0
    if kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$NGINX_PID" 2>/dev/null; then kill -KILL "$NGINX_PID" 2>/dev/null || true; fi
    fi
    wait "$NGINX_PID" 2>/dev/null || true
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

# Parse "U S M" (user s, sys s, max RSS KiB) from a GNU time -o file; the
# last line holds the format (a "Command exited with ..." line may precede).
time_fields() {
    [[ -s $1 ]] || return 1
    tail -n 1 "$1" | awk 'NF==3 && $1 ~ /^[0-9.]+$/ {print; ok=1} END{exit !ok}'
}

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
