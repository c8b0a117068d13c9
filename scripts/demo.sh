#!/usr/bin/env bash
# The first command to try: build rpcload and the bundled gRPC example server
# (examples/hello, Locust's hello.proto served in C), start the server on a
# free loopback port, and load it with 100 users for 10 s:
#   rpcload --proto examples/hello/hello.proto --call SayHello \
#           -d '{"name":"x"}' -u 100 -r 20 -t 10s 127.0.0.1:PORT
# Exits with rpcload's exit status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh

log() { printf 'demo: %s\n' "$*" >&2; }

SERVER=build/examples/hello/hello_server
if [[ ! -x $SERVER || ! -e build/plugins/grpc.so ]]; then
  log "$SERVER or the grpc plugin was not built: see the CMake output above"
  exit 1
fi

OUT=$(mktemp -t rpcload-demo-XXXXXX)
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    log "server: $(grep '^calls served' "$OUT" || echo 'no count printed')"
  fi
  SERVER_PID=
  rm -f "$OUT"
}
trap stop_server EXIT
trap 'exit 143' TERM

# --port 0: the kernel picks a free port and the server prints it. setsid: its
# own session, so a Ctrl-C meant for rpcload (which then prints its final
# report) does not reach the server; the EXIT trap stops it by PID.
setsid "$SERVER" --port 0 >"$OUT" 2>&1 </dev/null &
SERVER_PID=$!

PORT=
for i in $(seq 100); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "hello_server exited at start:"; cat "$OUT" >&2; exit 1
  fi
  PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$OUT")
  [[ -n $PORT ]] && break
  if ((i == 100)); then log "hello_server did not start within 10 s"; exit 1; fi
  sleep 0.1
done
log "hello_server (pid $SERVER_PID) listening on 127.0.0.1:$PORT"

CMD=(build/rpcload --proto examples/hello/hello.proto --call SayHello
     -d '{"name":"x"}' -u 100 -r 20 -t 10s "127.0.0.1:$PORT")
log "running: ${CMD[*]}"
status=0
"${CMD[@]}" || status=$?
log "rpcload exited with status $status"
exit "$status"
