"""gRPC streaming end to end: rpcload against real servers on free loopback
ports, every shape of call.

  - grpc_stream_server.py (Debian's Python grpcio): the streaming methods of
    gRPC's interop TestService (tests/data/interop_test.proto) with response
    sizes, intervals and statuses: message counts on both sides agree, the
    per-message rows add up, calls end by count and by duration, a server
    error mid-stream fails the call with its status, --timeout resets the
    stream, flow control both ways (a slow reader, a stream bigger than every
    window), templates per message, a scenario's streaming step with expect
    and capture;
  - examples/hello's C server (grpc core): SayHelloStream, SayHelloToAll,
    SayHelloChat against its own counts.

Run from this folder:  RPCLOAD_BUILD_DIR=../../build RPCLOAD_BIN=../../build/rpcload \\
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_grpc_stream
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import rpcload
from hello_server import HelloServer, skip_reason as hello_skip_reason
from test_grpc import HELLO_PROTO, PyServer, grpc, plugin_built

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data")
OUT = "/grpc.testing.TestService/StreamingOutputCall"
IN = "/grpc.testing.TestService/StreamingInputCall"
DUPLEX = "/grpc.testing.TestService/FullDuplexCall"
UNARY = "/grpc.testing.TestService/UnaryCall"
H = "/locust.hello.HelloService/"


def b64(text):
    return base64.b64encode(text.encode()).decode()


class StreamTestCase(unittest.TestCase):
    tmp = None
    protoset = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-grpc-stream-")
        cls.protoset = os.path.join(cls.tmp, "interop.protoset")
        subprocess.run(["protoc", "--include_imports", "-o", cls.protoset, "-I", DATA,
                        "interop_test.proto"], check=True, capture_output=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not plugin_built():
            self.skipTest("the grpc plugin is not built")
        if grpc is None:
            self.skipTest("Python grpcio is missing (python3-grpcio)")

    def server(self):
        return PyServer(self.protoset, script="grpc_stream_server.py")

    def run_rl(self, args, timeout_s=90, **kw):
        return rpcload.run(["--protoset", self.protoset] + args, timeout_s=timeout_s, **kw)

    def assertRun(self, res, code=0):
        self.assertEqual(res.exit_code, code, res.describe())

    def rows(self, res, name):
        """(calls, [recv] requests, [send] requests) of one method."""
        rep = res.report()
        get = lambda n: rep.row("grpc", n).reqs if rep.row("grpc", n) else 0  # noqa: E731
        return get(name), get(name + " [recv]"), get(name + " [send]")

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class InteropStreamTests(StreamTestCase):
    """Against grpcio's TestService."""

    def test_server_stream_counts_agree(self):
        req = {"response_parameters": [{"size": 10}, {"size": 20},
                                       {"size": 30, "interval_us": 1000}]}
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "5",
                               ps.target])
            rep = ps.stop()
        self.assertRun(res)
        calls, recv, send = self.rows(res, OUT)
        self.assertGreater(calls, 5, res.describe())
        self.assertEqual(calls, rep["calls"]["StreamingOutputCall"], rep)
        self.assertEqual(recv, 3 * calls, res.describe())
        self.assertEqual(recv, rep["sent"]["StreamingOutputCall"], rep)
        self.assertEqual(send, 0)
        self.assertEqual(rep["statuses"], {"OK": calls})
        # The rows add up in the Aggregated row too (calls and messages).
        self.assertEqual(res.report().aggregated.reqs, calls + recv)

    def test_client_stream_sends_the_list_in_order(self):
        data = self.write("three.json", json.dumps(
            [{"payload": {"body": b64(t)}} for t in ("a", "bb", "ccc")]))
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingInputCall", "-D", data, "-u", "1", "-t", "1s",
                               "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res)
        calls, recv, send = self.rows(res, IN)
        self.assertGreater(calls, 2, res.describe())
        self.assertEqual(send, 3 * calls)
        self.assertEqual(send, rep["received"]["StreamingInputCall"], rep)
        self.assertEqual(recv, 0)
        self.assertEqual(rep["names"][:6], ["a", "bb", "ccc", "a", "bb", "ccc"])

    def test_bidirectional_counts_agree(self):
        reqs = [{"response_parameters": [{"size": 5}]},
                {"response_parameters": [{"size": 5}, {"size": 7}]}]
        with self.server() as ps:
            res = self.run_rl(["--call", "FullDuplexCall", "-d", json.dumps(reqs), "-u", "2",
                               "-t", "1s", "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res)
        calls, recv, send = self.rows(res, DUPLEX)
        self.assertGreater(calls, 5)
        self.assertEqual(send, 2 * calls)
        self.assertEqual(recv, 3 * calls)
        self.assertEqual(send, rep["received"]["FullDuplexCall"])
        self.assertEqual(recv, rep["sent"]["FullDuplexCall"])

    def test_count_ends_a_server_stream(self):
        """--stream-call-count on a server stream: the client ends each call
        after N messages (the server sees it cancelled) and it succeeds."""
        req = {"response_parameters": [{"size": 3, "interval_us": 20000}] * 50}
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "--stream-call-count", "3", "-u", "2", "-t", "1s",
                               "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res)
        calls, recv, _ = self.rows(res, OUT)
        self.assertGreater(calls, 2)
        self.assertEqual(recv, 3 * calls)
        self.assertEqual(rep["statuses"].get("CANCELLED"), calls, rep)
        self.assertNotIn("OK", rep["statuses"])

    def test_duration_ends_streams(self):
        """--stream-call-duration: a server stream is ended by the client (a
        success); a client's stream stops sending and closes its side."""
        req = {"response_parameters": [{"size": 3, "interval_us": 50000}] * 100}
        with self.server() as ps:
            out = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "--stream-call-duration", "300ms", "-u", "1", "-t", "1s",
                               "--stop-timeout", "5", ps.target])
            inp = self.run_rl(["--call", "StreamingInputCall", "-d",
                               json.dumps({"payload": {"body": b64("x")}}),
                               "--stream-interval", "50ms", "--stream-call-duration", "300ms",
                               "-u", "1", "-t", "1s", "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(out)
        calls, recv, _ = self.rows(out, OUT)
        self.assertGreaterEqual(calls, 2, out.describe())
        self.assertTrue(3 * calls <= recv <= 8 * calls, out.describe())
        self.assertEqual(rep["statuses"].get("CANCELLED"), calls, rep)
        self.assertRun(inp)
        calls, _, send = self.rows(inp, IN)
        self.assertGreaterEqual(calls, 2, inp.describe())
        self.assertTrue(3 * calls <= send <= 8 * calls, inp.describe())
        self.assertEqual(send, rep["received"]["StreamingInputCall"])
        self.assertEqual(rep["statuses"]["OK"], calls)

    def test_server_error_mid_stream_fails_the_call(self):
        req = {"response_parameters": [{"size": 4}, {"size": 4}],
               "response_status": {"code": 13, "message": "midway"}}
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "-u", "1", "-t", "1s", "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res, 1)
        r = res.report()
        calls, recv, _ = self.rows(res, OUT)
        self.assertEqual(r.row("grpc", OUT).fails, calls)
        self.assertEqual(recv, 2 * calls)
        self.assertEqual(r.row("grpc", OUT + " [recv]").fails, 0)
        self.assertEqual([e.text for e in r.errors], ["grpc %s: INTERNAL: midway" % OUT])
        self.assertEqual(rep["statuses"], {"INTERNAL": calls})

    def test_timeout_resets_the_stream(self):
        req = {"response_parameters": [{"size": 3, "interval_us": 100000}] * 20}
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "--timeout", "0.3", "-u", "2", "-t", "1s", "--stop-timeout",
                               "5", ps.target])
            rep = ps.stop()
        self.assertRun(res, 1)
        calls, recv, _ = self.rows(res, OUT)
        self.assertGreater(calls, 1)
        self.assertEqual(res.report().row("grpc", OUT).fails, calls)
        for e in res.report().errors:
            self.assertIn("DEADLINE_EXCEEDED", e.text, res.describe())
        self.assertTrue(recv <= 3 * calls, res.describe())
        self.assertNotIn("OK", rep["statuses"], rep)
        self.assertEqual(sum(rep["statuses"].values()), calls, rep)

    def test_slow_reader_holds_the_client_back(self):
        """Flow control, client to server: calls of 200 messages of 256 KiB
        (50 MB) to a server that reads one every 2 ms. The calls complete,
        every message arrives, and rpcload's memory stays below one call's
        worth: it makes each message only when the server's window lets it
        go, so nothing piles up on its side."""
        if not os.access("/usr/bin/time", os.X_OK):
            self.skipTest("/usr/bin/time is missing")
        if rpcload.sanitized():
            self.skipTest("ASan's shadow memory makes the RSS meaningless")
        body = json.dumps({"payload": {"body": base64.b64encode(b"z" * 262144).decode()}})
        data = self.write("big.json", body)
        rss = os.path.join(self.tmp, "rss")
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingInputCall", "-D", data,
                               "--stream-call-count", "200", "-m",
                               '{"x-read-delay-ms": "2"}', "-u", "1", "-t", "1s",
                               "--stop-timeout", "20", "--timeout", "30", ps.target],
                              wrapper=["/usr/bin/time", "-f", "%M", "-o", rss])
            rep = ps.stop()
        self.assertRun(res)
        calls, _, send = self.rows(res, IN)
        self.assertGreaterEqual(calls, 1, res.describe())
        self.assertEqual(send, 200 * calls)
        self.assertEqual(rep["received"]["StreamingInputCall"], 200 * calls)
        with open(rss) as f:
            max_kb = int(f.read().split()[-1])
        sent_mb = calls * 200 * 0.25
        self.assertGreaterEqual(sent_mb, 50)
        self.assertLess(max_kb / 1024, 40, "max RSS %d kB after sending %.0f MB" %
                        (max_kb, sent_mb))

    def test_stream_bigger_than_every_window(self):
        """Flow control, server to client: 24 MiB in one call, more than the
        connection's window (16 MiB) and the stream's (1 MiB): the client
        gives window back as it reads."""
        req = {"response_parameters": [{"size": 1 << 20}] * 24}
        with self.server() as ps:
            res = self.run_rl(["--call", "StreamingOutputCall", "-d", json.dumps(req),
                               "-u", "1", "-t", "1s", "--stop-timeout", "20", "--timeout",
                               "30", ps.target])
            rep = ps.stop()
        self.assertRun(res)
        calls, recv, _ = self.rows(res, OUT)
        self.assertGreaterEqual(calls, 1)
        self.assertEqual(recv, 24 * calls)
        self.assertEqual(rep["statuses"], {"OK": calls})

    def test_templates_per_message(self):
        msgs = [{"response_status": {"message": "u{{user_id}}-{{random_int 1 1000000000}}"}}]
        with self.server() as ps:
            res = self.run_rl(["--call", "FullDuplexCall", "-d", json.dumps(msgs),
                               "--stream-call-count", "3", "-u", "1", "-t", "1s",
                               "--stop-timeout", "5", ps.target])
            rep = ps.stop()
        self.assertRun(res)
        texts = [r["responseStatus"]["message"] for r in rep["requests"][:3]]
        self.assertEqual(len(texts), 3, rep["requests"][:3])
        self.assertTrue(all(t.startswith("u1-") for t in texts), texts)
        self.assertEqual(len(set(texts)), 3, texts)

    def test_scenario_streaming_step_expect_and_capture(self):
        """A scenario's streaming step: its messages as a `json:` list, the
        stream options as the step's keys; expect on the count and the last
        message, capture from a message, sent on by the next step."""
        scn = """
host: %s
users:
  - name: Streamer
    tasks:
      - steps:
          - grpc: grpc.testing.TestService/StreamingOutputCall
            protoset: %s
            json:
              response_parameters: [{size: 3}, {size: 4}, {size: 5}]
            stream_call_count: "2"
            expect:
              grpc_status: OK
              json:
                $.count: 2
                $.last.payload.body: "eHh4eA=="
            capture: {first: '$.messages[0].payload.body'}
          - grpc: grpc.testing.TestService/UnaryCall
            protoset: %s
            data: '{"payload": {"body": "{{first}}"}}'
          - grpc: grpc.testing.TestService/StreamingOutputCall
            protoset: %s
            name: wrong count
            json: {response_parameters: [{size: 1}]}
            expect: {json: {$.count: 2}}
"""
        with self.server() as ps:
            path = self.write("stream.yaml", scn % (ps.target, self.protoset, self.protoset,
                                                    self.protoset))
            res = rpcload.run(["-f", path, "-u", "1", "-t", "1s", "--stop-timeout", "5"],
                              timeout_s=90)
            rep = ps.stop()
        self.assertRun(res, 1)
        r = res.report()
        calls, recv, _ = self.rows(res, OUT)
        self.assertGreater(calls, 1, res.describe())
        self.assertEqual(r.row("grpc", OUT).fails, 0, res.describe())
        self.assertEqual(recv, 2 * calls)
        unary = r.row("grpc", UNARY)
        self.assertEqual(unary.reqs, calls)
        self.assertEqual(unary.fails, 0)
        bodies = [q["payload"]["body"] for q in rep["requests"] if "responseParameters" not in q]
        self.assertTrue(bodies and all(b == b64("xxx") for b in bodies), bodies)
        wrong = r.row("grpc", "wrong count")
        self.assertEqual(wrong.fails, wrong.reqs)
        self.assertIn("$.count is 1, expected 2", r.error_text())


    def test_scenario_per_call_list_and_options(self):
        """A step's data and stream_call_count given as one template each
        (docs/grpc.md, "Per call"): a data column's JSON array is that
        call's list; its count that call's, empty leaving it unset."""
        scn = """
host: %s
data: {file: %s}
users:
  - name: PerCall
    tasks:
      - steps:
          - grpc: grpc.testing.TestService/StreamingInputCall
            protoset: %s
            data: '{{data.msgs}}'
            stream_call_count: '{{data.n}}'
"""
        one = {"payload": {"body": b64("a")}}
        rows = [{"n": "5", "msgs": [one, {"payload": {"body": b64("bb")}}]},
                {"n": "", "msgs": [one, one, one]}]
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        with self.server() as ps:
            data = self.write("calls.jsonl", lines)
            path = self.write("percall.yaml", scn % (ps.target, data, self.protoset))
            res = rpcload.run(["-f", path, "-u", "1", "-n", "2", "--stop-timeout", "5"],
                              timeout_s=90)
            rep = ps.stop()
        self.assertRun(res)
        self.assertEqual(sorted(tuple(c) for c in rep["per_call"]),
                         [("StreamingInputCall", 3, 1, "OK"),
                          ("StreamingInputCall", 5, 1, "OK")], res.describe())

    def test_scenario_messages_and_expect_on_every_message(self):
        """A bidirectional step's `messages:` list, and `expect` on every
        message received ($.messages[*]): passes when each does, fails
        naming the first that does not."""
        scn = """
host: %s
users:
  - name: Duplex
    tasks:
      - steps:
          - grpc: grpc.testing.TestService/FullDuplexCall
            protoset: %s
            name: every
            messages:
              - {response_parameters: [{size: 3}]}
              - {response_parameters: [{size: 4}]}
            expect:
              json:
                $.count: 2
                "$.messages[*].payload.body": {matches: "^eHh4"}
          - grpc: grpc.testing.TestService/FullDuplexCall
            protoset: %s
            name: not every
            messages:
              - {response_parameters: [{size: 3}]}
              - {response_parameters: [{size: 4}]}
            expect:
              json: {"$.messages[*].payload.body": "eHh4"}
"""
        with self.server() as ps:
            path = self.write("every.yaml", scn % (ps.target, self.protoset, self.protoset))
            res = rpcload.run(["-f", path, "-u", "1", "-t", "1s", "--stop-timeout", "5"],
                              timeout_s=90)
            rep = ps.stop()
        self.assertRun(res, 1)
        r = res.report()
        every, wrong = r.row("grpc", "every"), r.row("grpc", "not every")
        self.assertGreater(every.reqs, 0, res.describe())
        self.assertEqual(every.fails, 0, res.describe())
        self.assertEqual(wrong.fails, wrong.reqs)
        self.assertIn("$.messages[1].payload.body is \"eHh4eA==\", expected \"eHh4\"",
                      r.error_text())
        # Both steps sent their two messages on each call.
        self.assertEqual(rep["received"]["FullDuplexCall"], 2 * (every.reqs + wrong.reqs))
        # A step's name: names its messages' rows too (as a Lua call's
        # name= does: test_lua_grpc_stream).
        self.assertEqual(r.row("grpc", "every [send]").reqs, 2 * every.reqs)
        self.assertEqual(r.row("grpc", "every [recv]").reqs, 2 * every.reqs)


class HelloStreamTests(StreamTestCase):
    """Against examples/hello's C server (grpc core)."""

    def setUp(self):
        super().setUp()
        why = hello_skip_reason()
        if why:
            self.skipTest(why)

    def hello(self, args, hs):
        return rpcload.run(["--proto", HELLO_PROTO] + args + ["-u", "4", "-r", "20", "-t", "1s",
                                                              "--stop-timeout", "5", hs.target],
                           timeout_s=90)

    def test_counts_agree_with_the_servers(self):
        with HelloServer() as hs:
            out = self.hello(["--call", "SayHelloStream", "-d", '{"name":"s","count":50}'], hs)
            to_all = self.hello(["--call", "SayHelloToAll", "-d",
                                 '[{"name":"a"},{"name":"b"},{"name":"c"}]'], hs)
            chat = self.hello(["--call", "SayHelloChat", "-d", '{"name":"p"}',
                               "--stream-ping-pong", "--stream-call-count", "20"], hs)
            hs.stop()
        for res in (out, to_all, chat):
            self.assertRun(res)
        c_out, r_out, _ = self.rows(out, H + "SayHelloStream")
        c_all, _, s_all = self.rows(to_all, H + "SayHelloToAll")
        c_chat, r_chat, s_chat = self.rows(chat, H + "SayHelloChat")
        self.assertEqual(r_out, 50 * c_out)
        self.assertEqual(s_all, 3 * c_all)
        self.assertEqual(s_chat, 20 * c_chat)
        self.assertEqual(r_chat, s_chat)
        n = hs.counts
        self.assertEqual(n["stream_ok"], c_out + c_all + c_chat, hs.describe())
        self.assertEqual(n["stream_failed"], 0, hs.describe())
        self.assertEqual(n["msgs_in"], c_out + s_all + s_chat, hs.describe())
        self.assertEqual(n["msgs_out"], r_out + c_all + r_chat, hs.describe())

    def test_status_after_the_messages(self):
        with HelloServer() as hs:
            res = self.hello(["--call", "SayHelloStream", "-d", '{"name":"s","count":3}',
                              "-m", '{"x-status": "14", "x-message": "draining"}'], hs)
        self.assertRun(res, 1)
        calls, recv, _ = self.rows(res, H + "SayHelloStream")
        self.assertEqual(res.report().row("grpc", H + "SayHelloStream").fails, calls)
        self.assertEqual(recv, 3 * calls)
        self.assertEqual([e.text for e in res.report().errors],
                         ["grpc %sSayHelloStream: UNAVAILABLE: draining" % H])


if __name__ == "__main__":
    unittest.main()
