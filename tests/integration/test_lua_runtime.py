"""Lua users' runtime (src/script/safety.c and the files beside it,
docs/lua.md): what keeps a script from hurting the run, against nginx.

- the watchdog: a task that never yields is stopped after its
  --lua-timeslice of CPU, counted as a Lua error with its file:line, the
  run ends on time and the other users' requests equal nginx's log;
- --lua-memory: an allocation past the cap fails the task (a counted Lua
  error naming the cap), not the process; the user goes on;
- bad values of both options stop the start with exit 2.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_runtime
"""

import os
import re
import subprocess
import time
import unittest
from urllib.parse import parse_qs, urlsplit

from servers import NginxServer
from test_lua import BUILD_DIR, RPCLOAD, LuaScriptCase, rows


def run(script, nginx, *args, timeout=60):
    env = dict(os.environ)
    env.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    # Requests in flight at the stop finish and count: nginx's log and the
    # stats then agree exactly.
    argv = [RPCLOAD, "-s", script, "--json", "--only-summary", "--stop-timeout", "5"]
    argv += ["--host", "http://127.0.0.1:%d" % (nginx.port if nginx else 9)]
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env)


def pages(nginx):
    """nginx's log: the page= of each request, in order."""
    nginx.count()  # waits until two reads agree
    return [parse_qs(urlsplit(e["uri"]).query).get("page", [""])[0]
            for e in nginx.log_entries()]


def summary_count(stderr, text):
    """N of the end summary's 'N x TEXT...' line, or 0."""
    m = re.search(r"^\s+(\d+) x " + re.escape(text), stderr, re.M)
    return int(m.group(1)) if m else 0


class LuaRuntime(LuaScriptCase):

    # -- the watchdog ------------------------------------------------------
    def test_endless_loop_is_stopped_by_the_watchdog(self):
        path = self.script(
            'Spinner = rl.user { wait = rl.constant(0.2), tasks = { spin = function(u)\n'
            '  local x = 0\n'
            '  while true do x = x + 1 end\n'
            'end } }\n'
            'Normal = rl.user { wait = rl.constant(0.05), tasks = { function(u)\n'
            '  u.http:get("/hello?page=n", {name = "n"})\n'
            'end } }\n')
        with NginxServer() as nginx:
            t0 = time.monotonic()
            # Without a watchdog the spinner's thread never comes back:
            # the run would hang until this timeout.
            p = run(path, nginx, "-u", "4", "-r", "100", "-t", "2s",
                    "--lua-timeslice", "200ms", timeout=40)
            took = time.monotonic() - t0
            log = pages(nginx)
        self.assertEqual(p.returncode, 0, p.stderr)
        # On time: 2 s, a spinner caught in its slice at the stop gives it
        # up within 200 ms; generous for a loaded machine.
        self.assertLess(took, 15, p.stderr)
        where = "Spinner.spin: %s:3: ran " % path
        self.assertEqual(p.stderr.count("Lua error (counted"), 1, p.stderr)
        self.assertIn(where, p.stderr)
        self.assertIn("without yielding (an endless loop?): stopped by the "
                      "watchdog (--lua-timeslice 200ms)", p.stderr)
        n = summary_count(p.stderr, where)
        self.assertGreaterEqual(n, 2, p.stderr)  # the spinners went on
        r = rows(p)
        self.assertEqual(r[("GET", "n")]["num_requests"], len(log))
        self.assertEqual(log.count("n"), len(log))
        self.assertGreater(len(log), 4)

    def test_endless_loop_at_load_stops_the_start(self):
        path = self.script("local x = 0\nwhile true do x = x + 1 end\n")
        p = run(path, None, "-t", "1s", "--lua-timeslice", "100ms", timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:2: ran " % path, p.stderr)
        self.assertIn("stopped by the watchdog (--lua-timeslice 100ms)", p.stderr)

    # -- the memory cap ----------------------------------------------------
    def test_allocation_past_the_cap_fails_the_task_not_the_process(self):
        path = self.script(
            'Hog = rl.user { wait = rl.constant(0.1), tasks = { hog = function(u)\n'
            '  u.http:get("/hello?page=before", {name = "before"})\n'
            '  local t = {}\n'
            '  for i = 1, 1e8 do t[i] = "x" .. i end\n'
            '  u.http:get("/hello?page=never", {name = "never"})\n'
            'end } }\n'
            'Big = rl.user { wait = rl.constant(0.1), tasks = { big = function(u)\n'
            '  local s = string.rep("x", 64 * 1024 * 1024)\n'
            '  u.http:get("/hello?page=never", {name = "never"})\n'
            'end } }\n'
            'Normal = rl.user { wait = rl.constant(0.05), tasks = { function(u)\n'
            '  u.http:get("/hello?page=n", {name = "n"})\n'
            'end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "6", "-r", "100", "-t", "2s",
                    "--lua-memory", "16MiB", timeout=40)
            log = pages(nginx)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("never", log)
        cap = "out of memory: the Lua state reached its cap (--lua-memory 16.0 MiB"
        hogs = summary_count(p.stderr, "Hog.hog: %s:1 (in the function defined "
                                       "there): %s" % (path, cap))
        bigs = summary_count(p.stderr, "Big.big: %s:8: %s" % (path, cap))
        # The cap is the thread's state's, but a failed task's garbage is
        # collected before the next run: the others never see it.
        self.assertNotIn("Normal.task 1", p.stderr)
        self.assertGreaterEqual(bigs, 2, p.stderr)
        # The hog went on after each failure: one request per task run.
        self.assertGreaterEqual(hogs, 2, p.stderr)
        self.assertIn(log.count("before"), (hogs, hogs + 1, hogs + 2), p.stderr)
        r = rows(p)
        self.assertEqual(r[("GET", "before")]["num_requests"], log.count("before"))
        self.assertEqual(r[("GET", "n")]["num_requests"], log.count("n"))
        self.assertEqual(sum(x["num_requests"] for x in r.values()), len(log))

    def test_bad_limits_stop_the_start(self):
        path = self.script('U = rl.user { tasks = { function(u) end } }\n')
        p = run(path, None, "-t", "1s", "--lua-memory", "lots")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--lua-memory 'lots': expected a size such as 64MiB",
                      p.stderr)
        p = run(path, None, "-t", "1s", "--lua-memory", "100KiB")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--lua-memory '100KiB': at least 1MiB", p.stderr)
        p = run(path, None, "-t", "1s", "--lua-timeslice", "soon")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--lua-timeslice 'soon': expected a duration", p.stderr)

    # -- Lua errors as Locust's user_error -----------------------------------
    def test_lua_error_fires_user_error_to_listeners(self):
        recorder = os.path.join(BUILD_DIR, "tests", "listeners", "recorder_good.so")
        events = os.path.join(self.tmp.name, "events.txt")
        path = self.script(
            'Faulty = rl.user { wait = rl.constant(0.05), tasks = { pay = function(u)\n'
            '  u.http:get("/hello?page=before", {name = "before"})\n'
            '  local t = nil\n'
            '  return t.total\n'
            'end } }\n')
        csv = os.path.join(self.tmp.name, "run")
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "2", "-r", "100", "-t", "1s",
                    "--listener", recorder, "--listener-opt", "file=" + events,
                    "--csv", csv)
            n = pages(nginx).count("before")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(events) as f:
            errs = [ln.rstrip("\n").split(" ", 5) for ln in f
                    if ln.startswith("user_error ")]
        # One event per task run that failed: one per request before it.
        self.assertEqual(len(errs), n, errs)
        what = "%s:4: attempt to index local 't' (a nil value)" % path
        for e in errs:
            self.assertEqual(e[2:], ["Faulty", "task", "pay", what], e)
        self.assertEqual({e[1] for e in errs}, {"1", "2"})
        self.assertEqual(summary_count(p.stderr, "Faulty.pay: " + what), n)
        # Locust's exceptions table: one row, counted, where it was raised.
        with open(csv + "_exceptions.csv", newline="") as f:
            table = list(__import__("csv").reader(f))
        self.assertEqual(table[0], ["Count", "Message", "Traceback", "Nodes"])
        self.assertEqual(table[1:], [[str(n), what, "Faulty.pay", "local"]])

    # -- data helpers ------------------------------------------------------
    def test_uuid_random_int_random_string_reach_the_server(self):
        path = self.script(
            'U = rl.user { wait = rl.constant(0.02), tasks = { function(u)\n'
            '  u.http:get("/hello?page=h&id=" .. rl.uuid() .. "&n=" .. '
            'rl.random_int(3, 5) .. "&s=" .. rl.random_string(12), {name = "h"})\n'
            'end } }\n'
            'Bad = rl.user { fixed_count = 1, wait = rl.constant(0.5), tasks = { function(u)\n'
            '  rl.random_int(5, 3)\n'
            'end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "3", "-r", "100", "-t", "1s")
            nginx.count()
            qs = [parse_qs(urlsplit(e["uri"]).query) for e in nginx.log_entries()]
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(len(qs), 10)
        self.assertEqual(rows(p)[("GET", "h")]["num_requests"], len(qs))
        ids = [q["id"][0] for q in qs]
        self.assertEqual(len(set(ids)), len(ids))  # every uuid differs
        for i in ids:
            self.assertRegex(i, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                                r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        ns = {q["n"][0] for q in qs}
        self.assertTrue(ns <= {"3", "4", "5"} and len(ns) >= 2, ns)
        strs = [q["s"][0] for q in qs]
        self.assertTrue(all(re.fullmatch(r"[A-Za-z0-9]{12}", x) for x in strs))
        self.assertEqual(len(set(strs)), len(strs))
        self.assertIn("%s:5: rl.random_int(5, 3): two whole "
                      "numbers, the first not above the second" % path, p.stderr)


if __name__ == "__main__":
    unittest.main()
