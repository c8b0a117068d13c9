"""A Lua script steering and hearing the run (docs/lua.md): rl.shape,
Locust's LoadTestShape.tick, and rl.events, against nginx.

- rl.shape(t) is asked once a second on the main thread's state: the JSON
  report's history follows the user counts it returns, the run ends when
  it returns nil, and the stats equal nginx's log;
- a shape that returns nonsense ends the test naming rl.shape and what it
  returned; one that is not a function, or beside -u, stops the start
  with exit 2;
- rl.events: test_start, spawning_complete, test_stop and quitting heard
  once each, in that order, on the main thread; the request listener once
  per request nginx served (on the worker threads), and a text it returns
  fails the request; a listener's Lua error is counted, the run goes on;
- init heard once, first, with the run's facts; user_error once per Lua
  error a task raised (class, task, message with file:line), as many as
  the JSON report's exceptions table counts; the per-second report's rows
  add up to what nginx served, name by name; an init listener's error
  stops the start (exit 2).

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_events
"""

import json
import os
import re
import tempfile
import unittest

from servers import NginxServer
from test_lua import RPCLOAD, run

USER = ('U = rl.user { wait = rl.constant(0.1), tasks = { function(u)\n'
        '  u.http:get("/hello?shape") end } }\n')


class WithNginx(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(RPCLOAD):
            raise unittest.SkipTest("%s is not built" % RPCLOAD)
        cls.nginx = NginxServer().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.__exit__(None, None, None)

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.nginx.clear_logs()

    def tearDown(self):
        self.tmp.cleanup()

    def script(self, text):
        path = os.path.join(self.tmp.name, "t.lua")
        with open(path, "w") as f:
            f.write(text)
        return path


class LuaShape(WithNginx):
    def test_history_follows_the_shape_and_nil_ends_the_run(self):
        path = self.script(USER + (
            'function rl.shape(t)\n'
            '  if t < 2 then return 2, 100 end\n'
            '  if t < 4 then return 6, 100 end\n'
            '  return nil\n'
            'end\n'))
        p = run(path, self.nginx)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("the load shape ended the test", p.stderr)
        rep = json.loads(p.stdout)
        # Asked at 0, 1, 2, ... s: nil at the first tick past 4 s.
        self.assertGreater(rep["run"]["duration"], 3.5)
        self.assertLess(rep["run"]["duration"], 6.5)

        def plan(t):
            return 2 if t < 2 else 6 if t < 4 else 0
        rows = rep["history"][:-1]  # the last row is the stop's
        self.assertGreaterEqual(len(rows), 3)
        for row in rows:
            t = row["elapsed"] + 0.5  # a row is taken half a second into its second
            self.assertIn(row["user_count"], {plan(t - 1), plan(t), plan(t + 1)},
                          "at %.1f s: %d users" % (t, row["user_count"]))
        self.assertEqual(rows[0]["user_count"], 2)
        self.assertEqual(max(r["user_count"] for r in rows), 6)
        total = rep["total"]["num_requests"]
        self.assertGreater(total, 0)
        self.assertEqual(self.nginx.count(), total)

    def test_nonsense_from_the_shape_ends_the_test_saying_what(self):
        path = self.script(USER + 'function rl.shape(t) return "many", 1 end\n')
        p = run(path, self.nginx)
        self.assertIn("rl.shape(0.0) returned string for the users, not a number >= 0",
                      p.stderr)
        self.assertLess(json.loads(p.stdout)["run"]["duration"], 2)
        path = self.script(USER + 'function rl.shape(t) error("no shape here") end\n')
        p = run(path, self.nginx)
        self.assertIn("t.lua: rl.shape: ", p.stderr)
        self.assertIn("no shape here", p.stderr)

    def test_a_shape_that_cannot_be_is_refused_at_start(self):
        path = self.script(USER + 'rl.shape = 5\n')
        p = run(path, self.nginx)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("rl.shape: a function (t) returning users, spawn_rate or nil, not a number",
                      p.stderr)
        path = self.script(USER + 'function rl.shape(t) return 1, 1 end\n')
        p = run(path, self.nginx, "-u", "3")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("rl.shape gives the users over time: leave out -u", p.stderr)


EVENTS = """
local P = os.getenv("RL_EVENTS_LOG")
local function note(s) local f = assert(io.open(P, "a")); f:write(s, "\\n"); f:close() end
U = rl.user { wait = rl.constant(0.05), tasks = {
  function(u) u.http:get("/hello?ev") end,
  function(u) u.http:get("/hello?bad") end } }
rl.events.test_start:add_listener(function() note("test_start") end)
rl.events.spawning_complete:add_listener(function(n) note("spawning_complete " .. n) end)
rl.events.test_stop:add_listener(function() note("test_stop") end)
rl.events.quitting:add_listener(function() note("quitting") end)
rl.events.request:add_listener(function(r)
  note("request " .. r.request_type .. " " .. r.name .. " " .. tostring(r.exception))
  if r.name == "/hello?bad" then return "failed by the listener" end
end)
rl.events.request:add_listener(function(r) if r.name == "/hello?bad" then error("oops") end end)
"""


class LuaEvents(WithNginx):
    def test_main_events_in_order_and_a_request_listener_per_request(self):
        log = os.path.join(self.tmp.name, "events.log")
        path = self.script(EVENTS)
        os.environ["RL_EVENTS_LOG"] = log
        try:
            p = run(path, self.nginx, "-u", "4", "-r", "100", "-t", "2s", "--threads", "2")
        finally:
            del os.environ["RL_EVENTS_LOG"]
        self.assertEqual(p.returncode, 1, p.stderr)  # failures: exit 1
        with open(log) as f:
            lines = f.read().splitlines()
        main = [x for x in lines if not x.startswith("request ")]
        self.assertEqual(main, ["test_start", "spawning_complete 4", "test_stop", "quitting"])
        first = lines.index("test_start")
        stop = lines.index("test_stop")
        reqs = [x for x in lines if x.startswith("request ")]
        self.assertTrue(all(first < i < stop for i, x in enumerate(lines)
                            if x.startswith("request ")))
        self.assertEqual(set(reqs), {"request GET /hello?ev nil", "request GET /hello?bad nil"})
        rows = {r["name"]: r for r in json.loads(p.stdout)["stats"]}
        served_ev = self.nginx.count("/hello?ev")
        served_bad = self.nginx.count("/hello?bad")
        self.assertGreater(served_bad, 0)
        self.assertEqual(reqs.count("request GET /hello?ev nil"), served_ev)
        self.assertEqual(reqs.count("request GET /hello?bad nil"), served_bad)
        self.assertEqual(rows["/hello?ev"]["num_requests"], served_ev)
        self.assertEqual(rows["/hello?ev"]["num_failures"], 0)
        self.assertEqual(rows["/hello?bad"]["num_failures"], served_bad)
        self.assertIn("failed by the listener", p.stdout)
        # The second listener's error: counted once per call, the run went on.
        self.assertRegex(p.stderr, r"%d x rl.events.request listener 2: .*t.lua:\d+: oops"
                         % served_bad)

    def test_add_listener_takes_a_function(self):
        path = self.script(USER + "rl.events.test_start:add_listener(42)\n")
        p = run(path, self.nginx)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("add_listener: a function, not a number", p.stderr)


FACTS = """
local P = os.getenv("RL_EVENTS_LOG")
local function note(s) local f = assert(io.open(P, "a")); f:write(s, "\\n"); f:close() end
U = rl.user { wait = rl.constant(0.05), tasks = {
  ok = function(u) u.http:get("/hello?rep") end,
  boom = function(u) u.http:get("/hello?boom"); local t = nil; return t.x end } }
local counts, reports = {}, 0
rl.events.init:add_listener(function(env)
  note(string.format("init %s %d %g %g %d %s %s", env.host, env.users, env.spawn_rate,
                     env.run_time, env.threads, table.concat(env.user_classes, ","),
                     tostring(env.web)))
end)
rl.events.test_start:add_listener(function() note("test_start") end)
rl.events.user_error:add_listener(function(e)
  note("user_error " .. e.user_id .. " " .. e.user_class .. " " .. e.task .. " " .. e.message)
end)
rl.events.report:add_listener(function(rep)
  reports = reports + 1
  assert(rep.user_count >= 0 and rep.time > 1e9)
  for _, row in ipairs(rep.rows) do
    counts[row.type .. " " .. row.name] = (counts[row.type .. " " .. row.name] or 0)
                                          + row.num_requests
  end
end)
rl.events.quitting:add_listener(function()
  for k, v in pairs(counts) do note("report " .. k .. " " .. v) end
  note("reports " .. reports)
end)
"""


class Logged(WithNginx):
    def run_logged(self, text, *args):
        log = os.path.join(self.tmp.name, "events.log")
        os.environ["RL_EVENTS_LOG"] = log
        try:
            p = run(self.script(text), self.nginx, *args)
        finally:
            del os.environ["RL_EVENTS_LOG"]
        lines = []
        if os.path.exists(log):
            with open(log) as f:
                lines = f.read().splitlines()
        return p, lines


class LuaInitErrorsReport(Logged):
    def test_init_user_error_and_report_reach_lua(self):
        p, lines = self.run_logged(FACTS, "-u", "3", "-r", "100", "-t", "2s",
                                   "--threads", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        # init: once, first, with the run's facts.
        self.assertEqual(lines[0], "init http://127.0.0.1:%d 3 100 2 2 U false"
                         % self.nginx.port)
        self.assertEqual([x for x in lines if x.startswith("init")], [lines[0]])
        self.assertEqual(lines[1], "test_start")
        # user_error: one per Lua error, with class, task and file:line.
        errs = [x for x in lines if x.startswith("user_error ")]
        boom = self.nginx.count("/hello?boom")
        self.assertGreater(boom, 0)
        self.assertEqual(len(errs), boom)
        self.assertTrue(all(re.fullmatch(
            r"user_error [123] U boom .*t\.lua:6: attempt to index local 't' \(a nil value\)",
            x) for x in errs), errs[:3])
        # The JSON report's exceptions table counts them too.
        rep = json.loads(p.stdout)
        ex = rep["exceptions"]
        self.assertEqual(len(ex), 1, ex)
        self.assertEqual(ex[0]["count"], boom)
        self.assertEqual(ex[0]["traceback"], "U.boom")
        self.assertRegex(ex[0]["msg"], r"t\.lua:6: attempt to index local 't'")
        # The report: its rows add up to what nginx served, name by name.
        self.assertIn("report GET /hello?rep %d" % self.nginx.count("/hello?rep"), lines)
        self.assertIn("report GET /hello?boom %d" % boom, lines)
        reports = int([x for x in lines if x.startswith("reports ")][0].split()[1])
        self.assertGreaterEqual(reports, 2)  # once a second, and once at the end
        self.assertLessEqual(reports, 6)

    def test_no_exceptions_is_an_empty_table(self):
        p = run(self.script(USER), self.nginx, "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["exceptions"], [])

    def test_an_init_listener_error_stops_the_start(self):
        p, lines = self.run_logged(USER + 'rl.events.init:add_listener(function(env)\n'
                                   '  error("no go on " .. env.host) end)\n',
                                   "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"rl\.events\.init listener 1: .*t\.lua:4: no go on http://")
        self.assertEqual(self.nginx.count(), 0)


FIRE = """
local P = os.getenv("RL_EVENTS_LOG")
local function note(s) local f = assert(io.open(P, "a")); f:write(s, "\\n"); f:close() end
local heard = 0
rl.events.request:add_listener(function(r)
  if r.request_type == "manual" then heard = heard + 1 end
  if r.name == "refused" then return "refused by the listener" end
end)
U = rl.user { wait = rl.constant(0.05), tasks = { function(u)
  local t0 = rl.time()
  local r = u.http:get("/hello?fire", {event = false})
  rl.events.request:fire{request_type = "manual", name = "block",
                         response_time = (rl.time() - t0) * 1000,
                         response_length = #r.body}
  note("fired")
  if u.id % 2 == 0 then
    rl.events.request:fire{request_type = "manual", name = "bad", response_time = 2,
                           exception = "it broke"}
    rl.events.request.fire{request_type = "manual", name = "refused"}
    note("fired bad")
  end
end }, on_stop = function(u) note("heard " .. heard) end }
"""


class LuaFire(Logged):
    """rl.events.request:fire (Locust's events.request.fire): the stats, the
    CSV and the request listeners count what the script fired, no more."""

    def test_fired_requests_are_counted_as_fired(self):
        prefix = os.path.join(self.tmp.name, "run")
        p, lines = self.run_logged(FIRE, "-u", "4", "-r", "100", "-t", "2s",
                                   "--threads", "1", "--csv", prefix)
        self.assertEqual(p.returncode, 1, p.stderr)  # the fired failures
        fired = lines.count("fired")
        bad = lines.count("fired bad")
        self.assertGreater(fired, 8)
        self.assertGreater(bad, 0)
        # event = false: nginx served each GET, but it is no row of its own.
        self.assertEqual(self.nginx.count("/hello?fire"), fired)
        rows = {(r["method"], r["name"]): r for r in json.loads(p.stdout)["stats"]
                if r["name"] != "Aggregated"}
        self.assertEqual(set(rows), {("manual", "block"), ("manual", "bad"),
                                     ("manual", "refused")})
        self.assertEqual(rows[("manual", "block")]["num_requests"], fired)
        self.assertEqual(rows[("manual", "block")]["num_failures"], 0)
        self.assertEqual(rows[("manual", "block")]["avg_content_length"], 12)  # /hello's
        self.assertEqual(rows[("manual", "bad")]["num_requests"], bad)
        self.assertEqual(rows[("manual", "bad")]["num_failures"], bad)
        # A listener's verdict fails a fired request as a sent one's.
        self.assertEqual(rows[("manual", "refused")]["num_failures"], bad)
        self.assertIn("it broke", p.stdout)
        self.assertIn("refused by the listener", p.stdout)
        # The CSV's rows are the same counts.
        with open(prefix + "_stats.csv") as f:
            csv = {(r[0], r[1]): r for r in (line.split(",") for line in f.read().splitlines())}
        self.assertEqual(int(csv[("manual", "block")][2]), fired)
        self.assertEqual(int(csv[("manual", "bad")][3]), bad)
        # One thread: its request listener heard every fired request once
        # (the last user's on_stop saw them all).
        heard = max(int(x.split()[1]) for x in lines if x.startswith("heard "))
        self.assertEqual(heard, fired + 2 * bad)

    def test_fire_where_it_cannot_be_is_a_clear_error(self):
        p = run(self.script(USER + 'rl.events.request:fire{request_type = "x", name = "y"}\n'),
                self.nginx, "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("rl.events.request:fire: only inside a user's on_start, task or "
                      "on_stop", p.stderr)
        bad = ('V = rl.user { sequential = true, wait = rl.constant(0.1), tasks = {\n'
               '  function(u) rl.events.request:fire{request_type = "x", name = ""} end,\n'
               '  function(u) rl.events.request:fire{request_type = "x", name = "y",\n'
               '                                     response_time = "slow"} end } }\n')
        p = run(self.script(bad), self.nginx, "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 0, p.stderr)  # Lua errors: counted, no failures
        self.assertRegex(p.stderr, r"V\.task 1: .*t\.lua:2: rl\.events\.request:fire: "
                         r"name: a non-empty string is required")
        self.assertRegex(p.stderr, r"V\.task 2: .*t\.lua:3: rl\.events\.request:fire: "
                         r"response_time: a number, not a string")
        self.assertEqual(json.loads(p.stdout)["stats"], [])  # nothing counted
        # A request listener that fires would hear itself: refused, counted.
        loop = ('W = rl.user { wait = rl.constant(0.1), tasks = { function(u)\n'
                '  rl.events.request:fire{request_type = "x", name = "y"} end } }\n'
                'rl.events.request:add_listener(function(r)\n'
                '  rl.events.request:fire{request_type = "x", name = "z"} end)\n')
        p = run(self.script(loop), self.nginx, "-u", "1", "-t", "1s")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"rl\.events\.request listener 1: .*t\.lua:4: "
                         r"rl\.events\.request:fire: from a request listener")
        names = [r["name"] for r in json.loads(p.stdout)["stats"]]
        self.assertEqual(names, ["y"])

if __name__ == "__main__":
    unittest.main()
