"""The gRPC options a ghz user reaches for, end to end against real servers
on free loopback ports: mutual TLS, --cname, message size limits, binary
input (-b, -B), -d @- and JSON arrays, -M, keepalive PINGs and connection
age (seen through an HTTP/2-aware proxy), the codes of failures before a
call, and an http:// target with gRPC's options.

Run from this folder:  RPCLOAD_BUILD_DIR=../../build RPCLOAD_BIN=../../build/rpcload \\
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_grpc_ghz
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

import rpcload
from hello_server import HelloServer, skip_reason as hello_skip_reason
from servers import closed_port
from test_grpc import HELLO_PROTO, PyServer, grpc, plugin_built

SAY_HELLO = "/locust.hello.HelloService/SayHello"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def make_cert(directory, name, cn):
    """A self-signed certificate (its own CA) for DNS name `cn` only.
    Returns (cert, key)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
         "-addext", "subjectAltName=DNS:" + cn, "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return cert, key


class H2Proxy:
    """A TCP forwarder on a free loopback port that reads the client's side
    as HTTP/2 frames: it counts connections that sent the HTTP/2 preface
    (rpcload's start-up probe only connects and closes) and PING frames (not ACKs), and
    with drop_pings swallows the client's PINGs, so the server never answers
    them. One thread per direction, bounded by its sockets."""

    def __init__(self, upstream_port, drop_pings=False):
        self.upstream_port = upstream_port
        self.drop_pings = drop_pings
        self.connections = 0
        self.pings = 0
        self.lock = threading.Lock()
        self.threads = []
        self.socks = []
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
            with self.lock:
                self.socks += [c, s]
            for fn, a, b in ((self._client_side, c, s), (self._pipe, s, c)):
                t = threading.Thread(target=fn, args=(a, b), daemon=True)
                t.start()
                self.threads.append(t)

    def _close(self, a, b):
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pipe(self, a, b):
        a.settimeout(30)
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            self._close(a, b)

    def _client_side(self, a, b):
        a.settimeout(30)
        buf = b""
        preface_done = False
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                buf += data
                out = b""
                if not preface_done:
                    if len(buf) < len(PREFACE):
                        continue
                    out, buf, preface_done = buf[:len(PREFACE)], buf[len(PREFACE):], True
                    with self.lock:
                        self.connections += 1

                while len(buf) >= 9:
                    length = struct.unpack(">I", b"\0" + buf[:3])[0]
                    if len(buf) < 9 + length:
                        break
                    frame, buf = buf[:9 + length], buf[9 + length:]
                    if frame[3] == 6 and not frame[4] & 1:  # PING, not an ACK
                        with self.lock:
                            self.pings += 1
                        if self.drop_pings:
                            continue
                    out += frame
                if out:
                    b.sendall(out)
        except OSError:
            pass
        finally:
            self._close(a, b)

    def __exit__(self, *exc):
        self.closing = True
        self.sock.close()
        with self.lock:
            socks = list(self.socks)
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=10)
        for x in socks:
            x.close()


class GhzTestCase(unittest.TestCase):
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-grpc-ghz-")
        cls.protoset = os.path.join(cls.tmp, "hello.protoset")
        subprocess.run(["protoc", "--include_imports", "-o", cls.protoset, "-I",
                        os.path.dirname(HELLO_PROTO), "hello.proto"],
                       check=True, capture_output=True, timeout=120)
        cls.server_cert, cls.server_key = make_cert(cls.tmp, "server", "api.rl.test")
        cls.client_cert, cls.client_key = make_cert(cls.tmp, "client", "client.rl.test")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not plugin_built():
            self.skipTest("the grpc plugin is not built")
        if grpc is None:
            self.skipTest("Python grpcio is missing (python3-grpcio)")

    def run_rl(self, args, **kw):
        return rpcload.run(["--protoset", self.protoset, "--call", "SayHello"] + args,
                           timeout_s=90, **kw)

    def assertRun(self, res, code=0):
        self.assertEqual(res.exit_code, code, res.describe())

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path

    def names(self, rep):
        return [r.get("name", "") for r in rep["requests"].get(SAY_HELLO, [])]


class TlsTests(GhzTestCase):
    def test_mutual_tls(self):
        tls = (self.server_cert, self.server_key, self.client_cert)
        base = ["--cacert", self.server_cert, "--cname", "api.rl.test", "-u", "1", "-t", "1s",
                "--stop-timeout", "5"]
        with PyServer(self.protoset, tls=tls) as ps:
            url = "grpcs://" + ps.target
            ok = self.run_rl(base + ["--cert", self.client_cert, "--key", self.client_key, url])
            refused = self.run_rl(base + [url])
            rep = ps.stop()
        self.assertRun(ok)
        self.assertEqual(ok.report().row("grpc", SAY_HELLO).reqs, rep["calls"][SAY_HELLO])
        # Without a client certificate the server ends the handshake: every
        # call fails, UNAVAILABLE as a gRPC client says.
        self.assertRun(refused, 1)
        row = refused.report().row("grpc", SAY_HELLO)
        self.assertEqual(row.fails, row.reqs, refused.describe())
        for e in refused.report().errors:
            self.assertTrue(e.text.startswith("grpc %s: UNAVAILABLE: " % SAY_HELLO),
                            refused.describe())

    def test_cname(self):
        """The certificate names api.rl.test, the target is 127.0.0.1:
        verified only with --cname; reflection (before the run) too."""
        with PyServer(self.protoset, tls=(self.server_cert, self.server_key)) as ps:
            url = "grpcs://" + ps.target
            args = ["--cacert", self.server_cert, "-u", "1", "-t", "1s", "--stop-timeout", "5"]
            # The good run first: a storm of failed handshakes keeps grpcio
            # busy for a while after.
            good = self.run_rl(args + ["--cname", "api.rl.test", url])
            bad = self.run_rl(args + [url])
            rep = ps.stop()
        why = hello_skip_reason()
        if why:
            self.skipTest("reflection over TLS: " + why)
        # Reflection: hello_server serves it.
        with HelloServer("--tls", self.server_cert, self.server_key) as hs:
            url = "grpcs://" + hs.target
            listed = rpcload.run(["--list", "--cacert", self.server_cert, "--cname",
                                  "api.rl.test", url], timeout_s=60)
            unlisted = rpcload.run(["--list", "--cacert", self.server_cert, url], timeout_s=60)
        # Refused at the start-up check, before any load, with the way out.
        self.assertRun(bad, 2)
        self.assertRegex(bad.stderr, "certificate verify failed: IP address mismatch.*--cname",
                         bad.describe())
        self.assertRun(good)
        self.assertEqual(good.report().row("grpc", SAY_HELLO).reqs, rep["calls"][SAY_HELLO])
        self.assertRun(listed)
        self.assertIn("locust.hello.HelloService", listed.stdout)
        self.assertRun(unlisted, 2)
        self.assertIn("certificate verify failed", unlisted.stderr, unlisted.describe())


class InputTests(GhzTestCase):
    def test_binary_file_and_stdin(self):
        # HelloRequest{name: "bin1"} and {name: "bin2"}, count-prefixed.
        one = b"\x0a\x04bin1"
        two = bytes([len(one)]) + one + bytes([len(one)]) + b"\x0a\x04bin2"
        path = self.write("two.bin", two)
        with PyServer(self.protoset) as ps:
            f = self.run_rl(["-B", path, "-u", "1", "-t", "1s", "--stop-timeout", "5",
                             ps.target])
            s = self.run_rl(["-b", "-u", "1", "-t", "1s", "--stop-timeout", "5", ps.target],
                            input_bytes=one)
            rep = ps.stop()
        self.assertRun(f)
        self.assertRun(s)
        names = self.names(rep)
        n_file = f.report().row("grpc", SAY_HELLO).reqs
        self.assertEqual(names[:4], ["bin1", "bin2", "bin1", "bin2"])
        self.assertTrue(all(n == "bin1" for n in names[n_file:]), names[n_file:n_file + 5])
        bad = self.run_rl(["-b", "127.0.0.1:1"], input_bytes=b"\x0a\x7fxx")
        self.assertRun(bad, 2)
        self.assertIn("the binary input is neither", bad.stderr)
        both = self.run_rl(["-b", "-d", "{}", "127.0.0.1:1"], input_bytes=one)
        self.assertRun(both, 2)
        self.assertIn("not both", both.stderr)

    def test_json_from_stdin_arrays_and_one_object_files(self):
        obj = self.write("one.json", '{"name": "single"}')
        runs = [(["-d", "@-"], b'{"name": "from stdin"}', ["from stdin"] * 4),
                (["-d", '[{"name": "x"}, {"name": "y"}]'], None, ["x", "y", "x", "y"]),
                (["-D", obj], None, ["single"] * 4)]
        for args, stdin, want in runs:
            with PyServer(self.protoset) as ps:
                res = self.run_rl(args + ["-u", "1", "-t", "1s", "--stop-timeout", "5",
                                          ps.target], input_bytes=stdin)
                rep = ps.stop()
            self.assertRun(res)
            self.assertEqual(self.names(rep)[:4], want, args)

    def test_metadata_file(self):
        md = self.write("md.json", json.dumps({"authorization": "Bearer file",
                                               "x-require": "authorization=Bearer file"}))
        with PyServer(self.protoset) as ps:
            res = self.run_rl(["-M", md, "-u", "1", "-t", "1s", "--stop-timeout", "5",
                               ps.target])
            rep = ps.stop()
        self.assertRun(res)
        self.assertEqual(rep["metadata"][0]["authorization"], "Bearer file")
        self.assertEqual(rep["statuses"], {"OK": res.report().row("grpc", SAY_HELLO).reqs})
        bad = self.run_rl(["-M", self.write("bad.json", "[1]"), "127.0.0.1:1"])
        self.assertRun(bad, 2)
        self.assertIn("-M: expected a JSON object", bad.stderr)


class LimitTests(GhzTestCase):
    def test_message_size_limits(self):
        """Responses over --max-recv-message-size fail RESOURCE_EXHAUSTED
        (4 MiB by default, like grpc); a request over the send limit is
        refused at start-up."""
        big = json.dumps({"name": "n" * 5000})
        with PyServer(self.protoset) as ps:
            small = self.run_rl(["-d", big, "--max-recv-message-size", "4KiB", "-u", "1",
                                 "-t", "1s", "--stop-timeout", "5", ps.target])
            fits = self.run_rl(["-d", big, "--max-recv-message-size", "6KiB", "-u", "1", "-t",
                                "1s", "--stop-timeout", "5", ps.target])
            ps.stop()
        self.assertRun(small, 1)
        self.assertEqual([e.text for e in small.report().errors],
                         ["grpc %s: RESOURCE_EXHAUSTED: response message over 4 KiB "
                          "(--max-recv-message-size)" % SAY_HELLO])
        self.assertRun(fits)
        res = self.run_rl(["-d", big, "--max-send-message-size", "1000", "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("-d is 5003 bytes, over the send limit of 1000 bytes", res.stderr)
        res = self.run_rl(["--max-recv-message-size", "65MiB", "127.0.0.1:1"])
        self.assertRun(res, 2)
        self.assertIn("to 64 MiB", res.stderr)


class ConnectionTests(GhzTestCase):
    def setUp(self):
        super().setUp()
        why = hello_skip_reason()
        if why:
            self.skipTest(why)

    def hello(self, proxy, args):
        return rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "-u", "1", "-t",
                            "1.2s", "--stop-timeout", "5"] + args +
                           ["127.0.0.1:%d" % proxy.port], timeout_s=60)

    def test_keepalive_pings(self):
        with HelloServer() as hs:
            with H2Proxy(hs.port) as px:
                res = self.hello(px, ["--keepalive", "200ms"])
            with H2Proxy(hs.port) as quiet:
                none = self.hello(quiet, [])
        self.assertRun(res)
        self.assertGreaterEqual(px.pings, 4, res.describe())
        self.assertEqual(px.connections, 1)
        self.assertRun(none)
        self.assertEqual(quiet.pings, 0)

    def test_unanswered_ping_closes_the_connection(self):
        """A PING the server never acknowledges (the proxy swallows it): the
        connection is closed after the interval and calls go on a new one."""
        with HelloServer() as hs:
            with H2Proxy(hs.port, drop_pings=True) as px:
                res = self.hello(px, ["--keepalive", "200ms"])
        self.assertIn(res.exit_code, (0, 1), res.describe())
        self.assertGreaterEqual(px.connections, 3, res.describe())
        self.assertIn("keepalive PING unanswered", res.stderr)
        for e in res.report().errors:
            self.assertTrue(e.text.startswith("grpc %s: UNAVAILABLE: " % SAY_HELLO), e.text)

    def test_max_connection_age(self):
        with HelloServer() as hs:
            with H2Proxy(hs.port) as px:
                res = self.hello(px, ["--max-connection-age", "300ms"])
            hs.stop()
        self.assertRun(res)
        self.assertGreaterEqual(px.connections, 3, res.describe())
        self.assertEqual(res.report().row("grpc", SAY_HELLO).fails, 0)
        self.assertEqual(res.report().row("grpc", SAY_HELLO).reqs, hs.counts["hello_ok"])


class CountingTests(GhzTestCase):
    """--skip-first and --warmup: requests the server served, not counted."""

    def setUp(self):
        super().setUp()
        why = hello_skip_reason()
        if why:
            self.skipTest(why)

    def test_skip_first(self):
        with HelloServer() as hs:
            res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "--skip-first",
                               "100", "-u", "2", "-t", "1s", "--stop-timeout", "5", hs.target],
                              timeout_s=60)
            hs.stop()
        self.assertRun(res)
        self.assertEqual(res.report().row("grpc", SAY_HELLO).reqs, hs.counts["hello_ok"] - 100)

    def test_warmup(self):
        """The first second of two is not counted, and the rate is over the
        second alone."""
        out = os.path.join(self.tmp, "warm.json")
        with HelloServer() as hs:
            res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "--warmup", "1s",
                               "-u", "2", "-t", "2s", "--stop-timeout", "5", "--json-file",
                               out, hs.target], timeout_s=60)
            hs.stop()
        self.assertRun(res)
        counted = res.report().row("grpc", SAY_HELLO).reqs
        served = hs.counts["hello_ok"]
        self.assertGreater(counted, served * 0.25, res.describe())
        self.assertLess(counted, served * 0.75, res.describe())
        with open(out) as f:
            rep = json.load(f)
        self.assertLess(abs(rep["run"]["duration"] - 1.0), 0.5, rep["run"])
        bad = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "--warmup", "5s",
                           "-t", "5s", "127.0.0.1:1"], timeout_s=30)
        self.assertRun(bad, 2)
        self.assertIn("--warmup is not shorter than --run-time", bad.stderr)


class StatusTableTests(GhzTestCase):
    """The status code distribution, in the console, the JSON and the HTML
    report, against grpcio answering OK or UNAVAILABLE by a template."""

    def test_status_table_everywhere(self):
        js = os.path.join(self.tmp, "status.json")
        html = os.path.join(self.tmp, "status.html")
        with PyServer(self.protoset) as ps:
            res = self.run_rl(["-m", '{"x-status": "{{random_int 0 1}}", "x-message": "busy"}',
                               "-u", "2", "-t", "1s", "--stop-timeout", "5", "--json-file", js,
                               "--html", html, ps.target])
            rep = ps.stop()
        self.assertRun(res, 1)
        st = rep["statuses"]
        lines = res.stdout[res.stdout.index("Status code distribution"):].splitlines()
        table = {l.split()[1]: int(l.split()[2]) for l in lines[3:5]}
        self.assertEqual(table, {"OK": st["OK"], "CANCELLED": st["CANCELLED"]}, res.describe())
        with open(js) as f:
            codes = json.load(f)["status_codes"]
        self.assertEqual({c["status"]: c["count"] for c in codes}, table)
        self.assertEqual({c["type"] for c in codes}, {"grpc"})
        with open(html) as f:
            page = f.read()
        data = json.loads(page.split('id="rl-data">', 1)[1].split("</script>", 1)[0])
        self.assertEqual({c["status"]: c["count"] for c in data["status_codes"]}, table)
        from test_html_report import CHROMIUM, chromium, parse
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest("chromium is missing (the table's rendering)")
        dom, console = chromium("file://" + html, "--dump-dom", tmp=self.tmp)
        self.assertEqual(console, [])
        tables = [a.get("class") for t, a in parse(dom).tags if t == "table"]
        self.assertIn("status", tables)
        self.assertIn("CANCELLED", dom)


class ErrorTests(GhzTestCase):
    def test_failures_before_the_call_are_unavailable(self):
        with closed_port() as port:
            # --allow-unreachable: past the start-up check, into the calls.
            res = self.run_rl(["-u", "1", "-t", "1s", "--allow-unreachable",
                               "127.0.0.1:%d" % port])
            held = self.run_rl(["-u", "1", "-t", "1s", "127.0.0.1:%d" % port])
        self.assertRun(held, 2)
        self.assertIn("cannot reach 127.0.0.1:%d" % port, held.stderr)
        self.assertIn("connection refused; nothing was sent", held.stderr)
        self.assertRun(res, 1)
        self.assertEqual([e.text for e in res.report().errors],
                         ["grpc %s: UNAVAILABLE: connection refused" % SAY_HELLO])

    def test_http_url_with_grpc_options(self):
        res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello",
                           "http://127.0.0.1:50051/"], timeout_s=30)
        self.assertRun(res, 2)
        self.assertIn("http://127.0.0.1:50051/ is an HTTP target", res.stderr)
        self.assertIn("grpc://127.0.0.1:50051", res.stderr)
        self.assertNotIn("import", res.stderr)


if __name__ == "__main__":
    unittest.main()
