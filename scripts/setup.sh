#!/usr/bin/env bash
# Install what rpcload needs to build and test (Debian 12 packages), then
# configure and build the default build in build/.
# Idempotent: when every package is present it only (re)builds.
set -euo pipefail

# The one list of Debian packages the project needs. Add yours here.
PACKAGES=(
  build-essential cmake pkg-config   # toolchain
  libev-dev libssl-dev libhttp-parser-dev   # core + http1 plugin
  libyaml-dev                        # scenario files
  libpcre2-dev                       # scenario regexes: PCRE2's JIT and match limits
  libmicrohttpd-dev                  # the web UI's and --prometheus-port's HTTP server
  libluajit-5.1-dev                  # Lua users, -s FILE.lua (src/script/)
  libzmq3-dev libmsgpack-dev         # the cluster (src/cluster/): Locust's wire, ZeroMQ + msgpack
  libnghttp2-dev                     # http2 plugin
  libcmocka-dev                      # unit tests
  libprotobuf-c-dev protobuf-c-compiler libjansson-dev   # grpc: run-time messages, JSON
  protobuf-compiler libprotobuf-dev  # grpc: protoc and the well-known .protos
  python3-protobuf                   # grpc: the JSON round-trip test's reference
  nginx-light wrk python3-locust     # test servers and peers
  nghttp2-server nghttp2-client      # nghttpd (http2 tests), h2load and nghttp
  redis-server redis-tools           # redis example plugin: server, redis-cli, redis-benchmark
  libgrpc-dev protobuf-compiler      # examples/hello: grpc C core, protoc (descriptor sets)
  protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev   # protoc-c, protobuf-c, descriptor.proto
  python3-grpcio python3-protobuf python3-grpc-tools      # Python gRPC client for the tests
  valgrind clang-tidy openssl time   # checks and test tools
  clang libclang-rt-14-dev           # fuzz targets (tests/fuzz): clang's libFuzzer, ASan, UBSan
  nodejs                             # npm: uPlot for the --html report (see below)
  chromium                           # the --html report's and web UI's browser tests (headless)
  python3-prometheus-client          # the web UI test parses /metrics with Prometheus's own parser
  python3-pandas                     # the report tests read the CSV files as pandas users do
  python3-h2                         # the fault suite's HTTP/2 server that sends GOAWAY after each request
  libsqlite3-dev                     # examples/listeners/sqlite_sink: every request into a SQLite file
  python3-pytest                     # the Python module's tests (tests/python, ctest integration/python)
  python3-kubernetes                 # examples/kubernetes: every manifest field known to the API's models
  iptables                           # test_cluster_netem where the kernel lacks netem: loss (statistic) and delay (NFQUEUE)
)

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
# npm: Debian ships it apart from nodejs, other nodejs builds include it (and
# conflict with Debian's npm package), so it is asked for only when missing.
if ! command -v npm >/dev/null; then
  missing+=(npm)
fi

if ((${#missing[@]})); then
  log "installing missing packages: ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "not root and no sudo: install ${missing[*]} by hand"; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "all ${#PACKAGES[@]} packages present"
fi

# Browser code the build embeds into rpcload (the --html report's and the
# web UI's charts: uPlot), and playwright-core for the web UI's browser test
# (it drives Debian's chromium; it downloads no browser), from the npm
# registry. package.json pins the version and
# package-lock.json the tarball's integrity hash; `npm ci` installs exactly
# that into node_modules/ (gitignored; never committed) and fails if the
# hash differs. Skipped when node_modules/ already matches the lock.
web_assets_current() {
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json")).packages;
    let have;
    try {
      have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json")).packages;
    } catch (e) { process.exit(1); }
    for (const [path, p] of Object.entries(want)) {
      if (!path) continue;
      const h = have[path];
      if (!h || h.version !== p.version || h.integrity !== p.integrity ||
          !fs.existsSync(path + "/package.json")) process.exit(1);
    }'
}
if web_assets_current; then
  log "npm packages present (package-lock.json)"
else
  log "installing npm packages from package-lock.json into node_modules/"
  npm ci --no-audit --no-fund --ignore-scripts
fi

# The Kubernetes example's offline schema check (examples/kubernetes/tests:
# kubernetes-models' validators and the yaml parser), pinned by that
# folder's own package-lock.json, into its own node_modules/.
if (cd examples/kubernetes/tests && web_assets_current); then
  log "npm packages present (examples/kubernetes/tests)"
else
  log "installing npm packages into examples/kubernetes/tests/node_modules/"
  (cd examples/kubernetes/tests && npm ci --no-audit --no-fund --ignore-scripts)
fi

BUILD_DIR=${RPCLOAD_BUILD_DIR:-build}
log "configuring and building $BUILD_DIR/"
cmake -S . -B "$BUILD_DIR" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
log "done: $BUILD_DIR/rpcload"
