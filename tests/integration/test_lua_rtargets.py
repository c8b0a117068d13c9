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
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class ShopHandler(BaseHTTPRequestHandler):
    """The sketch's HTTP side: POST /login (JSON {user}) answers a new
    token, GET /items?id=N with "Authorization: Bearer TOKEN" a price;
    counts what it served (the server's `served`)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        user = json.loads(self.rfile.read(n) or b"{}").get("user")
        srv = self.server
        with srv.lock:
            token = "tok%d-%s" % (len(srv.tokens), user)
            srv.tokens.add(token)
            srv.served["login"] += 1
        self.answer(200, {"token": token})

    def do_GET(self):
        auth = self.headers.get("Authorization") or ""
        srv = self.server
        ok = self.path.startswith("/items?id=") and auth[7:] in srv.tokens
        with srv.lock:
            srv.served["items" if ok else "refused"] += 1
        self.answer(200 if ok else 401, {"price": 3} if ok else {})


class IssueSketch(LuaScriptCase):
    """Issue #23's own shop.lua, as written but for its hosts (and the
    shape shortened): an HTTP class whose task calls a gRPC server by
    host=, with no grpc table, and reads the reply's field on the
    response (m.message)."""

    def setUp(self):
        super().setUp()
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        self.shop = ThreadingHTTPServer(("127.0.0.1", 0), ShopHandler)
        self.shop.lock = threading.Lock()
        self.shop.tokens = set()
        self.shop.served = {"login": 0, "items": 0, "refused": 0}
        self.shop_thread = threading.Thread(target=self.shop.serve_forever,
                                            daemon=True)
        self.shop_thread.start()

    def tearDown(self):
        self.shop.shutdown()
        self.shop.server_close()
        self.shop_thread.join(10)
        super().tearDown()

    def test_the_sketch_runs_as_written(self):
        with open(PROTO) as f:
            self.script(f.read(), name="hello.proto")
        with HelloServer() as hs:
            # The issue's text; the one line added checks the token the
            # login gave reached the gRPC server (it echoes the name).
            path = self.script("""
local rl = require "rpcload"
local hello = rl.grpc.proto("hello.proto")          -- compiled once, at load
WebUser = rl.user {
  weight = 3, wait = rl.between(1, 3), host = "http://%s:%d",
  on_start = function(u)
    local r = u.http:post("/login", {json = {user = "u" .. u.id}})
    u.token = r:json().token
  end,
  tasks = {
    [3] = function(u)
      local r = u.http:get("/items?id=" .. math.random(100), {name = "/items?id=[id]",
                            headers = {authorization = "Bearer " .. u.token}})
      if not r.body:find("price") then r:failure("no price") end
    end,
    [1] = function(u)
      local m = u.grpc:call(hello, "SayHello", {name = u.token}, {host = "%s"})
      if m.message == "" then rl.fail("empty") end
      if m.message ~= "Hello from Locust, " .. u.token .. "!" then rl.fail("not echoed") end
    end,
  },
}
function rl.shape(t) if t < 3 then return 30, 100 end return nil end   -- LoadTestShape
""" % (self.shop.server_address + (hs.target,)))
            p = run(path, "-t", "20s")
            hs.stop()
        self.assertEqual(p.returncode, 0, p.stderr + p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        login = r[("POST", "/login")]
        items = r[("GET", "/items?id=[id]")]
        calls = r[("grpc", "/" + SAY_HELLO)]
        served = self.shop.served
        self.assertEqual(login["num_requests"], 30, p.stdout)
        self.assertEqual(login["num_requests"], served["login"])
        self.assertEqual(items["num_requests"], served["items"], p.stdout)
        self.assertEqual(served["refused"], 0)
        self.assertGreater(calls["num_requests"], 0, p.stdout)
        self.assertEqual(calls["num_requests"], hs.counts["hello_ok"],
                         hs.describe())
        for row in (login, items, calls):
            self.assertEqual(row["num_failures"], 0, p.stdout)

    def test_a_method_the_proto_lacks_or_no_host(self):
        with HelloServer() as hs:
            path = self.script("""
local rl = require "rpcload"
local hello = rl.grpc.proto(%r)
Web = rl.user {
  host = "http://127.0.0.1:9", wait = rl.constant(1),
  tasks = { function(u)
    local _, e1 = pcall(u.grpc.call, u.grpc, hello, "SayHi", {})
    local _, e2 = pcall(u.grpc.call, u.grpc, hello, "SayHello", {})
    rl.log("lacks: ", e1)
    rl.log("no host: ", e2)
    local m = u.grpc:call(hello, "SayHello", {name = "x"}, {host = %r, name = "n"})
    rl.log("status: " .. m.status .. " " .. m.message .. " " .. tostring(m.nope))
    rl.stop_user()
  end },
}
""" % (PROTO, hs.target))
            p = run(path, "-u", "1", "-t", "3s", "--allow-unreachable")
            hs.stop()
        self.assertIn("u.grpc:call: 'SayHi' is not a method of %s: "
                      "locust.hello.HelloService/SayHello, " % PROTO, p.stderr)
        self.assertIn("u.grpc:call: locust.hello.HelloService/SayHello: give "
                      "host = \"host:port\" (class Web has no grpc table", p.stderr)
        # The reply's field on the response; one it lacks: nil.
        self.assertIn("status: 0 Hello from Locust, x! nil", p.stderr)
        self.assertEqual(rows(p)[("grpc", "n")]["num_requests"], 1, p.stdout)
        self.assertEqual(hs.counts["hello_ok"], 1, hs.describe())
        # No host at all (the class's, --host): said at the start.
        path = self.script("""
local rl = require "rpcload"
local hello = rl.grpc.proto(%r)
Lone = rl.user { tasks = { function(u)
  u.grpc:call(hello, "SayHello", {}, {host = "127.0.0.1:9"})
end } }
""" % PROTO, name="lone.lua")
        p = run(path, "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("every request goes to a host given while the run goes "
                      "(host=): give a class a host of its own, or --host",
                      p.stderr)


if __name__ == "__main__":
    unittest.main()
