"""Lua users (rpcload -s FILE.lua, src/script/, docs/lua.md) against nginx:
the example scripts of examples/lua/ and small ones written here; what
rpcload's JSON report counts must be what nginx logged, request by
request.

- shop.lua: a login in on_start whose token reaches the server in the
  Authorization header (headers=) of every later request of that user; a branch on a 404 (r:success() makes it
  none of the failures) and a loop of 3 requests after it; weights (3:1
  tasks, 3:1 classes); name= grouping; rl.sleep;
- errors.lua: a runtime error in every task: counted, printed once with
  file:line, the users go on;
- a syntax error: exit 2 with file:line; r:failure counts a failure;
  rl.sleep holds the task for its time.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua
"""

import json
import os
import subprocess
import tempfile
import unittest
from urllib.parse import parse_qs, urlsplit

from servers import NginxServer

BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR", "../../build")
RPCLOAD = os.path.join(BUILD_DIR, "rpcload")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "examples", "lua")


def run(script, nginx, *args, timeout=60):
    env = dict(os.environ)
    env.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    # Requests in flight at the stop finish and count: nginx's log and the
    # stats then agree exactly (else they are cut and only nginx has them).
    argv = [RPCLOAD, "-s", script, "--json", "--only-summary", "--stop-timeout", "5"]
    if nginx:
        argv += ["--host", "http://127.0.0.1:%d" % nginx.port]
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env)


def rows(p):
    """The JSON report's rows by (method, name)."""
    out = json.loads(p.stdout)
    return {(r["method"], r["name"]): r for r in out["stats"]
            if r["name"] != "Aggregated"}


def logged(nginx):
    nginx.count()  # waits until two reads agree
    out = []
    for e in nginx.log_entries():
        u = urlsplit(e["uri"])
        out.append((e["method"], u.path, parse_qs(u.query), e["status"],
                    e["authorization"], e["x_rl_test"]))
    return out


def page(entries, name):
    return [e for e in entries if e[2].get("page", [""])[0] == name]


class LuaScriptCase(unittest.TestCase):
    """What every Lua suite's tests share: rpcload built, a temporary
    folder, scripts written into it (test_lua_model, _runtime, _protocols
    import it; it has no test of its own)."""

    def setUp(self):
        if not os.path.exists(RPCLOAD):
            self.fail("%s is not built" % RPCLOAD)
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def script(self, text, name="t.lua"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class LuaAgainstNginx(LuaScriptCase):

    def test_shop_counts_equal_nginx_and_tokens_reach_it(self):
        with NginxServer() as nginx:
            p = run(os.path.join(EXAMPLES, "shop.lua"), nginx,
                    "-u", "8", "-r", "100", "-t", "3s")
            self.assertEqual(p.returncode, 0, p.stderr)
            r = rows(p)
            log = logged(nginx)
        logins = page(log, "login")
        items = page(log, "item")
        probes = page(log, "probe")
        carts = page(log, "cart")
        browse = page(log, "browse")
        # Every request counted once, under its name= row.
        self.assertEqual(r[("POST", "/hello?page=login")]["num_requests"], len(logins))
        self.assertEqual(r[("GET", "/hello?page=item&id=[id]")]["num_requests"], len(items))
        self.assertEqual(r[("GET", "probe")]["num_requests"], len(probes))
        self.assertEqual(r[("GET", "cart")]["num_requests"], len(carts))
        self.assertEqual(r[("GET", "/hello?page=browse")]["num_requests"], len(browse))
        self.assertEqual(sum(x["num_requests"] for x in r.values()), len(log))
        # 8 users at weights 3:1: 6 shoppers (each logs in once), 2 browsers.
        self.assertEqual(len(logins), 6)
        self.assertTrue(all(e[0] == "POST" for e in logins))
        # The 404s were declared fine by r:success(): no failure anywhere.
        self.assertTrue(probes and all(e[3] == 404 for e in probes))
        self.assertEqual(sum(x["num_failures"] for x in r.values()), 0)
        # The loop: 3 carts after every probe, n = 1, 2, 3.
        self.assertEqual(len(carts), 3 * len(probes))
        # Task weights 3:1 (items vs probes), loosely: a random draw.
        self.assertGreater(len(items), len(probes))
        # Each user's token (set in on_start from the login's body) reaches
        # nginx in the Authorization header (headers=) of each of its later
        # requests; tokens differ by user; the login had none.
        self.assertTrue(all(e[4] == "-" for e in logins + probes + browse))
        auths = {e[4] for e in items + carts}
        self.assertEqual(len(auths), 6, auths)
        self.assertTrue(all(a.startswith("Bearer hello-") for a in auths), auths)
        # A number as a value: its text; a name in any case is one field.
        self.assertEqual(sorted({e[5] for e in carts}), ["1", "2", "3"])
        self.assertTrue(all(e[2]["n"][0] == e[5] for e in carts))

    def test_runtime_error_is_counted_and_the_users_go_on(self):
        with NginxServer() as nginx:
            p = run(os.path.join(EXAMPLES, "errors.lua"), nginx,
                    "-u", "2", "-r", "100", "-t", "1s")
            self.assertEqual(p.returncode, 0, p.stderr)
            r = rows(p)
            n = len(logged(nginx))
        self.assertEqual(r[("GET", "/hello?page=before")]["num_requests"], n)
        self.assertGreater(n, 4)  # more than one task per user: it went on
        where = "errors.lua:12: attempt to index local 't' (a nil value)"
        # Printed once, then counted in the summary: one error per task run.
        self.assertEqual(p.stderr.count("Lua error (counted"), 1, p.stderr)
        self.assertIn(where, p.stderr)
        self.assertIn("%d x Faulty.task 1: " % n, p.stderr)

    def test_syntax_error_stops_the_start_with_file_and_line(self):
        path = self.script("U = rl.user {\n  tasks = { function(u) end\n}\n")
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("t.lua:4: '}' expected (to close '{' at line 1)", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_a_class_without_tasks_is_refused_by_name(self):
        path = self.script("Empty = rl.user { tasks = {} }\n")
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("class Empty: tasks: at least one task is required", p.stderr)

    def test_failure_counts_and_sleep_holds_the_task(self):
        # One user, one task: a request declared failed, a 0.3 s sleep,
        # a second request; over 1.2 s, about 4 tasks at most, never 8.
        path = self.script(
            'U = rl.user { tasks = { function(u)\n'
            '  local r = u.http:get("/hello?page=a", {name = "a"})\n'
            '  if r.ok then r:failure("wanted " .. r.status + 1) end\n'
            '  rl.sleep(0.3)\n'
            '  u.http:get("/hello?page=b", {name = "b"})\n'
            '  rl.log("b done for", u.id)\n'
            'end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "1", "-r", "10", "-t", "1200ms",
                    "--stop-timeout", "0")
            r = rows(p)
            log = logged(nginx)
        a, b = page(log, "a"), page(log, "b")
        self.assertEqual(p.returncode, 1, p.stderr)  # the failures
        self.assertEqual(r[("GET", "a")]["num_requests"], len(a))
        self.assertEqual(r[("GET", "a")]["num_failures"], len(a))
        self.assertEqual(r[("GET", "b")]["num_failures"], 0)
        self.assertEqual(r[("GET", "b")]["num_requests"], len(b))
        self.assertTrue(1 <= len(a) <= 4, len(a))
        self.assertIn("wanted 201", p.stdout)
        self.assertIn("[lua] b done for\t1", p.stderr)

    def test_only_the_last_response_may_be_decided(self):
        # A response is open from its end until the task's next request or
        # sleep (runtime.c keeps it in a registry slot of the user's).
        path = self.script(
            'U = rl.user { wait = rl.constant(0.05), tasks = { function(u)\n'
            '  local a = u.http:get("/hello?page=a", {name = "a"})\n'
            '  local b = u.http:get("/hello?page=b", {name = "b"})\n'
            '  local _, late = pcall(a.failure, a, "late")\n'
            '  b:failure("b failed")\n'
            '  rl.sleep(0.01)\n'
            '  local _, slept = pcall(b.success, b)\n'
            '  rl.log(late, slept)\n'
            'end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "2", "-r", "100", "-t", "1s")
            r = rows(p)
            log = logged(nginx)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(r[("GET", "a")]["num_failures"], 0)
        self.assertEqual(r[("GET", "a")]["num_requests"], len(page(log, "a")))
        self.assertEqual(r[("GET", "b")]["num_failures"], r[("GET", "b")]["num_requests"])
        self.assertEqual(r[("GET", "b")]["num_requests"], len(page(log, "b")))
        counted = "this response was counted already"
        self.assertRegex(p.stderr, r"\[lua\] [^\n]*r:failure: %s[^\n]*\t[^\n]*r:success: %s"
                         % (counted, counted))
        self.assertNotIn("Lua error", p.stderr)

    def test_a_bad_header_fails_its_request_with_the_reason(self):
        # A value with a newline cannot be sent: the request fails with
        # why (nothing reaches nginx); headers= not a table is a Lua error.
        path = self.script(
            'U = rl.user { tasks = { function(u)\n'
            '  u.http:get("/hello?page=bad", {name = "bad",\n'
            '             headers = {["X-A"] = "a\\nInjected: 1"}})\n'
            '  u.http:get("/hello?page=good", {name = "good", headers = {}})\n'
            '  u.http:get("/hello?page=x", {headers = "x"})\n'
            'end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "1", "-r", "10", "-t", "500ms")
            r = rows(p)
            log = logged(nginx)
        self.assertEqual(page(log, "bad"), [])
        self.assertEqual(len(page(log, "good")), r[("GET", "good")]["num_requests"])
        self.assertEqual(r[("GET", "bad")]["num_failures"],
                         r[("GET", "bad")]["num_requests"])
        self.assertIn("header X-A: its value holds a control character", p.stdout)
        self.assertIn("headers= is a string: give a table", p.stderr)


if __name__ == "__main__":
    unittest.main()
