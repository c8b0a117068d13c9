"""Lua users beyond u.http's class host (docs/lua.md, issue #23 round two):
u.grpc:call against examples/hello's server, u:request("redis", ...)
against redis-server, u:request("udp", ...) of a transport plugin against
a UDP echo server, full URLs to the class's declared hosts against two
nginx servers. What rpcload's JSON report counts must be what each server
counted itself. A request's own timeout= (against a server that stalls,
the hello server's x-delay-ms, redis's BLPOP): it fails with "timed out
after ...", in place of --timeout for that request only.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_protocols
"""

import json
import os
import subprocess
import unittest
from urllib.parse import parse_qs, urlsplit

from hello_server import HelloServer, skip_reason as hello_skip_reason
from servers import NginxServer, RedisServer, UdpEchoServer
from stall_server import StallServer
from test_lua import BUILD_DIR, EXAMPLES, RPCLOAD, LuaScriptCase, rows

SAY_HELLO = "locust.hello.HelloService/SayHello"


def run(script, *args, env=None, timeout=60):
    e = dict(os.environ)
    e.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    e.update(env or {})
    # Requests in flight at the stop finish and count, so that the
    # servers' counts and the stats agree exactly.
    argv = [RPCLOAD, "-s", script, "--json", "--only-summary", "--stop-timeout", "5"]
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def pages(nginx):
    nginx.count()  # waits until two reads agree
    return [parse_qs(urlsplit(e["uri"]).query) for e in nginx.log_entries()]


class LuaProtocols(LuaScriptCase):

    # ---- gRPC ----------------------------------------------------------

    def test_grpc_example_counts_equal_the_servers(self):
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        with HelloServer() as hs:
            p = run(os.path.join(EXAMPLES, "grpc_hello.lua"), "--host",
                    "grpc://" + hs.target, "-u", "4", "-r", "100", "-t", "2s")
            hs.stop()
        self.assertEqual(p.returncode, 1, p.stderr)  # the UNAVAILABLE calls
        r = rows(p)
        ok = r[("grpc", "/" + SAY_HELLO)]
        late = r[("grpc", "unavailable")]
        # Every reply decoded and as expected: no failure; the server's
        # own counts of OK and error-status calls are the stats'.
        self.assertGreater(ok["num_requests"], 20, p.stdout)
        self.assertEqual(ok["num_failures"], 0, p.stdout)
        self.assertEqual(ok["num_requests"], hs.counts["hello_ok"], hs.describe())
        self.assertGreater(late["num_requests"], 0)
        self.assertEqual(late["num_failures"], late["num_requests"])
        self.assertEqual(late["num_requests"], hs.counts["hello_status"], hs.describe())
        # r.status was the code: nothing logged "expected 14".
        self.assertNotIn("expected 14", p.stderr)
        self.assertNotIn("Lua error", p.stderr)
        errors = json.loads(p.stdout)["errors"]
        self.assertEqual([e["error"] for e in errors],
                         ["UNAVAILABLE: try later"], errors)

    def test_grpc_undeclared_method_and_bad_message(self):
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        proto = os.path.join(EXAMPLES, "..", "hello", "hello.proto")
        path = self.script(
            'U = rl.user { wait = rl.constant(0.01),\n'
            '  grpc = {proto = "%s", methods = {"%s"}},\n'
            '  tasks = { function(u)\n'
            '    local r = u.grpc:call("%s", {nme = "x"}, {name = "bad"})\n'
            '    rl.log("bad:", r.status, r.ok)\n'
            '    u.grpc:call("locust.hello.HelloService/Other", {})\n'
            '  end } }\n' % (proto, SAY_HELLO, SAY_HELLO))
        with HelloServer() as hs:
            p = run(path, "--host", "grpc://" + hs.target, "-u", "1", "-r", "10",
                    "-t", "500ms")
            hs.stop()
        r = rows(p)
        # A message that does not fit fails its request, not sent.
        self.assertEqual(r[("grpc", "bad")]["num_failures"], r[("grpc", "bad")]["num_requests"])
        self.assertEqual(hs.counts["hello_ok"], 0, hs.describe())
        errors = [e["error"] for e in json.loads(p.stdout)["errors"]]
        self.assertEqual(errors, ["UNAVAILABLE: the message does not fit "
                                  "locust.hello.HelloRequest: field 'nme': no such field in "
                                  "locust.hello.HelloRequest (fields: name)"], errors)
        # An undeclared method is a Lua error naming the declared ones.
        self.assertIn("u.grpc:call: 'locust.hello.HelloService/Other' is not a method "
                      "class U declares (grpc = {methods = {...}}: %s)" % SAY_HELLO,
                      p.stderr)

    def test_grpc_without_methods_is_refused_at_load(self):
        path = self.script('U = rl.user { grpc = {proto = "x.proto"},\n'
                           '  tasks = { function(u) end } }\n')
        p = run(path, "--host", "grpc://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("class U: grpc: methods = {\"pkg.Service/Method\", ...} is required",
                      p.stderr)

    # ---- any codec plugin: redis ----------------------------------------

    def test_redis_example_counts_equal_commandstats(self):
        with RedisServer() as rs:
            p = run(os.path.join(EXAMPLES, "redis_cache.lua"), "--host", rs.url(),
                    "-u", "4", "-r", "100", "-t", "2s")
            sets, gets = rs.calls("set"), rs.calls("get")
            value = rs.command("GET", "visits:1")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        self.assertGreater(gets, 20)
        self.assertEqual(r[("redis", "SET visits")]["num_requests"], sets)
        self.assertEqual(r[("redis", "GET visits")]["num_requests"], gets)
        # Every read-back matched: the value with a blank was one argument.
        self.assertEqual(sum(x["num_failures"] for x in r.values()), 0, p.stdout)
        self.assertTrue(value.startswith(b"visit "), value)

    def test_requests_of_many_words_with_max_words(self):
        # MSET of 100 pairs (201 words: a text and a list), read back with
        # MGET; past max_words a Lua error names it, nothing is sent.
        path = self.script(
            'U = rl.user { wait = rl.constant(0.05), protocols = {"redis"},\n'
            '  max_words = 201, tasks = { function(u)\n'
            '    local words, keys = {"MSET"}, {}\n'
            '    for i = 1, 100 do\n'
            '      words[#words + 1] = "k:" .. i\n'
            '      words[#words + 1] = "v " .. i\n'
            '      keys[#keys + 1] = "k:" .. i\n'
            '    end\n'
            '    u:request("redis", words)\n'
            '    local r = u:request("redis", "MGET " .. table.concat(keys, " "))\n'
            '    local got = r:json()\n'
            '    if #got ~= 100 or got[100] ~= "v 100" then r:failure("read back " .. r.body) end\n'
            '  end } }\n'
            'V = rl.user { fixed_count = 1, wait = rl.constant(0.05), protocols = {"redis"},\n'
            '  tasks = { function(u) u:request("redis", "MGET" .. string.rep(" k", 16)) end } }\n')
        with RedisServer() as rs:
            p = run(path, "--host", rs.url(), "-u", "3", "-r", "100", "-t", "1.5s")
            msets, mgets = rs.calls("mset"), rs.calls("mget")
            value = rs.command("GET", "k:100")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        self.assertGreater(r[("redis", "MSET")]["num_requests"], 3)
        self.assertEqual(r[("redis", "MSET")]["num_requests"], msets)
        self.assertEqual(r[("redis", "MGET")]["num_requests"], mgets)
        self.assertEqual(sum(x["num_failures"] for x in r.values()), 0, p.stdout)
        self.assertEqual(value, b"v 100")
        # V's 17 words: one more than its default 16.
        self.assertIn("V.task 1: ", p.stderr)
        self.assertIn("u:request: 17 words, class V declares at most 16 (max_words = N "
                      "in the class, up to 256, declares more)", p.stderr)
        path = self.script('U = rl.user { protocols = {"redis"}, max_words = 1000,\n'
                           '  tasks = { function(u) end } }\n')
        p = run(path, "--host", "redis://127.0.0.1:1", "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("max_words: the most words a u:request of this class has, a whole "
                      "number from 1 to 256 (default 16)", p.stderr)

    def test_a_transport_plugins_protocol_takes_one_payload(self):
        # udp (examples/plugins/udp: its own I/O) takes its request as one
        # payload, blanks kept; the echo comes back as r.body; every
        # datagram the server saw was one the stats counted.
        path = self.script(
            'U = rl.user { wait = rl.constant(0.02),\n'
            '  protocols = {udp = os.getenv("UDP_URL")}, tasks = { function(u)\n'
            '    local text = "ping  " .. u.id .. " {x}"\n'
            '    local r = u:request("udp", text, {name = "ping"})\n'
            '    if r.body ~= text then r:failure("echo " .. r.body) end\n'
            '  end } }\n'
            'V = rl.user { fixed_count = 1, protocols = {udp = os.getenv("UDP_URL")},\n'
            '  tasks = { function(u) u:request("udp", {"a", "b"}) end } }\n')
        with UdpEchoServer() as us:
            p = run(path, "-u", "3", "-r", "100", "-t", "1.5s", env={"UDP_URL": us.url()})
            got = us.count()
            payloads = list(us.payloads)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        self.assertGreater(r[("udp", "ping")]["num_requests"], 10)
        self.assertEqual(r[("udp", "ping")]["num_requests"], got)
        self.assertEqual(r[("udp", "ping")]["num_failures"], 0, p.stdout)
        self.assertEqual({bytes(x) for x in payloads}, {b"ping  2 {x}", b"ping  3 {x}"})
        self.assertIn("u:request: 'udp' is a transport plugin's protocol: its request "
                      "is one payload text, not a table", p.stderr)

    # ---- a request's own timeout ------------------------------------------

    def test_http_timeout_overrides_the_run_timeout_for_one_request(self):
        # Odd requests stall 1 s, even ones 0.5 s; the run's --timeout is
        # 0.1 s. "short" (timeout = 0.3) times out after 0.3 s, "long"
        # (timeout = 3) outlives --timeout and succeeds.
        path = self.script('U = rl.user { wait = rl.constant(0), tasks = { function(u)\n'
                           '  local r = u.http:get("/r", {name = "short", timeout = 0.3})\n'
                           '  assert(not r.ok and r.status == -1, r.error)\n'
                           '  u.http:get("/r", {name = "long", timeout = 3})\n'
                           'end } }\n')
        with StallServer(delay=lambda n: 1.0 if n % 2 else 0.5) as srv:
            p = run(path, "--host", srv.url(""), "--timeout", "0.1", "-u", "1", "-t", "2.5s")
            arrived = len(srv.arrivals())
        self.assertEqual(p.returncode, 1, p.stderr)  # the timeouts failed
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        short, long_ = r[("GET", "short")], r[("GET", "long")]
        self.assertGreaterEqual(short["num_requests"], 2)
        self.assertEqual(short["num_failures"], short["num_requests"])
        self.assertEqual(long_["num_failures"], 0)
        self.assertIn(long_["num_requests"], (short["num_requests"] - 1, short["num_requests"]))
        self.assertEqual(short["num_requests"] + long_["num_requests"], arrived)
        errors = json.loads(p.stdout)["errors"]
        self.assertEqual([(e["name"], e["error"], e["occurrences"]) for e in errors],
                         [("short", "timed out after 0.3s", short["num_requests"])])
        # It did not wait for the server's 1 s (a generous bound).
        self.assertLess(short["max_response_time"], 900)
        self.assertGreaterEqual(short["min_response_time"], 250)

    def test_grpc_and_redis_timeouts(self):
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        path = self.script(
            'U = rl.user { wait = rl.constant(0), protocols = {"redis"},\n'
            '  grpc = {proto = "%s", methods = {"%s"}, host = os.getenv("HELLO")},\n'
            '  tasks = { function(u)\n'
            '    u.grpc:call("%s", {name = "x"}, {name = "slow", timeout = 0.2,\n'
            '                metadata = {["x-delay-ms"] = 1000}})\n'
            '    u.grpc:call("%s", {name = "x"}, {name = "quick", timeout = 0.2})\n'
            '    u:request("redis", "BLPOP nothing 2", {name = "blpop", timeout = 0.2})\n'
            '    u:request("redis", "ECHO hi", {timeout = 0.2})\n'
            '  end } }\n' % (os.path.join(EXAMPLES, "..", "hello", "hello.proto"),
                            SAY_HELLO, SAY_HELLO, SAY_HELLO))
        with HelloServer() as hs, RedisServer() as rs:
            p = run(path, "--host", rs.url(), "-u", "2", "-r", "100", "-t", "2s",
                    env={"HELLO": hs.target})
            blpops, echoes = rs.calls("blpop"), rs.calls("echo")
            hs.stop()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertNotIn("Lua error", p.stderr)
        r = rows(p)
        slow, quick = r[("grpc", "slow")], r[("grpc", "quick")]
        blpop, echo = r[("redis", "blpop")], r[("redis", "ECHO")]
        for row in (slow, blpop):
            self.assertGreaterEqual(row["num_requests"], 2)
            self.assertEqual(row["num_failures"], row["num_requests"])
            self.assertLess(row["max_response_time"], 900)
        for row in (quick, echo):
            self.assertGreaterEqual(row["num_requests"], 2)
            self.assertEqual(row["num_failures"], 0)
        self.assertEqual(quick["num_requests"], hs.counts["hello_ok"], hs.describe())
        self.assertEqual(blpop["num_requests"], blpops)
        self.assertEqual(echo["num_requests"], echoes)
        errors = {e["name"]: e["error"] for e in json.loads(p.stdout)["errors"]}
        self.assertEqual(set(errors), {"slow", "blpop"})
        # gRPC's own word for a client's deadline, as the server would say.
        self.assertEqual(errors["slow"], "DEADLINE_EXCEEDED: Deadline Exceeded")
        self.assertEqual(errors["blpop"], "timed out after 0.2s")

    def test_a_bad_timeout_is_a_lua_error_saying_so(self):
        path = self.script('U = rl.user { wait = rl.constant(0.05), tasks = { function(u)\n'
                           '  u.http:get("/", {timeout = "soon"}) end } }\n')
        with NginxServer() as nginx:
            p = run(path, "--host", "http://127.0.0.1:%d" % nginx.port, "-u", "1", "-t", "1s")
            self.assertEqual(nginx.count(), 0)
        self.assertIn("u.http:get: timeout= is string: give the seconds it may take "
                      "(a number > 0, at most 86400)", p.stderr)

    def test_undeclared_protocol_is_a_lua_error_naming_the_declared(self):
        path = self.script('U = rl.user { protocols = {"redis"},\n'
                           '  wait = rl.constant(0.01), tasks = { function(u)\n'
                           '    local r = u:request("redis", "ECHO hi")\n'
                           '    u:request("udp", "x")\n'
                           '  end } }\n')
        with RedisServer() as rs:
            p = run(path, "--host", rs.url(), "-u", "1", "-r", "10", "-t", "500ms")
            echoes = rs.calls("echo")
        r = rows(p)
        self.assertEqual(r[("redis", "ECHO")]["num_requests"], echoes)
        self.assertIn("u:request: 'udp' is not a protocol class U declares "
                      "(protocols = {...}: redis)", p.stderr)

    def test_hosts_in_the_class_and_no_run_host(self):
        # grpc.host and protocols = {redis = URL}: no --host needed; a path
        # then has no host to go to (a Lua error saying so).
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        proto = os.path.join(EXAMPLES, "..", "hello", "hello.proto")
        with HelloServer() as hs, RedisServer() as rs:
            path = self.script(
                'U = rl.user { wait = rl.constant(0.01),\n'
                '  protocols = {redis = "%s"},\n'
                '  grpc = {proto = "%s", host = "%s", methods = {"%s"}},\n'
                '  tasks = { function(u)\n'
                '    u:request("redis", "ECHO a")\n'
                '    u.grpc:call("%s", {name = "x"})\n'
                '    u.http:get("/x")\n'
                '  end } }\n' % (rs.url(), proto, hs.target, SAY_HELLO, SAY_HELLO))
            p = run(path, "-u", "2", "-r", "100", "-t", "1s")
            echoes = rs.calls("echo")
            hs.stop()
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        self.assertGreater(echoes, 10)
        self.assertEqual(r[("redis", "ECHO")]["num_requests"], echoes)
        self.assertEqual(r[("grpc", "/" + SAY_HELLO)]["num_requests"], hs.counts["hello_ok"])
        self.assertIn("u.http:get: '/x': class U has no host for a path", p.stderr)

    # ---- full URLs to declared hosts --------------------------------------

    def test_urls_go_to_the_declared_hosts(self):
        with NginxServer() as shop, NginxServer() as inventory:
            base = "http://127.0.0.1:%d" % inventory.port
            p = run(os.path.join(EXAMPLES, "two_hosts.lua"), "-u", "3", "-r", "100",
                    "-t", "2s", env={"SHOP": "http://127.0.0.1:%d" % shop.port,
                                     "INVENTORY": base})
            shop_log, inv_log = pages(shop), pages(inventory)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = rows(p)
        self.assertGreater(len(shop_log), 10)
        self.assertEqual(r[("GET", "/hello?page=shop")]["num_requests"], len(shop_log))
        self.assertEqual(r[("GET", "inventory")]["num_requests"], len(inv_log))
        self.assertTrue(all(q["page"] == ["shop"] for q in shop_log))
        # The item asked of the inventory came from the shop's answer.
        self.assertTrue(all(q["page"] == ["stock"] and q["item"] == ["hello"]
                            for q in inv_log), inv_log[:3])

    def test_an_undeclared_host_is_added_at_run_time(self):
        with NginxServer() as a, NginxServer() as b:
            url_b = "http://127.0.0.1:%d" % b.port
            url_a = "http://127.0.0.1:%d/hello?page=rt" % a.port
            path = self.script(
                'U = rl.user { hosts = {"%s/"}, tasks = { function(u)\n'
                '  u.http:get("%s")\n'
                '  u.http:get("%s")\n'
                'end } }\n' % (url_b, url_b, url_a))
            p = run(path, "-u", "1", "-r", "10", "-t", "500ms")
            a_log, b_log = pages(a), pages(b)
        r = rows(p)
        # The host's bare URL is its "/" (the declared "URL/" is the host).
        self.assertEqual(r[("GET", url_b)]["num_requests"], len(b_log))
        # A URL on a host not declared: its target added while the run
        # goes (docs/lua.md), named as given.
        self.assertGreater(len(a_log), 5)
        self.assertEqual(r[("GET", url_a)]["num_requests"], len(a_log))
        self.assertEqual(r[("GET", url_a)]["num_failures"], 0, p.stdout)
        self.assertNotIn("Lua error", p.stderr)
        self.assertTrue(all(q == {"page": ["rt"]} for q in a_log), a_log[:3])
        # A path with no host of the class's is still an error.
        path = self.script(
            'U = rl.user { hosts = {"%s"}, tasks = { function(u)\n'
            '  u.http:get("/x")\n'
            'end } }\n' % url_b)
        p = run(path, "-u", "1", "-r", "10", "-t", "300ms", "--allow-unreachable")
        self.assertIn("u.http:get: '/x': class U has no host for a path", p.stderr)

if __name__ == "__main__":
    unittest.main()
