"""gRPC from Lua with rl.grpc.proto objects and streams (docs/lua.md,
src/script/grpcproto.c) against grpc_stream_server.py (Debian's Python
grpcio, gRPC's interop TestService, tests/data/interop_test.proto):

- u.grpc:call(proto, "Method", msg) on a class whose grpc table names the
  object (every method of the file declared), next to the full-name form;
  {host = ...} on a call: one of the grpc table's hosts (a second server
  counts those calls);
- a server stream's replies (r:messages()), a client stream sending a list,
  a bidirectional one sending a list and getting the replies: the counts
  the script saw, the stats rows (the call's under name=, its messages'
  too, as docs/grpc.md names them: "<name> [recv]" and "[send]") and the
  server's own counts agree;
- the stream options per call (stream_call_count on client, server and
  bidi streams, stream_interval, stream_ping_pong) and a client stream of
  40 messages: the server's count of each call's messages;
- stream_call_duration per call: a server stream the client ends when
  its time is up, a client stream sending one message every 50 ms until
  then, a value refused for that call alone (bad, or not under
  --timeout): the server's count of each call's messages;
- a list longer than the bound (100000), an undeclared method, options
  a method's shape does not take: Lua errors saying so.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_grpc_stream
"""

import os
import re
import subprocess
import unittest

from hello_server import HelloServer, skip_reason as hello_skip_reason
from test_grpc import PyServer, grpc, plugin_built
from test_lua import BUILD_DIR, RPCLOAD, LuaScriptCase, rows

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(os.path.dirname(HERE), "data", "interop_test.proto")

SCRIPT = '''
local t = rl.grpc.proto("%(proto)s")
local seen = {out = 0, duplex = 0}
S = rl.user { grpc = {proto = t, host = "%(host)s", hosts = {"%(other)s"}},
  tasks = { function(u)
    -- A server stream: three replies, sizes 1, 2, 3.
    local r = u.grpc:call(t, "StreamingOutputCall",
      {response_parameters = {{size = 1}, {size = 2}, {size = 3}}},
      {name = "out"})
    local ms = r:messages()
    if #ms ~= 3 or #ms[3].payload.body ~= 4 then   -- base64 of 3 bytes
      r:failure("out: " .. rl.json_encode(ms))
    end
    -- A client stream: a list of two (payloads of 1 and 2 bytes).
    r = u.grpc:call(t, "TestService/StreamingInputCall",
      {{payload = {body = "YQ=="}}, {payload = {body = "YmI="}}},
      {name = "in"})
    if r:json().aggregatedPayloadSize ~= 3 then r:failure("in: " .. r.body) end
    if #r:messages() ~= 1 then r:failure("in: not one reply") end
    -- Bidirectional: two requests, 1 + 2 replies.
    r = u.grpc:call(t, "FullDuplexCall",
      {{response_parameters = {{size = 5}}},
       {response_parameters = {{size = 5}, {size = 7}}}},
      {name = "duplex"})
    if #r:messages() ~= 3 then r:failure("duplex: " .. r.body) end
    -- The full name without the object, as before.
    r = u.grpc:call("grpc.testing.TestService/UnaryCall",
                    {response_size = 4}, {name = "unary"})
    if r.status ~= 0 then r:failure("unary " .. r.status) end
    -- The issue's sketch: the host named by the call (declared in hosts).
    r = u.grpc:call(t, "UnaryCall", {response_size = 1},
                    {name = "other", host = "%(other)s"})
    if r.status ~= 0 then r:failure("other " .. r.status) end
  end } }
'''

OPTIONS = """
local t = rl.grpc.proto("%(proto)s")
S = rl.user { grpc = {proto = t, host = "%(host)s"},
  tasks = { function(u)
    -- A client stream longer than the old limit of 16: 40 messages.
    local list = {}
    for i = 1, 40 do list[i] = {payload = {body = "YQ=="}} end
    local r = u.grpc:call(t, "StreamingInputCall", list, {name = "in40"})
    if r:json().aggregatedPayloadSize ~= 40 then r:failure(r.body) end
    -- stream_call_count on a client stream: 7 messages cycling a list of 2.
    r = u.grpc:call(t, "StreamingInputCall",
      {{payload = {body = "YQ=="}}, {payload = {body = "YmI="}}},
      {name = "in7", stream_call_count = 7})
    if r:json().aggregatedPayloadSize ~= 10 then r:failure(r.body) end
    -- stream_interval: 3 messages 50 ms apart.
    r = u.grpc:call(t, "StreamingInputCall",
      {{payload = {body = "YQ=="}}, {payload = {body = "YQ=="}},
       {payload = {body = "YQ=="}}},
      {name = "in3", stream_interval = 0.05})
    if r.elapsed < 100 then r:failure("in3 took " .. r.elapsed .. " ms") end
    -- stream_call_count on a server stream: the client stops after 2 of 5
    -- (the server's third comes 100 ms later: the cancel is there first).
    r = u.grpc:call(t, "StreamingOutputCall",
      {response_parameters = {{size = 1}, {size = 1},
        {size = 1, interval_us = 100000}, {size = 1, interval_us = 100000},
        {size = 1, interval_us = 100000}}},
      {name = "out2", stream_call_count = 2})
    if #r:messages() ~= 2 then r:failure(r.body) end
    -- ping-pong: each of 3 messages after the reply to the one before.
    r = u.grpc:call(t, "FullDuplexCall", {{response_parameters = {{size = 2}}}},
      {name = "pp", stream_call_count = 3, stream_ping_pong = true})
    if #r:messages() ~= 3 then r:failure(r.body) end
    -- the same call without options: one message, one reply.
    r = u.grpc:call(t, "FullDuplexCall", {{response_parameters = {{size = 2}}}},
      {name = "plain"})
    if #r:messages() ~= 1 then r:failure(r.body) end
    -- a value the grpc plugin refuses: that call fails with the reason,
    -- not sent.
    r = u.grpc:call(t, "StreamingInputCall", {{}},
      {name = "bad", stream_interval = "5mm"})
    if r.ok or not (r.error or ""):find("stream_interval '5mm': expected "
                                        .. "a duration", 1, true) then
      r:failure("bad: " .. tostring(r.error))
    else
      r:success()
    end
    rl.stop_user()
  end } }
"""

DURATION = """
local t = rl.grpc.proto("%(proto)s")
S = rl.user { grpc = {proto = t, host = "%(host)s"},
  tasks = { function(u)
    -- A server stream of 20 replies 100 ms apart, ended by the client at
    -- 350 ms: a success with the replies so far (the server sees a cancel).
    local ps = {}
    for i = 1, 20 do ps[i] = {size = 1, interval_us = 100000} end
    local r = u.grpc:call(t, "StreamingOutputCall", {response_parameters = ps},
      {name = "out", stream_call_duration = "350ms"})
    local n = #r:messages()
    if not r.ok or n < 1 or n >= 20 then r:failure("out: " .. n) end
    -- A client stream of one message sent every 50 ms for 0.4 s (the
    -- list cycles while the time lasts), then closed: one reply.
    r = u.grpc:call(t, "StreamingInputCall", {{payload = {body = "YQ=="}}},
      {name = "in", stream_interval = 0.05, stream_call_duration = 0.4})
    if not r.ok then r:failure("in: " .. tostring(r.error)) end
    -- The same call without it: the list once.
    r = u.grpc:call(t, "StreamingInputCall", {{payload = {body = "YQ=="}}},
      {name = "once", stream_interval = 0.05})
    -- Refused for this call alone: not shorter than --timeout (2 s), or
    -- not a duration; the next call goes on.
    for _, c in ipairs({{"long", "2s", "is not shorter than --timeout"},
                        {"bad", "5mm", "expected a duration > 0"}}) do
      r = u.grpc:call(t, "StreamingInputCall", {{}},
        {name = c[1], stream_call_duration = c[2]})
      if r.ok or not (r.error or ""):find(c[3], 1, true) then
        r:failure(c[1] .. ": " .. tostring(r.error))
      else
        r:success()
      end
    end
    rl.stop_user()
  end } }
"""


# A class that names a descriptor set (no .proto, no proto object): the
# methods' shapes are the grpc plugin's (plugin ABI 1.9 step_streams), as
# they are with reflection below.
PROTOSET = """
local M = "grpc.testing.TestService/"
S = rl.user { grpc = {protoset = "%(protoset)s", host = "%(host)s",
    methods = {M .. "StreamingOutputCall", M .. "StreamingInputCall",
               M .. "FullDuplexCall", M .. "UnaryCall"}},
  tasks = { function(u)
    local r = u.grpc:call(M .. "StreamingOutputCall",
      {response_parameters = {{size = 1}, {size = 2}, {size = 3}}},
      {name = "out"})
    if #r:messages() ~= 3 then r:failure("out: " .. r.body) end
    r = u.grpc:call(M .. "StreamingOutputCall",
      {response_parameters = {{size = 1}, {size = 1},
        {size = 1, interval_us = 200000}}},
      {name = "out2", stream_call_count = 2})
    if #r:messages() ~= 2 then r:failure("out2: " .. r.body) end
    r = u.grpc:call(M .. "StreamingInputCall",
      {{payload = {body = "YQ=="}}, {payload = {body = "YmI="}}},
      {name = "in"})
    if r:json().aggregatedPayloadSize ~= 3 then r:failure("in: " .. r.body) end
    r = u.grpc:call(M .. "FullDuplexCall",
      {{response_parameters = {{size = 5}}},
       {response_parameters = {{size = 5}, {size = 7}}}},
      {name = "duplex"})
    if #r:messages() ~= 3 then r:failure("duplex: " .. r.body) end
    r = u.grpc:call(M .. "UnaryCall", {response_size = 4}, {name = "unary"})
    if r.status ~= 0 then r:failure("unary " .. r.status) end
    local ok, err = pcall(u.grpc.call, u.grpc, M .. "StreamingInputCall", {},
                          {stream_ping_pong = true})
    rl.log("shape: " .. tostring(err))
    rl.stop_user()
  end } }
"""

REFLECTION = """
local P = "locust.hello.HelloService/"
S = rl.user { grpc = {host = "%(host)s",
    methods = {P .. "SayHelloStream", P .. "SayHelloToAll", P .. "SayHelloChat"}},
  tasks = { function(u)
    local r = u.grpc:call(P .. "SayHelloStream", {name = "s", count = 3},
                          {name = "stream"})
    if #r:messages() ~= 3 then r:failure("stream: " .. r.body) end
    r = u.grpc:call(P .. "SayHelloToAll", {{name = "a"}, {name = "b"}},
                    {name = "all"})
    if r:json().message ~= "Hello from Locust, 2 names!" then
      r:failure("all: " .. r.body)
    end
    r = u.grpc:call(P .. "SayHelloChat", {{name = "a"}, {name = "b"}},
                    {name = "chat"})
    if #r:messages() ~= 2 then r:failure("chat: " .. r.body) end
    rl.stop_user()
  end } }
"""


# u.grpc:stream: a server stream's replies as they come (docs/lua.md).
EACH = """
local M = "grpc.testing.TestService/"
S = rl.user { grpc = {protoset = "%(protoset)s", host = "%(host)s",
    methods = {M .. "StreamingOutputCall", M .. "UnaryCall"}},
  tasks = { function(u)
    -- 4 replies 150 ms apart: each seen while the call is open.
    local ps = {}
    for i = 1, 4 do ps[i] = {size = 3, interval_us = 150000} end
    local r = u.grpc:stream(M .. "StreamingOutputCall",
                            {response_parameters = ps}, {name = "each"})
    local n = 0
    for m in r:messages() do
      n = n + 1
      rl.log(string.format("each %%d %%.6f %%s", n, rl.time(), m.payload.body))
    end
    rl.log("each end ", n, " ", tostring(r.ok), " ", r.status)
    -- 20 replies 100 ms apart, left after 3 (a break: the call is
    -- cancelled when the task goes on to its end).
    ps = {}
    for i = 1, 20 do ps[i] = {size = 1, interval_us = 100000} end
    local b = u.grpc:stream(M .. "StreamingOutputCall",
                            {response_parameters = ps}, {name = "brk"})
    n = 0
    for m in b:messages() do n = n + 1; if n == 3 then break end end
    b:close()  -- the task goes on: a second stream may open
    rl.log("brk ", n, " ", tostring(b.ok), " ", tostring(b.cancelled))
    -- Flow control: 400 replies of 8 KiB as fast as the server goes,
    -- the task asleep 1 s after the first: the server is held within a
    -- window (1 MiB) while it sleeps, and every reply still comes.
    ps = {}
    for i = 1, 400 do ps[i] = {size = 8192} end
    local f = u.grpc:stream(M .. "StreamingOutputCall",
                            {response_parameters = ps}, {name = "slow"})
    n = 0
    for m in f:messages() do
      n = n + 1
      if n == 1 then rl.sleep(1); rl.log(string.format("woke %%.6f", rl.time())) end
    end
    rl.log("slow end ", n, " ", tostring(f.ok))
    local ok, err = pcall(u.grpc.stream, u.grpc, M .. "UnaryCall", {})
    rl.log("unary: ", tostring(err))
    -- A Lua error in the loop: the call is cancelled, the error counted.
    local e = u.grpc:stream(M .. "StreamingOutputCall",
                            {response_parameters = ps}, {name = "err"})
    for m in e:messages() do error("stop here") end
  end } }
"""


def run(script, *args):
    env = dict(os.environ)
    env.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    argv = [RPCLOAD, "-s", script, "--json", "--only-summary",
            "--stop-timeout", "5"]
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=60, env=env)


class LuaGrpcStreams(LuaScriptCase):

    def setUp(self):
        super().setUp()
        if not plugin_built():
            self.skipTest("the grpc plugin is not built")
        if grpc is None:
            self.skipTest("Python grpcio is missing (python3-grpcio)")
        self.protoset = os.path.join(self.tmp.name, "interop.protoset")
        subprocess.run(["protoc", "--include_imports", "-o", self.protoset,
                        "-I", os.path.dirname(PROTO), "interop_test.proto"],
                       check=True, capture_output=True, timeout=120)

    def test_streams_counts_agree_on_both_sides(self):
        with PyServer(self.protoset, script="grpc_stream_server.py") as ps, \
                PyServer(self.protoset, script="grpc_stream_server.py") as ps2:
            path = self.script(SCRIPT % {"proto": PROTO,
                                         "host": "127.0.0.1:%d" % ps.port,
                                         "other": "127.0.0.1:%d" % ps2.port})
            p = run(path, "-u", "2", "-r", "100", "-t", "1s",
                    "--wait", "constant:0.01")
            rep = ps.stop()
            rep2 = ps2.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        n = lambda name: r[("grpc", name)]["num_requests"]  # noqa: E731
        calls = n("out")
        self.assertGreater(calls, 5, r.keys())
        # The messages' rows are under the call's name= (docs/grpc.md:
        # "<name> [recv]"), none under the method's.
        self.assertFalse([k for k in r if k[1].startswith("/grpc.")], r)
        self.assertNotIn(("grpc", "in [recv]"), r)
        self.assertNotIn(("grpc", "out [send]"), r)
        for name in ("out", "in", "duplex", "unary", "out [recv]",
                     "in [send]", "duplex [send]", "duplex [recv]"):
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        # Each task makes the four calls in turn: the stop may cut a
        # task between them, never a call.
        self.assertTrue(calls >= n("in") >= n("duplex") >= n("unary")
                        >= n("other") >= calls - 2, r)
        self.assertEqual(calls, rep["calls"]["StreamingOutputCall"], rep)
        self.assertEqual(n("out [recv]"), 3 * calls)
        self.assertEqual(n("out [recv]"), rep["sent"]["StreamingOutputCall"])
        self.assertEqual(n("in [send]"), 2 * n("in"))
        self.assertEqual(n("in [send]"), rep["received"]["StreamingInputCall"])
        self.assertEqual(n("duplex [send]"), 2 * n("duplex"))
        self.assertEqual(n("duplex [send]"), rep["received"]["FullDuplexCall"])
        self.assertEqual(n("duplex [recv]"), 3 * n("duplex"))
        self.assertEqual(n("duplex [recv]"), rep["sent"]["FullDuplexCall"])
        self.assertEqual(n("unary"), rep["calls"]["UnaryCall"], rep)
        self.assertEqual(rep2["calls"], {"UnaryCall": n("other")}, rep2)

    def test_stream_options_and_long_lists(self):
        with PyServer(self.protoset, script="grpc_stream_server.py") as ps:
            path = self.script(OPTIONS % {"proto": PROTO,
                                          "host": "127.0.0.1:%d" % ps.port})
            p = run(path, "-u", "2", "-r", "100", "-t", "4s")
            rep = ps.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        for name in ("in40", "in7", "in3", "out2", "pp", "plain", "bad"):
            self.assertEqual(r[("grpc", name)]["num_requests"], 2, name)
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        self.assertEqual(r[("grpc", "out2 [recv]")]["num_requests"], 4)
        # The server's side of each call: [method, received, sent, status];
        # a server stream the client stopped may have written one more
        # message, on a loaded machine, before it saw the cancel.
        calls = sorted(tuple(c) for c in rep["per_call"])
        for c in calls:
            if c[0] == "StreamingOutputCall":
                self.assertIn(c[2], (2, 3), calls)
        calls = [c[:2] + (2,) + c[3:] if c[0] == "StreamingOutputCall" else c
                 for c in calls]
        self.assertEqual(calls, sorted(
            [("StreamingInputCall", 40, 1, "OK")] * 2
            + [("StreamingInputCall", 7, 1, "OK")] * 2
            + [("StreamingInputCall", 3, 1, "OK")] * 2
            + [("StreamingOutputCall", 1, 2, "CANCELLED")] * 2
            + [("FullDuplexCall", 3, 3, "OK")] * 2
            + [("FullDuplexCall", 1, 1, "OK")] * 2), calls)
        self.assertEqual(rep["received"]["StreamingInputCall"], 100)

    def test_stream_call_duration_per_call(self):
        with PyServer(self.protoset, script="grpc_stream_server.py") as ps:
            path = self.script(DURATION % {"proto": PROTO,
                                           "host": "127.0.0.1:%d" % ps.port})
            p = run(path, "-u", "1", "-r", "10", "-t", "4s",
                    "--timeout", "2s")
            rep = ps.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        for name in ("out", "in", "once", "long", "bad"):
            self.assertEqual(r[("grpc", name)]["num_requests"], 1, name)
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        # Sent: the server stream cut short (its 20 replies take 2 s), the
        # timed client stream more than its list's one message (0.4 s at
        # 50 ms: about 8; a loaded machine sends fewer, never 1), the
        # untimed one its list; the refused calls never reached it.
        calls = sorted(tuple(c) for c in rep["per_call"])
        self.assertEqual(len(calls), 3, calls)
        out = [c for c in calls if c[0] == "StreamingOutputCall"]
        self.assertEqual(len(out), 1, calls)
        self.assertEqual(out[0][3], "CANCELLED", calls)
        self.assertTrue(1 <= out[0][2] < 20, calls)
        ins = sorted(c[1] for c in calls if c[0] == "StreamingInputCall")
        self.assertEqual(ins[0], 1, calls)
        self.assertTrue(2 <= ins[1] <= 10, calls)
        self.assertEqual(
            [c[3] for c in calls if c[0] == "StreamingInputCall"],
            ["OK", "OK"], calls)

    def test_shapes_from_a_protoset(self):
        with PyServer(self.protoset, script="grpc_stream_server.py") as ps:
            path = self.script(PROTOSET % {"protoset": self.protoset,
                                           "host": "127.0.0.1:%d" % ps.port})
            p = run(path, "-u", "1", "-r", "10", "-t", "1500ms")
            rep = ps.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        self.assertIn("shape: u.grpc:call: stream_ping_pong: for a "
                      "bidirectional method; grpc.testing.TestService/"
                      "StreamingInputCall is client streaming", p.stderr)
        r = rows(p)
        for name in ("out", "out2", "in", "duplex", "unary"):
            self.assertEqual(r[("grpc", name)]["num_requests"], 1, name)
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        # What the server saw of each call: [method, received, sent,
        # status]; the stream the client stopped at 2 may have had a third
        # written before the cancel reached the server.
        calls = sorted(tuple(c) for c in rep["per_call"])
        calls = [c[:2] + (2,) + c[3:] if c[3] == "CANCELLED" else c
                 for c in calls]
        self.assertEqual(calls, sorted([
            ("StreamingOutputCall", 1, 3, "OK"),
            ("StreamingOutputCall", 1, 2, "CANCELLED"),
            ("StreamingInputCall", 2, 1, "OK"),
            ("FullDuplexCall", 2, 3, "OK"),
            ("UnaryCall", 1, 1, "OK")]), calls)

    def test_stream_replies_as_they_come_break_and_flow_control(self):
        with PyServer(self.protoset, script="grpc_stream_server.py") as ps:
            path = self.script(EACH % {"protoset": self.protoset,
                                       "host": "127.0.0.1:%d" % ps.port})
            p = run(path, "-u", "1", "-r", "10", "-t", "5s", "-n", "1")
            rep = ps.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        log = p.stderr
        seen = [float(t) for t in re.findall(r"\[lua\] each \d (\S+) eHh4", log)]
        self.assertEqual(len(seen), 4, log)
        self.assertIn("each end \t4\t \ttrue\t \t0", log)
        self.assertIn("brk \t3\t \ttrue\t \ttrue", log)
        self.assertIn("slow end \t400\t \ttrue", log)
        self.assertIn("unary: \tu.grpc:stream: grpc.testing.TestService/"
                      "UnaryCall does not stream its replies (unary)", log)
        self.assertIn("stop here", log)
        sent = rep["send_times"]
        self.assertEqual(len(sent), 4, sent)
        # Reply i reached the script before the server sent reply i+1.
        for i in range(3):
            self.assertLess(seen[i], sent[0][i + 1], (seen, sent[0]))
        # While the task slept, the server got at most a window (1 MiB:
        # 128 replies of 8 KiB) and the task's 16 ahead out; unheld, all
        # 400 went at once.
        woke = float(re.search(r"woke (\S+)", log).group(1))
        before = sum(1 for t in sent[2] if t < woke - 0.05)
        self.assertLess(before, 200, before)
        self.assertEqual(len(sent[2]), 400)
        calls = [tuple(c) for c in rep["per_call"]]
        self.assertEqual(calls[0], ("StreamingOutputCall", 1, 4, "OK"))
        self.assertEqual(calls[1][3], "CANCELLED", calls)
        self.assertIn(calls[1][2], (3, 4), calls)
        self.assertEqual(calls[2], ("StreamingOutputCall", 1, 400, "OK"))
        self.assertEqual(calls[3][3], "CANCELLED", calls)
        r = rows(p)
        for name, n in (("each", 1), ("brk", 1), ("slow", 1), ("err", 1),
                        ("each [recv]", 4), ("slow [recv]", 400)):
            self.assertEqual(r[("grpc", name)]["num_requests"], n, name)
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        self.assertIn(r[("grpc", "brk [recv]")]["num_requests"], (3, 4))

    def test_shapes_from_reflection(self):
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        with HelloServer() as hs:
            path = self.script(REFLECTION % {"host": hs.target})
            p = run(path, "-u", "1", "-r", "10", "-t", "1500ms")
            hs.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        for name in ("stream", "all", "chat"):
            self.assertEqual(r[("grpc", name)]["num_requests"], 1, name)
            self.assertEqual(r[("grpc", name)]["num_failures"], 0, name)
        # The server's count: three stream calls, their messages each way
        # (1 + 2 + 2 in, 3 + 1 + 2 out).
        c = hs.counts
        self.assertEqual((c["stream_served"], c["stream_ok"], c["msgs_in"],
                          c["msgs_out"]), (3, 3, 5, 6), hs.describe())

    def test_stream_options_that_do_not_apply(self):
        cases = [
            ('u.grpc:call(t, "StreamingInputCall", {}, '
             '{stream_ping_pong = true})',
             "stream_ping_pong: for a bidirectional method; "
             "grpc.testing.TestService/StreamingInputCall is client streaming"),
            ('u.grpc:call(t, "StreamingOutputCall", {}, '
             '{stream_interval = 1})',
             "stream_interval: for a method the client streams to; "
             "grpc.testing.TestService/StreamingOutputCall is server "
             "streaming"),
            ('u.grpc:call(t, "UnaryCall", {}, {stream_call_count = 2})',
             "stream_call_count: for a streaming method; "
             "grpc.testing.TestService/UnaryCall is unary"),
            ('u.grpc:call(t, "FullDuplexCall", {}, {stream_call_count = 0})',
             "stream_call_count: a whole number >= 1, not 0"),
            ('u.grpc:call(t, "FullDuplexCall", {}, {stream_interval = "x"})',
             "stream_interval: 'x': expected a duration"),
            ('u.grpc:call(t, "UnaryCall", {}, {stream_call_duration = 1})',
             "stream_call_duration: for a streaming method; "
             "grpc.testing.TestService/UnaryCall is unary"),
            ('u.grpc:call(t, "StreamingOutputCall", {}, '
             '{stream_call_duration = 0})',
             "stream_call_duration: seconds > 0"),
        ]
        for call, expected in cases:
            path = self.script(
                'local t = rl.grpc.proto("%s")\n'
                'S = rl.user { grpc = {proto = t, host = "127.0.0.1:9"},\n'
                '  tasks = { function(u) %s end } }\n' % (PROTO, call))
            p = run(path, "-u", "1", "-r", "10", "-t", "300ms",
                    "--allow-unreachable")
            self.assertIn(expected, p.stderr, call)

    def test_too_many_messages_and_undeclared_method(self):
        path = self.script(
            'local t = rl.grpc.proto("%s")\n'
            'local list = {}  -- made once per state: tasks stay quick\n'
            'for i = 1, 100001 do list[i] = {} end\n'
            'S = rl.user { grpc = {proto = t, host = "127.0.0.1:9",\n'
            '                      methods = {"StreamingInputCall"}},\n'
            '  tasks = { function(u)\n'
            '    u.grpc:call(t, "StreamingInputCall", list)\n'
            '  end, function(u) u.grpc:call(t, "UnaryCall", {}) end,\n'
            '  function(u) u.grpc:call(t, "StreamingInputCall", {},\n'
            '                          {host = 8}) end } }\n'
            % PROTO)
        p = run(path, "-u", "1", "-r", "10", "-t", "300ms",
                "--allow-unreachable")
        self.assertIn("u.grpc:call: grpc.testing.TestService/"
                      "StreamingInputCall: more than 100000 messages in a "
                      "call",
                      p.stderr)
        self.assertIn("u.grpc:call: 'UnaryCall' is not a method class S "
                      "declares", p.stderr)
        # (a host not declared is added while the run goes:
        # test_lua_rtargets)
        self.assertIn("u.grpc:call: host= is a number: give \"host:port\"",
                      p.stderr)

    def test_a_missing_proto_stops_the_start(self):
        path = self.script('local t = rl.grpc.proto("nope.proto")\n'
                           'S = rl.user { tasks = { function(u) end } }\n')
        p = run(path, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("t.lua:1: rl.grpc.proto: ", p.stderr)
        self.assertIn("nope.proto", p.stderr)


if __name__ == "__main__":
    unittest.main()
