"""Lua calls to a host no class declared (docs/lua.md, issue #23): the
request is compiled for that host while the run goes (engine/rtarget.h),
off the worker threads, and kept for the run. Against two of examples/
hello's servers: a class declares one, its task calls the other by a host
read at run time (rl.csv): each server's own count is rpcload's row.
A host that does not resolve, or refuses: failures counted and named, the
run goes on. Past the cap of run-time targets: a Lua error saying so.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_rtargets
"""

import json
import os
import unittest

from hello_server import HelloServer, skip_reason as hello_skip_reason
from test_lua import EXAMPLES, LuaScriptCase, rows
from test_lua_protocols import run

SAY_HELLO = "locust.hello.HelloService/SayHello"
PROTO = os.path.join(EXAMPLES, "..", "hello", "hello.proto")


class LuaRuntimeTargets(LuaScriptCase):

    def setUp(self):
        super().setUp()
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)

    def test_host_read_at_run_time_counts_equal_both_servers(self):
        with HelloServer() as declared, HelloServer() as other:
            # The other host is data, read by the task: no class names it.
            self.script("host\n%s\n" % other.target, name="hosts.csv")
            path = self.script("""
local rl = require "rpcload"
local hosts = rl.csv("hosts.csv", {cycle = true})
local hello = rl.grpc.proto(%r)
Caller = rl.user {
  wait = rl.constant(0.01),
  grpc = {proto = hello, host = %r},
  tasks = {
    function(u) u.grpc:call(hello, "SayHello", {name = "d"}) end,
    function(u)
      local h = hosts:next().host
      local r = u.grpc:call(hello, "SayHello", {name = "o" .. u.id},
                            {host = h, name = "other"})
      if r:json().message ~= "Hello from Locust, o" .. u.id .. "!" then
        r:failure("unexpected: " .. r.body)
      end
    end,
    -- A client stream to the same host: a target of its own method.
    function(u)
      u.grpc:call(hello, "SayHelloToAll", {{name = "a"}, {name = "b"}},
                  {host = hosts:next().host, name = "other stream"})
    end,
  },
}
""" % (PROTO, declared.target))
            p = run(path, "-u", "4", "-r", "100", "-t", "2s", "--threads", "2")
            declared.stop()
            other.stop()
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        mine = r[("grpc", "/" + SAY_HELLO)]
        theirs = r[("grpc", "other")]
        stream = r[("grpc", "other stream")]
        self.assertGreater(mine["num_requests"], 10, p.stdout)
        self.assertGreater(theirs["num_requests"], 10, p.stdout)
        self.assertGreater(stream["num_requests"], 5, p.stdout)
        for row in (mine, theirs, stream):
            self.assertEqual(row["num_failures"], 0, p.stdout)
        self.assertEqual(mine["num_requests"], declared.counts["hello_ok"],
                         declared.describe())
        self.assertEqual(declared.counts["stream_served"], 0, declared.describe())
        self.assertEqual(theirs["num_requests"], other.counts["hello_ok"],
                         other.describe())
        self.assertEqual(stream["num_requests"], other.counts["stream_ok"],
                         other.describe())
        self.assertNotIn("Lua error", p.stderr)

    def test_a_stream_iterated_on_a_host_read_at_run_time(self):
        with HelloServer() as declared, HelloServer() as other:
            self.script("host\n%s\n" % other.target, name="hosts.csv")
            path = self.script("""
local rl = require "rpcload"
local hosts = rl.csv("hosts.csv", {cycle = true})
local hello = rl.grpc.proto(%r)
Reader = rl.user {
  wait = rl.constant(0.01),
  grpc = {proto = hello, host = %r},
  tasks = {
    function(u)
      local r = u.grpc:stream(hello, "SayHelloStream", {name = "s", count = 3},
                              {host = hosts:next().host, name = "other stream"})
      local seen = 0
      for m in r:messages() do seen = seen + 1 end
      if seen ~= 3 then rl.log("saw ", seen) end
    end,
  },
}
""" % (PROTO, declared.target))
            p = run(path, "-u", "2", "-r", "100", "-t", "2s")
            declared.stop()
            other.stop()
        self.assertEqual(p.returncode, 0, p.stderr)
        row = rows(p)[("grpc", "other stream")]
        self.assertGreater(row["num_requests"], 5, p.stdout)
        self.assertEqual(row["num_failures"], 0, p.stdout)
        self.assertEqual(row["num_requests"], other.counts["stream_ok"], other.describe())
        self.assertEqual(other.counts["msgs_out"], 3 * row["num_requests"], other.describe())
        self.assertEqual(declared.counts["stream_served"], 0, declared.describe())
        self.assertNotIn("saw ", p.stderr)

    def test_bad_hosts_fail_their_requests_and_the_run_goes_on(self):
        with HelloServer() as declared:
            path = self.script("""
local rl = require "rpcload"
Caller = rl.user {
  wait = rl.constant(0.01),
  grpc = {proto = %r, host = %r},
  tasks = {
    {function(u) u.grpc:call("SayHello", {name = "d"}) end, 8},
    {function(u)
      local r = u.grpc:call("SayHello", {}, {host = "no-such-host.invalid:50051"})
      if r.ok then rl.log("resolved?") end
    end, 1},
    -- (a refused connection waits gRPC's backoff: a second or so)
    {function(u)
      u.grpc:call("SayHello", {}, {host = "127.0.0.1:1", name = "refused"})
    end, 1},
  },
}
""" % (PROTO, declared.target))
            p = run(path, "-u", "4", "-r", "100", "-t", "2s", "--timeout", "1s")
            declared.stop()
        self.assertEqual(p.returncode, 1, p.stderr)  # the failures
        r = rows(p)
        ok = r[("grpc", "/" + SAY_HELLO)]
        self.assertEqual(ok["num_requests"] - ok["num_failures"],
                         declared.counts["hello_ok"], declared.describe())
        self.assertGreater(declared.counts["hello_ok"], 5, declared.describe())
        refused = r[("grpc", "refused")]
        self.assertGreater(refused["num_requests"], 0, p.stdout)
        self.assertEqual(refused["num_failures"], refused["num_requests"])
        errors = json.loads(p.stdout)["errors"]
        texts = [e["error"] for e in errors]
        # The unresolved host: its calls failed under the method's row,
        # the error naming the host (built once, failed for the run).
        bad = [e for e in errors if "no-such-host.invalid" in e["error"]]
        self.assertEqual(len(bad), 1, texts)
        self.assertEqual(bad[0]["error"],
                         "UNAVAILABLE: host 'no-such-host.invalid:50051' (added "
                         "at run time): cannot resolve host "
                         "'no-such-host.invalid': Name or service not known")
        self.assertEqual(bad[0]["name"], "/" + SAY_HELLO, errors)
        self.assertEqual(ok["num_failures"], bad[0]["occurrences"], errors)
        self.assertTrue(any(e["name"] == "refused" for e in errors), texts)
        self.assertNotIn("resolved?", p.stderr)
        self.assertNotIn("Lua error", p.stderr)

    def test_past_the_cap_a_lua_error(self):
        with HelloServer() as declared:
            # 1,000 hosts whose port cannot be (they fail at once, each
            # one target of the cap), then one more: the error.
            path = self.script("""
local rl = require "rpcload"
Caller = rl.user {
  grpc = {proto = %r, host = %r},
  tasks = {
    function(u)
      for i = 1, 1000 do
        local r = u.grpc:call("SayHello", {}, {host = "127.0.0.1:" .. (70000 + i),
                                               name = "bad port"})
        if r.ok then rl.log("sent?") end
      end
      local again = u.grpc:call("SayHello", {}, {host = "127.0.0.1:70001",
                                                 name = "bad port"})
      local ok, err = pcall(u.grpc.call, u.grpc, "SayHello", {},
                            {host = "127.0.0.1:80000"})
      rl.log("cap: ", err)
      u.grpc:call("SayHello", {name = "after"})
      rl.stop_user()
    end,
  },
}
""" % (PROTO, declared.target))
            p = run(path, "-u", "1", "-t", "3s")
            declared.stop()
        self.assertEqual(p.returncode, 1, p.stderr)
        r = rows(p)
        bad = r[("grpc", "bad port")]
        self.assertEqual(bad["num_requests"], 1001, p.stdout)
        self.assertEqual(bad["num_failures"], 1001, p.stdout)
        self.assertIn("host '127.0.0.1:80000' is not declared, and the run "
                      "has added its 1000 run-time targets", p.stderr)
        self.assertEqual(declared.counts["hello_ok"], 1, declared.describe())
        self.assertNotIn("sent?", p.stderr)


if __name__ == "__main__":
    unittest.main()
