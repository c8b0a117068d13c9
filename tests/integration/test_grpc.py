"""The gRPC plugin (plugins/grpc) end to end: rpcload against real gRPC
servers on free loopback ports.

  - examples/hello/hello_server (C, grpc core): counts, the --call forms,
    error statuses, deadlines, TLS, reflection, --list;
  - grpc_py_server.py (Debian's Python grpcio): counts, metadata (plain,
    -bin, templated), -D round-robin, templated data, gzip, and proto3 JSON
    encoded by rpcload and decoded by Python's protobuf over the wire;
  - bad input: malformed .proto, unknown method, JSON that does not fit,
    unreachable server, a TLS mismatch: a clear error each.

Run from this folder:  RPCLOAD_BUILD_DIR=../../build RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_grpc
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import socket
import tempfile
import threading
import time
import unittest

import rpcload
from servers import closed_port, make_self_signed_cert, popen_bounded, stop_process
from hello_server import HelloServer, skip_reason as hello_skip_reason

try:
    import grpc  # noqa: F401  (the Python server needs it)
except ImportError:
    grpc = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
HELLO_PROTO = os.path.join(SOURCE_DIR, "examples", "hello", "hello.proto")
TEST_PROTO_DIR = os.path.join(SOURCE_DIR, "tests", "data")
PYTHON = "/usr/bin/python3"
SAY_HELLO = "/locust.hello.HelloService/SayHello"
UNARY = "/rl.test.TestService/Unary"


def plugin_built():
    d = os.environ.get("RPCLOAD_PLUGIN_DIR") or os.path.join(SOURCE_DIR, "build", "plugins")
    return os.path.exists(os.path.join(d, "grpc.so"))


def grpc_run(args, timeout_s=60):
    return rpcload.run(args, timeout_s=timeout_s)


class PyServer:
    """grpc_py_server.py with the descriptor set of hello.proto and
    tests/data/pbtest.proto, on a kernel-picked port (or another script of
    the same shape: grpc_stream_server.py). tls: (CERT, KEY[, CLIENT_CA])."""

    def __init__(self, descriptor_set, tls=None, script="grpc_py_server.py"):
        self.descriptor_set = descriptor_set
        self.tls = tls
        self.script = script
        self.proc = None
        self.port = None
        self.report = None
        self.output = ""

    def __enter__(self):
        argv = [PYTHON, os.path.join(HERE, self.script), self.descriptor_set]
        if self.tls:
            argv += ["--tls"] + list(self.tls)
        self.proc = popen_bounded(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                m = re.match(r"^listening on 127\.0\.0\.1:(\d+)$", line.strip())
                if m:
                    self.port = int(m.group(1))
                    return self
                self.output += line
            if self.proc.poll() is not None:
                break
        stop_process(self.proc)
        raise AssertionError("grpc_py_server did not start:\n" + self.output)

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is None:
            return self.report
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            out, _ = self.proc.communicate(timeout=10)
        self.proc = None
        self.output += out or ""
        for line in self.output.splitlines():
            if line.startswith("report: "):
                self.report = json.loads(line[len("report: "):])
        return self.report

    def __exit__(self, *exc):
        self.stop()


class CountingProxy:
    """A TCP forwarder on a free loopback port that counts the bytes the
    client sent. One thread per direction; bounded by its sockets."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.up = 0
        self.lock = threading.Lock()
        self.threads = []
        self.conns = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.closing = False

    def __enter__(self):
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            s = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            self.conns += [c, s]
            for a, b, count in ((c, s, True), (s, c, False)):
                t = threading.Thread(target=self._pipe, args=(a, b, count), daemon=True)
                t.start()
                self.threads.append(t)

    def _pipe(self, a, b, count):
        a.settimeout(30)
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if count:
                    with self.lock:
                        self.up += len(data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wait_bytes_up(self):
        """The byte count once the client's connections have closed."""
        for t in self.threads[1:]:
            t.join(timeout=10)
        with self.lock:
            return self.up

    def __exit__(self, *exc):
        self.closing = True
        self.sock.close()
        for t in self.threads:
            t.join(timeout=10)
        for c in self.conns:
            c.close()


class GrpcTestCase(unittest.TestCase):
    tmp = None
    descriptor_set = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-grpc-test-")
        cls.descriptor_set = os.path.join(cls.tmp, "all.protoset")
        subprocess.run(["protoc", "--include_imports", "-o", cls.descriptor_set,
                        "-I", os.path.dirname(HELLO_PROTO), "-I", TEST_PROTO_DIR,
                        "hello.proto", "pbtest.proto"],
                       check=True, capture_output=True, timeout=120)
        cls.cert, cls.key = make_self_signed_cert(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not plugin_built():
            self.skipTest("the grpc plugin is not built (protobuf-c, jansson, protoc-c missing)")

    def need_hello(self):
        why = hello_skip_reason()
        if why:
            self.skipTest(why)

    def need_py(self):
        if grpc is None:
            self.skipTest("Python grpcio is missing (python3-grpcio)")

    def assertRun(self, res, code=0):
        self.assertEqual(res.exit_code, code, res.describe())

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class HelloServerTests(GrpcTestCase):
    """Against the C hello server."""

    def setUp(self):
        super().setUp()
        self.need_hello()

    def test_counts_equal_the_servers(self):
        with HelloServer() as hs:
            res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello",
                            "-d", '{"name":"x"}', "-u", "20", "-r", "20", "-t", "3s",
                            "--stop-timeout", "5", hs.target])
            hs.stop()
        self.assertRun(res)
        row = res.report().row("grpc", SAY_HELLO)
        self.assertIsNotNone(row, res.describe())
        self.assertGreater(row.reqs, 100, res.describe())
        self.assertEqual(row.fails, 0, res.describe())
        self.assertEqual(row.reqs, hs.counts["hello_ok"], hs.describe())
        self.assertEqual(hs.counts["served"], hs.counts["hello_ok"], hs.describe())

    def test_call_name_forms_and_shared_connections(self):
        forms = ["SayHello", "HelloService.SayHello", "locust.hello.HelloService.SayHello",
                 "locust.hello.HelloService/SayHello", "/locust.hello.HelloService/SayHello"]
        with HelloServer() as hs:
            total = 0
            for form in forms:
                res = grpc_run(["--proto", HELLO_PROTO, "--call", form, "-u", "4", "-r", "100",
                                "-t", "1s", "--connections", "2", "--stop-timeout", "5",
                                "--only-summary", hs.target])
                self.assertRun(res)
                row = res.report().row("grpc", SAY_HELLO)
                self.assertIsNotNone(row, res.describe())
                total += row.reqs
            hs.stop()
        self.assertEqual(total, hs.counts["hello_ok"], hs.describe())

    def test_error_status_is_a_failure_with_its_code(self):
        with HelloServer() as hs:
            res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello",
                            "-m", '{"x-status": "14", "x-message": "try later"}',
                            "-u", "2", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                            hs.target])
            hs.stop()
        self.assertRun(res, 1)
        rep = res.report()
        row = rep.row("grpc", SAY_HELLO)
        self.assertGreater(row.reqs, 0)
        self.assertEqual(row.fails, row.reqs, res.describe())
        self.assertEqual(row.reqs, hs.counts["hello_status"], hs.describe())
        self.assertEqual(len(rep.errors), 1, res.describe())
        self.assertEqual(rep.errors[0].text, "grpc %s: UNAVAILABLE: try later" % SAY_HELLO,
                         res.describe())
        self.assertEqual(rep.errors[0].occurrences, row.fails)

    def test_deadline_exceeded(self):
        with HelloServer() as hs:
            res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello",
                            "-m", '{"x-delay-ms": "3000"}', "--timeout", "0.3",
                            "-u", "3", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                            hs.target])
        self.assertRun(res, 1)
        rep = res.report()
        row = rep.row("grpc", SAY_HELLO)
        self.assertGreater(row.fails, 3, res.describe())
        self.assertEqual(row.fails, row.reqs, res.describe())
        for e in rep.errors:
            self.assertIn("DEADLINE_EXCEEDED", e.text, res.describe())

    def test_reflection_list_and_call(self):
        with HelloServer() as hs:
            lst = grpc_run(["--list", hs.target])
            res = grpc_run(["--call", "SayHello", "-d", '{"name":"refl"}', "-u", "2",
                            "-r", "10", "-t", "1s", "--stop-timeout", "5", hs.target])
            hs.stop()
        self.assertRun(lst)
        self.assertIn("locust.hello.HelloService", lst.stdout, lst.describe())
        self.assertIn("SayHello(locust.hello.HelloRequest) returns (locust.hello.HelloResponse)",
                      lst.stdout, lst.describe())
        self.assertNotIn("grpc.reflection", lst.stdout, lst.describe())
        self.assertRun(res)
        self.assertEqual(res.report().row("grpc", SAY_HELLO).reqs, hs.counts["hello_ok"])
        self.assertGreater(hs.counts["reflection"], 0, hs.describe())

    def test_no_reflection_is_a_clear_error(self):
        with HelloServer("--no-reflection") as hs:
            res = grpc_run(["--call", "SayHello", "-u", "1", "-t", "1s", hs.target])
        self.assertRun(res, 2)
        self.assertIn("reflection", res.stderr)
        self.assertIn("--proto", res.stderr, res.describe())

    def test_tls(self):
        with HelloServer("--tls", self.cert, self.key) as hs:
            url = "grpcs://" + hs.target
            ok = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "--cacert", self.cert,
                           "-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "5", url])
            refl = grpc_run(["--list", "--cacert", self.cert, url])
            bad = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-u", "1", "-t", "1s",
                            "--allow-unreachable", url])
            plain = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-u", "1", "-t",
                              "1s", "--timeout", "2", hs.target])
            hs.stop()
        self.assertRun(ok)
        self.assertEqual(ok.report().row("grpc", SAY_HELLO).reqs, hs.counts["hello_ok"])
        self.assertRun(refl)
        self.assertIn("SayHello", refl.stdout)
        # An untrusted certificate: every call fails, naming the verification.
        self.assertRun(bad, 1)
        self.assertRegex(bad.report().error_text(), r"certificate verify failed", bad.describe())
        # Plain h2c to a TLS port: failures, not a crash, and it keeps running.
        self.assertRun(plain, 1)
        self.assertGreater(plain.report().aggregated.fails, 0, plain.describe())

    def test_list_from_proto_needs_no_server(self):
        res = grpc_run(["--proto", HELLO_PROTO, "--list"])
        self.assertRun(res)
        self.assertEqual(res.stdout.strip().splitlines()[0], "locust.hello.HelloService")


class BadInputTests(GrpcTestCase):
    def test_malformed_proto_shows_protocs_message(self):
        bad = self.write("bad.proto", 'syntax = "proto3";\nmessage A {\n  int32 x = 1\n}\n')
        res = grpc_run(["--proto", bad, "--call", "X", "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertRegex(res.stderr, r"bad\.proto:4:1: Expected \";\"", res.describe())

    def test_unknown_method_lists_the_methods(self):
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayGoodbye", "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("SayGoodbye", res.stderr)
        self.assertIn("locust.hello.HelloService.SayHello", res.stderr, res.describe())

    def test_json_that_does_not_fit(self):
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-d", '{"name": 5}',
                        "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("field 'name'", res.stderr, res.describe())
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-d", '{"nam": "x"}',
                        "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("nam", res.stderr, res.describe())
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-d", '{"name": ',
                        "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("-d", res.stderr, res.describe())

    def test_bad_metadata(self):
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-m", '["x"]',
                        "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("-m", res.stderr)
        res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-m",
                        '{"grpc-timeout": "1S"}', "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("reserved", res.stderr, res.describe())

    def test_unreachable_server_counts_failures_and_keeps_running(self):
        with closed_port() as port:
            res = grpc_run(["--proto", HELLO_PROTO, "--call", "SayHello", "-u", "2", "-r",
                            "10", "-t", "2s", "--allow-unreachable", "127.0.0.1:%d" % port])
        self.assertRun(res, 1)
        row = res.report().row("grpc", SAY_HELLO)
        self.assertIsNotNone(row, res.describe())
        self.assertGreater(row.fails, 2, res.describe())
        self.assertRegex(res.report().error_text(), r"(?i)refused", res.describe())

    def test_stream_options_on_a_unary_method(self):
        res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                        "-O", "stream_call_count=3", "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("--stream-call-count is for streaming methods", res.stderr, res.describe())


class PythonServerTests(GrpcTestCase):
    """Against Debian's Python grpcio."""

    def setUp(self):
        super().setUp()
        self.need_py()

    def test_counts_and_metadata(self):
        with PyServer(self.descriptor_set) as ps:
            res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                            "-d", '{"name":"u{{user_id}}"}',
                            "-m", '{"authorization": "Bearer t", "x-user": "{{user_id}}", '
                                  '"trace-bin": "\\u0001\\u0002ab"}',
                            "-m", '{"x-require": "authorization=Bearer t"}',
                            "-u", "5", "-r", "50", "-t", "2s", "--stop-timeout", "5",
                            ps.target])
            rep = ps.stop()
        self.assertRun(res)
        row = res.report().row("grpc", SAY_HELLO)
        self.assertEqual(row.reqs, rep["calls"][SAY_HELLO], res.describe())
        self.assertEqual(rep["statuses"], {"OK": row.reqs})
        # Every user's name reached the server, and no other.
        self.assertEqual(set(rep["names"][SAY_HELLO]), {"u%d" % i for i in range(1, 6)})
        md = rep["metadata"][0]
        self.assertEqual(md["authorization"], "Bearer t")
        self.assertEqual("u" + md["x-user"], rep["requests"][SAY_HELLO][0]["name"])
        # grpcio decodes -bin values: the raw bytes come back.
        self.assertEqual(md["trace-bin"], "010261 62".replace(" ", ""))
        # rpcload says who it is, not grpc's C library.
        self.assertTrue(md["user-agent"].startswith("rpcload/"), md)
        self.assertNotIn("grpc-c", md["user-agent"])

    def test_data_file_round_robin(self):
        data = self.write("names.json", json.dumps([{"name": "a"}, {"name": "b"},
                                                     {"name": "c"}]))
        with PyServer(self.descriptor_set) as ps:
            res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                            "-D", data, "-u", "1", "-t", "1s", "--stop-timeout", "5",
                            ps.target])
            rep = ps.stop()
        self.assertRun(res)
        names = [r["name"] for r in rep["requests"][SAY_HELLO]]
        self.assertGreaterEqual(len(names), 3)
        self.assertEqual(names[:6], (["a", "b", "c"] * 2)[:len(names[:6])])

    def test_gzip_shrinks_what_goes_on_the_wire(self):
        """A 60 kB name of one letter: through a byte-counting proxy, gzip
        sends a few hundred bytes per call, identity more than 60 kB, and the
        server reads the same name either way."""
        name = "a" * 60000
        with PyServer(self.descriptor_set) as ps:
            sent = {}
            for mode in ("gzip", "identity"):
                with CountingProxy(ps.port) as proxy:
                    res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                                    "-d", json.dumps({"name": name}), "--compress", mode,
                                    "-u", "1", "-t", "1s", "--stop-timeout", "5",
                                    "127.0.0.1:%d" % proxy.port])
                    self.assertRun(res)
                    calls = res.report().row("grpc", SAY_HELLO).reqs
                    self.assertGreater(calls, 0)
                    sent[mode] = proxy.wait_bytes_up() / calls
            rep = ps.stop()
        self.assertLess(sent["gzip"], 2000, sent)
        self.assertGreater(sent["identity"], 60000, sent)
        self.assertTrue(all(r["name"] == name for r in rep["requests"][SAY_HELLO]))

    def test_error_statuses(self):
        with PyServer(self.descriptor_set) as ps:
            res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                            "-m", '{"x-status": "5", "x-message": "no such user: é"}',
                            "-u", "1", "-t", "1s", "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res, 1)
        r = res.report()
        self.assertEqual(r.row("grpc", SAY_HELLO).fails, rep["statuses"]["NOT_FOUND"])
        self.assertEqual(r.errors[0].text, "grpc %s: NOT_FOUND: no such user: é" % SAY_HELLO,
                         res.describe())

    def test_status_message_with_blanks_at_its_ends(self):
        """RFC 9113 forbids blanks around a header value, nghttp2 enforces
        it, grpcio sends them: a load tester reports what the server said
        (grpcio's own client shows INVALID_ARGUMENT 'trailing space ')."""
        for text in ("trailing space ", " leading space"):
            out = os.path.join(self.tmp, "blanks.json")
            with PyServer(self.descriptor_set) as ps:
                res = grpc_run(["--protoset", self.descriptor_set, "--call", "SayHello",
                                "-m", json.dumps({"x-status": "3", "x-message": text}),
                                "-u", "1", "-t", "1s", "--stop-timeout", "5",
                                "--json-file", out, ps.target])
                rep = ps.stop()
            self.assertRun(res, 1)
            self.assertEqual(res.report().row("grpc", SAY_HELLO).fails,
                             rep["statuses"]["INVALID_ARGUMENT"])
            # The console pads error texts; the JSON report keeps them exact.
            with open(out) as f:
                errors = json.load(f)["errors"]
            self.assertEqual([e["error"] for e in errors], ["INVALID_ARGUMENT: " + text],
                             res.describe())

    def test_http2_response_header_with_blanks_at_its_ends(self):
        """The same for the http2 plugin: a response header whose value ends
        in a blank is the server's business, not a stream error."""
        frame = os.path.join(self.tmp, "hello.bin")
        with open(frame, "wb") as f:
            f.write(b"\x00\x00\x00\x00\x03\x0a\x01x")
        with PyServer(self.descriptor_set) as ps:
            res = grpc_run(["--http2", "-X", "POST", "-d", "@" + frame,
                            "-H", "content-type: application/grpc", "-H", "te: trailers",
                            "-H", "x-initial: x-pad=padded", "-u", "1", "-t", "1s",
                            "--stop-timeout", "5",
                            "http://%s%s" % (ps.target, SAY_HELLO)])
            rep = ps.stop()
        self.assertRun(res)
        row = res.report().row("POST", SAY_HELLO)
        self.assertEqual(row.reqs, rep["calls"][SAY_HELLO], res.describe())
        self.assertEqual(row.fails, 0, res.describe())

    def test_json_mapping_over_the_wire(self):
        """rpcload encodes, Python's protobuf decodes: the same message as
        Python makes from the same JSON."""
        from google.protobuf import descriptor_pb2, descriptor_pool, json_format
        from google.protobuf import message_factory
        msg = {"i32": -5, "i64": "-9007199254740993", "u32": 7, "u64": "18446744073709551615",
               "s32": -3, "s64": "4", "f32": 7, "f64": "12",
               "sf32": -9, "sf64": "10", "fl": 1.5, "db": "-Infinity", "b": True,
               "s": "h\u00e9llo", "by": "AAEC/w==", "color": "BLUE"}
        with PyServer(self.descriptor_set) as ps:
            res = grpc_run(["--protoset", self.descriptor_set, "--call", "rl.test.TestService/Unary",
                            "-d", json.dumps(msg), "-u", "1", "-t", "1s", "--stop-timeout",
                            "5", ps.target])
            rep = ps.stop()
        if res.exit_code == 2 and "field" in res.stderr:
            self.fail("the test message does not fit pbtest.proto: " + res.stderr)
        self.assertRun(res)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(self.descriptor_set, "rb") as f:
            fds.ParseFromString(f.read())
        pool = descriptor_pool.DescriptorPool()
        for fd in fds.file:
            pool.Add(fd)
        cls = message_factory.MessageFactory(pool).GetPrototype(
            pool.FindMessageTypeByName("rl.test.Scalars"))
        want = json_format.MessageToDict(json_format.Parse(json.dumps(msg), cls()))
        got = rep["requests"][UNARY]
        self.assertGreater(len(got), 0)
        self.assertEqual(got[0], want)


if __name__ == "__main__":
    unittest.main()
