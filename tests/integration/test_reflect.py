"""Integration tests of rpcload's gRPC server-reflection client
(plugins/grpc/reflect.c), through tests/tools/reflect_cli, against:

  - examples/hello/hello_server (grpc C core; reflection v1 and v1alpha),
    plain and TLS, and with --no-reflection;
  - a Python grpcio server written here that offers reflection v1alpha
    only, answered by hand from a protoc descriptor set of
    tests/data/pbtest.proto: each answer holds the one file asked for and
    none of its imports, so the client must fetch those itself; it can also
    misbehave on request (error responses, a gRPC error status, garbage,
    random bytes, right answers with a few bytes changed);
  - servers that are no gRPC server at all: nothing listening, a black hole
    (for the deadline), a line echo and random bytes (garbage HTTP/2),
    nginx over HTTP/1.1 (no ALPN h2) and over HTTP/2 (404 for reflection).

Every failure must be one clear line on stderr starting with "reflection: "
and exit status 1, never a crash; and the client runs clean under valgrind.

Run from this folder:  RPCLOAD_BUILD_DIR=../../build \
    /usr/bin/python3 -m unittest -v test_reflect
"""

import concurrent.futures
import os
import random
import shutil
import subprocess
import tempfile
import threading
import unittest

import rpcload

from servers import (BlackHoleServer, LineEchoServer, NginxH2Server, NginxServer,
                     _SelectorTcpServer, closed_port, make_self_signed_cert)
from hello_server import HelloServer

try:
    import grpc
except ImportError:  # python3-grpcio (scripts/setup.sh installs it)
    grpc = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR", "")
CLI = os.path.join(BUILD_DIR, "tests", "reflect_cli") if BUILD_DIR else ""
PBJSON_CLI = os.path.join(BUILD_DIR, "tests", "pbjson_cli") if BUILD_DIR else ""
HELLO_BIN = os.path.join(BUILD_DIR, "examples", "hello", "hello_server") if BUILD_DIR else ""
DATA_DIR = os.path.join(SOURCE_DIR, "tests", "data")

REFLECTION = "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo"
HELLO_LIST = ("locust.hello.HelloService\n"
              "  SayHello(locust.hello.HelloRequest) returns (locust.hello.HelloResponse)\n"
              "  SayHelloStream(locust.hello.HelloStreamRequest) returns "
              "(stream locust.hello.HelloResponse)\n"
              "  SayHelloToAll(stream locust.hello.HelloRequest) returns "
              "(locust.hello.HelloResponse)\n"
              "  SayHelloChat(stream locust.hello.HelloRequest) returns "
              "(stream locust.hello.HelloResponse)\n")

VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--num-callers=30"]


def run_cli(args, valgrind=False, timeout_s=60):
    """reflect_cli ARGS: (exit status, stdout, stderr)."""
    argv = (VALGRIND if valgrind else []) + [CLI] + [str(a) for a in args]
    # Strict UTF-8: the client must never print malformed text.
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         encoding="utf-8", errors="strict", timeout=timeout_s)
    return res.returncode, res.stdout, res.stderr


# ---- protobuf wire, by hand (no generated code on either side) ---------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_int(num, value):
    return varint(num << 3) + varint(value & 0xFFFFFFFFFFFFFFFF)


def fields(data):
    """(number, value) of each field: bytes for length-delimited, int for
    varints; fixed-width fields are skipped."""
    i = 0
    while i < len(data):
        tag, i = _read_varint(data, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _read_varint(data, i)
            yield num, v
        elif wt == 2:
            n, i = _read_varint(data, i)
            yield num, data[i:i + n]
            i += n
        elif wt in (1, 5):
            i += 8 if wt == 1 else 4
        else:
            raise ValueError("wire type %d" % wt)


def _read_varint(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


class ProtoFile:
    """What the test server needs of a FileDescriptorProto."""

    def __init__(self, raw):
        self.raw = raw
        self.name, self.package, self.deps, self.services = "", "", [], []
        for num, v in fields(raw):
            if num == 1:
                self.name = v.decode()
            elif num == 2:
                self.package = v.decode()
            elif num == 3:
                self.deps.append(v.decode())
            elif num == 6:  # ServiceDescriptorProto, name = 1
                self.services.append(dict(fields(v))[1].decode())

    def full(self, name):
        return "%s.%s" % (self.package, name) if self.package else name


def compile_protoset(directory, proto, out):
    """protoc --include_imports: the descriptor set of tests/data/PROTO."""
    subprocess.run(["protoc", "--include_imports", "-I", DATA_DIR, "--descriptor_set_out", out,
                    proto], check=True, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=120, cwd=directory)
    with open(out, "rb") as f:
        return [ProtoFile(v) for num, v in fields(f.read()) if num == 1]


# ---- a reflection server in Python -------------------------------------------

class PyReflectionServer:
    """grpcio server offering reflection (by default v1alpha only) on
    127.0.0.1, answered by hand from `files` (ProtoFile list). Each file
    answer holds only the file asked for. `fault`:
      None            behave
      "not_found"     file_containing_symbol answers an ErrorResponse NOT_FOUND
      "missing_dep"   file_by_filename answers NOT_FOUND for every file
      "garbage"       every answer is a malformed message
      "random:SEED"   every answer is random bytes
      "mutate:SEED"   every answer is the right one with a few bytes changed
      "status"        the call fails with PERMISSION_DENIED
    `paths` lists the method paths asked for, `metadata` the calls'
    invocation metadata."""

    def __init__(self, files, versions=("v1alpha",), fault=None):
        self.files = files
        self.allowed = {REFLECTION % v for v in versions}
        self.fault = fault
        self.paths = []
        self.metadata = []
        self.requests = []
        self._lock = threading.Lock()
        self._server = None
        self.port = None

    def __enter__(self):
        owner = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                with owner._lock:
                    owner.paths.append(details.method)
                if details.method in owner.allowed:
                    return grpc.stream_stream_rpc_method_handler(owner._serve)
                return None  # grpc answers UNIMPLEMENTED

        self._server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((Handler(),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def __exit__(self, *exc):
        self._server.stop(grace=None)
        return False

    def _serve(self, requests, context):
        with self._lock:
            self.metadata.append(list(context.invocation_metadata()))
        if self.fault == "status":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no reflection for you")
        rng = None
        if self.fault and self.fault.startswith(("random:", "mutate:")):
            rng = random.Random(int(self.fault.split(":")[1]))
        for raw in requests:
            req = dict(fields(raw))
            with self._lock:
                self.requests.append(req)
            if self.fault == "garbage":
                yield field_bytes(4, b"") + b"\x22\xff\xff"  # a truncated field
            elif rng is not None and self.fault.startswith("random:"):
                yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            elif rng is not None:  # mutate:SEED
                msg = bytearray(self._answer(req))
                for _ in range(rng.randrange(1, 4)):
                    msg[rng.randrange(len(msg))] = rng.randrange(256)
                yield bytes(msg)
            else:
                yield self._answer(req)

    def _answer(self, req):
        if 7 in req:  # list_services
            names = [f.full(s) for f in self.files for s in f.services]
            names.append("grpc.reflection.v1alpha.ServerReflection")
            return field_bytes(6, b"".join(field_bytes(1, field_bytes(1, n)) for n in names))
        if 4 in req:  # file_containing_symbol: services only, enough here
            sym = req[4].decode(errors="replace")
            for f in self.files:
                if sym in (f.full(s) for s in f.services) and self.fault != "not_found":
                    return field_bytes(4, field_bytes(1, f.raw))
            return self._error(5, "Symbol not found: %s" % sym)
        if 3 in req:  # file_by_filename
            name = req[3].decode(errors="replace")
            for f in self.files:
                if f.name == name and self.fault != "missing_dep":
                    return field_bytes(4, field_bytes(1, f.raw))
            return self._error(5, "File not found: %s" % name)
        return self._error(12, "not implemented")

    @staticmethod
    def _error(code, msg):
        return field_bytes(7, field_int(1, code) + field_bytes(2, msg))


class RandomBytesServer(_SelectorTcpServer):
    """Answers every connection with `size` random bytes (seeded), then
    reads and discards."""

    thread_name = "random-bytes"

    def __init__(self, seed, size=4096):
        super().__init__()
        self.payload = random.Random(seed).randbytes(size)

    def on_accept(self, conn):
        try:
            conn.sendall(self.payload)
        except OSError:
            pass


# ---- the tests -----------------------------------------------------------------

def skip_reason():
    if not BUILD_DIR:
        return "RPCLOAD_BUILD_DIR is not set (ctest sets it)"
    if not os.access(CLI, os.X_OK):
        return "%s is not built (it needs rl_pb: protobuf-c, jansson)" % CLI
    return None


class ReflectTestCase(unittest.TestCase):
    def setUp(self):
        reason = skip_reason()
        if reason:
            self.skipTest(reason)
        self.tmp = tempfile.mkdtemp(prefix="rl-reflect-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def require_hello(self):
        if not os.access(HELLO_BIN, os.X_OK):
            self.skipTest("%s is not built (libgrpc-dev: scripts/setup.sh)" % HELLO_BIN)

    def require_grpc(self):
        if grpc is None:
            self.skipTest("Python grpc is missing (python3-grpcio)")
        if not shutil.which("protoc"):
            self.skipTest("protoc is missing (protobuf-compiler)")

    def require_openssl(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is missing")

    def assertFails(self, res, *parts, code=None):
        """Exit 1 and one stderr line starting with 'reflection: ' that holds
        every part (and ends with the RL_ERR name `code`)."""
        rc, out, err = res
        self.assertEqual(rc, 1, "exit %s\nstdout: %s\nstderr: %s" % (rc, out, err))
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("reflection: "), err)
        for p in parts:
            self.assertIn(p, lines[0])
        if code is not None:
            self.assertTrue(lines[0].endswith("(%s)" % code), err)
        return lines[0]

    def pbtest_files(self):
        return compile_protoset(self.tmp, "pbtest.proto", os.path.join(self.tmp, "pbtest.pb"))

    # ---- hello_server: v1 ---------------------------------------------------------
    def test_hello_lists_the_service(self):
        self.require_hello()
        with HelloServer() as hs:
            rc, out, err = run_cli(["127.0.0.1", hs.port])
            self.assertEqual((rc, err), (0, ""))
            self.assertEqual(out, HELLO_LIST)
            # A name that resolves to ::1 first (refused: hello listens on
            # 127.0.0.1) and then 127.0.0.1; and metadata, which it ignores.
            rc, out, err = run_cli(["localhost", hs.port, "-H", "X-Token: abc",
                                    "--authority", "example.test"])
            self.assertEqual((rc, out, err), (0, HELLO_LIST, ""))
        # list_services, then the one service: two calls per run.
        self.assertEqual(hs.counts["reflection"], 4, hs.describe())

    def test_no_reflection(self):
        self.require_hello()
        with HelloServer("--no-reflection") as hs:
            self.assertFails(run_cli(["127.0.0.1", hs.port]),
                             "the server does not offer reflection (UNIMPLEMENTED for v1 and "
                             "v1alpha): give --proto or --protoset", code="UNSUPPORTED")
        self.assertEqual(hs.counts["unimplemented"], 2, hs.describe())  # v1, then v1alpha

    def test_closed_port(self):
        with closed_port() as port:
            self.assertFails(run_cli(["127.0.0.1", port]),
                             "reflection: cannot connect to 127.0.0.1:%d: Connection refused"
                             % port, code="CONNECT")

    def test_unknown_host(self):
        self.assertFails(run_cli(["no-such-host.invalid", 50051]),
                         "reflection: cannot resolve no-such-host.invalid: ", code="CONNECT")

    def test_tls(self):
        self.require_hello()
        self.require_openssl()
        cert, key = make_self_signed_cert(self.tmp)
        with HelloServer("--tls", cert, key) as hs:
            ok = run_cli(["--tls", "--cacert", cert, "127.0.0.1", hs.port])
            self.assertEqual(ok, (0, HELLO_LIST, ""))
            # By name: SNI and the name check use "localhost" (in the SAN).
            self.assertEqual(run_cli(["--tls", "--cacert", cert, "localhost", hs.port]),
                             (0, HELLO_LIST, ""))
            self.assertEqual(run_cli(["--tls", "--insecure", "127.0.0.1", hs.port]),
                             (0, HELLO_LIST, ""))
            self.assertFails(run_cli(["--tls", "127.0.0.1", hs.port]),
                             "reflection: TLS handshake with 127.0.0.1:%d failed: certificate "
                             "verify failed: self-signed certificate" % hs.port, code="TLS")
            self.assertFails(run_cli(["--tls", "--cacert", os.path.join(self.tmp, "nope.pem"),
                                      "127.0.0.1", hs.port]),
                             "reflection: cannot load CA certificates from ", "nope.pem",
                             code="TLS")
            # Plain text to a TLS server.
            self.assertFails(run_cli(["127.0.0.1", hs.port]), "127.0.0.1:%d" % hs.port,
                             "does it want TLS?")
        with HelloServer() as hs:
            # TLS to a plain-text server.
            self.assertFails(run_cli(["--tls", "--insecure", "127.0.0.1", hs.port]),
                             "reflection: TLS handshake with 127.0.0.1:%d failed: " % hs.port,
                             code="TLS")

    # ---- a v1alpha-only server, and imports fetched one by one -------------------
    def test_v1alpha_only_with_imports(self):
        self.require_grpc()
        files = self.pbtest_files()
        expected = subprocess.run([PBJSON_CLI, "--protoset", os.path.join(self.tmp, "pbtest.pb"),
                                   "--list"], capture_output=True, text=True, check=True,
                                  timeout=60).stdout
        self.assertIn("rl.test.TestService\n", expected)
        with PyReflectionServer(files) as ps:
            rc, out, err = run_cli(["127.0.0.1", ps.port, "-H", "X-Token: abc"])
            self.assertEqual((rc, err), (0, ""))
            self.assertEqual(out, expected)
        # v1 first, refused (UNIMPLEMENTED), then everything on v1alpha.
        self.assertEqual(ps.paths[0], REFLECTION % "v1")
        self.assertTrue(ps.paths[1:])
        self.assertEqual(set(ps.paths[1:]), {REFLECTION % "v1alpha"})
        # list_services, the two services' file, then each import once.
        kinds = [next(iter(r)) for r in ps.requests]
        self.assertEqual(kinds[:3], [7, 4, 4])
        imports = sorted(r[3].decode() for r in ps.requests if 3 in r)
        main = next(f for f in files if f.name == "pbtest.proto")
        self.assertEqual(imports, sorted({f.name for f in files} - {"pbtest.proto"}))
        self.assertTrue(set(main.deps) <= set(imports))
        # Metadata on every call, its name lowercased.
        for md in ps.metadata:
            self.assertIn(("x-token", "abc"), md)

    def test_server_errors(self):
        self.require_grpc()
        files = self.pbtest_files()
        with PyReflectionServer(files, fault="not_found") as ps:
            self.assertFails(run_cli(["127.0.0.1", ps.port]),
                             "reflection: server error NOT_FOUND for symbol 'rl.test.TestService'"
                             ": Symbol not found: rl.test.TestService", code="PROTO")
        with PyReflectionServer(files, fault="missing_dep") as ps:
            line = self.assertFails(run_cli(["127.0.0.1", ps.port]),
                                    "reflection: server error NOT_FOUND for file '", code="PROTO")
            self.assertIn("File not found: ", line)
        with PyReflectionServer(files, fault="status") as ps:
            self.assertFails(run_cli(["127.0.0.1", ps.port]),
                             "reflection: server error PERMISSION_DENIED: no reflection for you",
                             code="PROTO")
        with PyReflectionServer(files, fault="garbage") as ps:
            self.assertFails(run_cli(["127.0.0.1", ps.port]),
                             "reflection: malformed reflection response from 127.0.0.1:%d"
                             % ps.port, code="PROTO")
        for seed in range(8):
            with PyReflectionServer(files, fault="random:%d" % seed) as ps:
                self.assertFails(run_cli(["127.0.0.1", ps.port]))

    def test_mutated_answers(self):
        """Right answers with a few bytes changed reach the descriptor
        parsers too: each run succeeds or fails cleanly, never crashes."""
        self.require_grpc()
        files = self.pbtest_files()
        outcomes = {0: 0, 1: 0}
        for seed in range(40):
            with PyReflectionServer(files, fault="mutate:%d" % seed) as ps:
                res = run_cli(["--timeout-ms", "5000", "127.0.0.1", ps.port])
            self.assertIn(res[0], (0, 1), "seed %d: %r" % (seed, res))
            if res[0] == 1:
                self.assertFails(res)
            outcomes[res[0]] += 1
        self.assertGreater(outcomes[1], 0)

    # ---- not gRPC at all --------------------------------------------------------
    def test_timeout(self):
        with BlackHoleServer() as bh:
            self.assertFails(run_cli(["--timeout-ms", "700", "127.0.0.1", bh.port]),
                             "reflection: timed out after 0.7 s waiting for an answer from "
                             "127.0.0.1:%d" % bh.port, code="TIMEOUT")
            self.assertFails(run_cli(["--timeout-ms", "1000", "--tls", "127.0.0.1", bh.port]),
                             "reflection: timed out after 1 s during the TLS handshake with "
                             "127.0.0.1:%d" % bh.port, code="TIMEOUT")

    def test_http_servers_that_are_not_grpc(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(nginx, os.X_OK):
            self.skipTest("nginx is missing")
        with NginxServer(tls=True) as ng:  # HTTP/1.1 only
            self.assertFails(run_cli(["--tls", "--insecure", "127.0.0.1", ng.tls_port]),
                             "reflection: TLS handshake with 127.0.0.1:%d failed: " % ng.tls_port,
                             "(the server does not offer HTTP/2, which gRPC needs)", code="TLS")
            self.assertFails(run_cli(["127.0.0.1", ng.port]),
                             "reflection: HTTP/2 error with 127.0.0.1:%d: " % ng.port,
                             code="PROTO")
        with NginxH2Server() as ng:  # HTTP/2, but 404 for the reflection paths
            for args in (["127.0.0.1", ng.port], ["--tls", "--insecure", "127.0.0.1", ng.tls_port]):
                self.assertFails(run_cli(args),
                                 "reflection: the server does not offer reflection (HTTP status "
                                 "404 and no gRPC status for v1 and v1alpha: is it a gRPC "
                                 "server?): give --proto or --protoset", code="UNSUPPORTED")

    def test_garbage(self):
        with LineEchoServer() as le:
            self.assertFails(run_cli(["--timeout-ms", "5000", "127.0.0.1", le.port]),
                             "reflection: HTTP/2 error with 127.0.0.1:%d" % le.port, code="PROTO")
        for seed in range(16):
            with RandomBytesServer(seed) as rb:
                self.assertFails(run_cli(["--timeout-ms", "5000", "127.0.0.1", rb.port]))
            with RandomBytesServer(seed) as rb:
                self.assertFails(run_cli(["--timeout-ms", "5000", "--tls", "--insecure",
                                          "127.0.0.1", rb.port]), code="TLS")

    # ---- memory ---------------------------------------------------------------------
    def test_valgrind(self):
        """No memory errors or leaks, on success and on each kind of failure."""
        if not shutil.which("valgrind"):
            self.skipTest("valgrind is missing")
        if rpcload.sanitized():
            self.skipTest("sanitized build: valgrind cannot run it")
        self.require_hello()
        self.require_grpc()
        self.require_openssl()
        cert, key = make_self_signed_cert(self.tmp)
        files = self.pbtest_files()
        slow = ["--timeout-ms", "60000"]

        def check(args, want_rc):
            rc, out, err = run_cli(slow + list(args), valgrind=True, timeout_s=300)
            self.assertNotEqual(rc, 99, "valgrind found errors or leaks\n" + err[-8000:])
            self.assertEqual(rc, want_rc, err[-8000:])
            return out

        with HelloServer("--tls", cert, key) as hs:
            self.assertEqual(check(["--tls", "--cacert", cert, "127.0.0.1", hs.port], 0),
                             HELLO_LIST)
            check(["--tls", "127.0.0.1", hs.port], 1)
        with HelloServer("--no-reflection") as hs:
            check(["127.0.0.1", hs.port], 1)
        with PyReflectionServer(files) as ps:
            self.assertIn("rl.test.TestService", check(["-H", "a: b", "127.0.0.1", ps.port], 0))
        with PyReflectionServer(files, fault="missing_dep") as ps:
            check(["127.0.0.1", ps.port], 1)
        with closed_port() as port:
            check(["127.0.0.1", port], 1)
        with LineEchoServer() as le:
            check(["127.0.0.1", le.port], 1)


if __name__ == "__main__":
    unittest.main()
