#!/usr/bin/env bash
# The first command to try: build rpcload, start a local nginx, and load it
# with 20 users for 10 s. Exits with rpcload's exit status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=/usr/bin/python3

scripts/setup.sh

log() { printf 'demo: %s\n' "$*" >&2; }

# A free loopback port, asked of the kernel (bind port 0, read it, close).
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

PREFIX=$(mktemp -d -t rpcload-demo-XXXXXX)
NGINX_PID=

stop_nginx() {
  if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  NGINX_PID=
  rm -rf "$PREFIX"
}
trap stop_nginx EXIT
trap 'exit 143' TERM

USER_LINE=""
[[ $(id -u) -eq 0 ]] && USER_LINE="user root;"
cat > "$PREFIX/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $PREFIX/nginx.pid;
error_log $PREFIX/error.log warn;
$USER_LINE
events { worker_connections 20000; }
http {
    default_type text/plain;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $PREFIX/client_body;
    proxy_temp_path $PREFIX/proxy;
    fastcgi_temp_path $PREFIX/fastcgi;
    uwsgi_temp_path $PREFIX/uwsgi;
    scgi_temp_path $PREFIX/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location = /hello { return 200 "hello world\n"; }
    }
}
CONF

log "starting nginx on 127.0.0.1:$PORT (prefix $PREFIX)"
# setsid: its own session, so a Ctrl-C meant for rpcload (which then prints
# its final report) does not reach nginx; the EXIT trap stops it by PID.
# (No job control here, so setsid execs nginx in place: $! is nginx's PID.)
setsid nginx -p "$PREFIX" -e "$PREFIX/error.log" -c "$PREFIX/nginx.conf" -g 'daemon off;' </dev/null &
NGINX_PID=$!

# Wait (bounded) until the port accepts.
for i in $(seq 100); do
  if ! kill -0 "$NGINX_PID" 2>/dev/null; then
    log "nginx exited at start:"; cat "$PREFIX/error.log" >&2 || true; exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  if ((i == 100)); then log "nginx did not accept on port $PORT within 10 s"; exit 1; fi
  sleep 0.1
done

log "running: build/rpcload -u 20 -r 10 -t 10s http://127.0.0.1:$PORT/hello"
status=0
build/rpcload -u 20 -r 10 -t 10s "http://127.0.0.1:$PORT/hello" || status=$?
log "rpcload exited with status $status"
exit "$status"
