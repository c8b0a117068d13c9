"""examples/lua/'s translations of Locust's documented examples (docs/lua.md,
"Examples"), each run for a few seconds against a real server: what
rpcload's JSON report counts must be what the server counted, and each
example's own effect must show at the server (a login's credentials, a
token sent back, the tags' tasks only, a class's user count, a wait).

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_examples
"""

import json
import os
import re
import subprocess
import unittest
from collections import Counter
from urllib.parse import parse_qs, urlsplit

from hello_server import HelloServer, skip_reason as hello_skip_reason
from servers import NginxServer
from test_lua import BUILD_DIR, EXAMPLES, RPCLOAD, LuaScriptCase, rows
from test_scenarios import DemoServer


def run(example, host, *args, env=None, timeout=60):
    e = dict(os.environ)
    e.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    e.update(env or {})
    # Requests in flight at the stop finish and count: the server's count
    # and the stats then agree exactly.
    argv = [RPCLOAD, "-s", os.path.join(EXAMPLES, example), "--host", host,
            "--json", "--only-summary", "--stop-timeout", "5"]
    return subprocess.run(argv + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def queries(nginx):
    """nginx's log as (method, path, query dict, status), in order."""
    nginx.count()  # waits until two reads agree
    out = []
    for e in nginx.log_entries():
        u = urlsplit(e["uri"])
        out.append((e["method"], u.path, parse_qs(u.query, keep_blank_values=True),
                    e["status"]))
    return out


def q(entry, key):
    return entry[2].get(key, [None])[0]


def reqs(r, method, name):
    """A row's request count; 0 when no request made it (a task the random
    draw never picked)."""
    return r[(method, name)]["num_requests"] if (method, name) in r else 0


def total(r):
    return sum(x["num_requests"] for x in r.values())


class LuaExamples(LuaScriptCase):

    def nginx_run(self, example, *args, code=0, env=None):
        with NginxServer() as nginx:
            p = run(example, "http://127.0.0.1:%d" % nginx.port, *args, env=env)
            if code is not None:
                self.assertEqual(p.returncode, code, p.stderr[-3000:])
            log = queries(nginx)
        r = rows(p)
        self.assertEqual(total(r), len(log), (r, log))
        return p, r, log

    def test_quickstart(self):
        p, r, log = self.nginx_run("quickstart.lua", "-u", "4", "-r", "100", "-t", "3s",
                                   env={"ITEM_PAUSE": "0.05"})
        logins = [e for e in log if q(e, "page") == "login"]
        items = [e for e in log if q(e, "page") == "item"]
        worlds = [e for e in log if q(e, "page") == "world"]
        hellos = [e for e in log if e[2] == {}]
        # on_start: one login per user, a POST.
        self.assertEqual(len(logins), 4)
        self.assertTrue(all(e[0] == "POST" for e in logins))
        self.assertEqual(r[("POST", "/hello?page=login")]["num_requests"], 4)
        # name="/item": every item in one row; whole tasks of ids 0..9 (the
        # stop lets a task in progress finish).
        self.assertEqual(reqs(r, "GET", "/item"), len(items))
        self.assertGreater(len(items), 0)
        self.assertEqual(len(items) % 10, 0)
        ids = [int(q(e, "id")) for e in items]
        self.assertEqual(Counter(ids), Counter({i: len(items) // 10 for i in range(10)}))
        # hello_world (weight 1: maybe never drawn in so short a run):
        # /hello then /world, as many of each.
        self.assertEqual(reqs(r, "GET", "/hello"), len(hellos))
        self.assertEqual(reqs(r, "GET", "/hello?page=world"), len(worlds))
        self.assertEqual(len(hellos), len(worlds))
        self.assertEqual(sum(x["num_failures"] for x in r.values()), 0)

    def test_validating(self):
        p, r, log = self.nginx_run("validating.lua", "-u", "2", "-r", "100", "-t", "2s",
                                   code=1)  # the 500s are failures
        status = Counter(e[3] for e in log)
        body = r[("GET", "/hello")]
        missing = r[("GET", "/missing")]
        error = r[("GET", "/error")]
        blog = r[("GET", "/blog?id=[id]")]
        # The body matched: no failure; the 404s were declared fine.
        self.assertEqual(body["num_failures"], 0)
        self.assertEqual(missing["num_requests"], status[404])
        self.assertGreater(status[404], 0)
        self.assertEqual(missing["num_failures"], 0)
        # The 500s failed with the task's own text, not the status's.
        self.assertEqual(error["num_requests"], status[500])
        self.assertEqual(error["num_failures"], status[500])
        errors = json.loads(p.stdout)["errors"]
        self.assertEqual([(e["name"], e["error"], e["occurrences"]) for e in errors],
                         [("/error", "server error 500, retry later", status[500])])
        # Grouping: ten ids, one row.
        blogs = [e for e in log if "blog" in e[2]]
        self.assertEqual(blog["num_requests"], len(blogs))
        self.assertEqual(sorted({int(q(e, "id")) for e in blogs}), list(range(10)))

    def test_tags(self):
        for args, ran in ((("--tags", "tag1"), {"1", "2"}),
                          (("--tags", "tag2,tag3"), {"2", "3"}),
                          (("--exclude-tags", "tag3"), {"1", "2", "4"})):
            with self.subTest(args=args):
                p, r, log = self.nginx_run("tags.lua", "-u", "30", "-r", "100",
                                           "-t", "1500ms", *args)
                tasks = Counter(q(e, "task") for e in log)
                # 30 users, a task each at once, and maybe a second one
                # after their 1 s wait: enough to see every allowed task.
                self.assertEqual(set(tasks), ran, tasks)
                for n in ran:
                    self.assertEqual(r[("GET", "task" + n)]["num_requests"], tasks[n])

    def test_user_classes(self):
        p, r, log = self.nginx_run("user_classes.lua", "-u", "9", "-r", "100", "-t", "2s")
        self.assertIn('all users spawned: {"AdminUser": 1, "MobileUser": 2, "WebUser": 6}',
                      p.stderr)
        starts = Counter(q(e, "start") for e in log if q(e, "start"))
        self.assertEqual(starts, Counter({"admin": 1, "web": 6, "mobile": 2}))
        ids = [q(e, "id") for e in log if q(e, "start")]
        self.assertEqual(len(set(ids)), 9)  # a user each
        # The admin restarts once, then waits 600 s.
        restarts = [e for e in log if q(e, "page") == "restart"]
        self.assertEqual(len(restarts), 1)
        self.assertEqual(restarts[0][0], "POST")
        self.assertEqual(r[("POST", "restart_app")]["num_requests"], 1)
        for page in ("web", "mobile"):
            n = sum(1 for e in log if q(e, "page") == page)
            self.assertEqual(r[("GET", page)]["num_requests"], n)
            self.assertGreater(n, 0)

    def test_events(self):
        p, r, log = self.nginx_run("events.lua", "-u", "1", "--threads", "1",
                                   "-t", "2s", code=1)  # /missing's 404s
        ok = sum(1 for e in log if e[3] == 200)
        failed = sum(1 for e in log if e[3] == 404)
        self.assertGreater(ok, 0)
        self.assertGreater(failed, 0)
        self.assertEqual(r[("GET", "index")]["num_requests"], ok)
        # The request listener's sum, printed by the user's on_stop: every
        # response's length (nginx's /hello: 12 bytes; its 404 page: its
        # own size, as the stats count it).
        length_404 = r[("GET", "stats")]["avg_content_length"]
        m = re.search(r"\[lua\] content-length on this thread:\t(\d+)\tfailed:\t(\d+)",
                      p.stderr)
        self.assertIsNotNone(m, p.stderr)
        self.assertEqual(int(m.group(1)), 12 * ok + round(length_404 * failed))
        self.assertEqual(int(m.group(2)), failed)
        # init first, then test_start before the users, test_stop after
        # on_stop, and quitting's total last.
        lines = [line for line in p.stderr.splitlines() if line.startswith("[lua] ")]
        self.assertEqual(lines[0], "[lua] I'm on a standalone node, for\t1\tusers", lines)
        self.assertEqual(lines[1], "[lua] A new test is starting", lines)
        self.assertEqual(lines[-2], "[lua] A new test is ending", lines)
        self.assertEqual(len(lines), 5, lines)
        # The report listener's total (events.py's master-side sum): the
        # same bytes the thread's request listener summed.
        self.assertEqual(lines[-1], "[lua] Total content-length received:\t%s" % m.group(1))

    def test_basic(self):
        p, r, log = self.nginx_run("basic.lua", "-u", "4", "-r", "100", "-t", "2s",
                                   code=1, env={"WAIT_SCALE": "0.02"})  # the 404s
        # The set's three tasks, each its own row, equal to nginx's count.
        pages = Counter(q(e, "page") or e[1] for e in log)
        self.assertEqual(r[("GET", "/")]["num_requests"], pages["index"])
        self.assertEqual(r[("GET", "/stats/requests")]["num_requests"], pages["stats"])
        missing = r[("GET", "/does_not_exist")]
        self.assertEqual(missing["num_requests"], pages["/missing"])
        self.assertEqual(missing["num_failures"], pages["/missing"])
        # Drawn one by one in the set (waits of 40-100 ms over 2 s): each
        # task many times.
        self.assertGreater(min(pages.values()), 5, pages)
        self.assertNotIn("Lua error", p.stderr)

    def test_custom_wait(self):
        p, r, log = self.nginx_run("custom_wait.lua", "-u", "6", "-r", "100", "-t", "2500ms",
                                   code=None)
        self.assertIn(p.returncode, (0, 1), p.stderr)  # 1: a page404 ran
        who = Counter(q(e, "who") for e in log)
        # 3 users of each class; a strict user waits at least 3 s after its
        # first task: one task each in 2.5 s.
        self.assertEqual(who["strict"], 3, who)
        # Exponential waits of mean 1 s: more than one task each, mostly.
        self.assertGreater(who["website"], 3, who)
        fails = sum(1 for e in log if e[1] == "/missing")
        page404 = r.get(("GET", "page404"), {"num_failures": 0})  # maybe never drawn
        self.assertEqual(page404["num_failures"], fails)
        self.assertNotIn("Lua error", p.stderr)

    def test_credentials(self):
        with DemoServer() as demo:
            p = run("credentials.lua", "http://127.0.0.1:%d" % demo.port,
                    "-u", "5", "-r", "100", "-t", "2s")
            served = demo.stop()
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        r = rows(p)
        # Three rows, three logins: each credential once; the two users
        # that found none left stopped before any request.
        self.assertEqual(sorted(served["users"]), ["user1", "user2", "user3"])
        self.assertEqual(r[("POST", "/login")]["num_requests"], 3)
        # Each logged-in user's task ran once (a 5-60 s wait after it) with
        # the token its login got: the server refused none.
        self.assertEqual(served["requests"].get("POST /cart"), 3, served)
        self.assertEqual(r[("POST", "/cart")]["num_requests"], 3)
        self.assertEqual(served["unauthorized"], 0, served)
        self.assertEqual(total(r), sum(served["requests"].values()))

    def test_grpc_user(self):
        reason = hello_skip_reason()
        if reason:
            self.skipTest(reason)
        with HelloServer() as hs:
            p = run("grpc_user.lua", "grpc://" + hs.target, "-u", "3", "-r", "100",
                    "-t", "2s", env={"HELLO_PAUSE": "0.1"})
            hs.stop()
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        r = rows(p)
        # One row named after the method, as Locust's wrapper names it.
        self.assertEqual(list(r), [("grpc", "SayHello")])
        self.assertEqual(r[("grpc", "SayHello")]["num_requests"], hs.counts["hello_ok"])
        self.assertGreater(hs.counts["hello_ok"], 6)
        self.assertEqual(r[("grpc", "SayHello")]["num_failures"], 0)
        # The wrapper's own event (the call's is off): the reply's length.
        self.assertGreater(r[("grpc", "SayHello")]["avg_content_length"], 0)

    def test_manual_stats_reporting(self):
        with NginxServer() as nginx:
            p = run("manual_stats_reporting.lua", "http://127.0.0.1:%d" % nginx.port,
                    "-u", "6", "-r", "100", "-t", "3s")
            self.assertEqual(p.returncode, 1, p.stderr[-3000:])  # the fired failures
            self.assertEqual(queries(nginx), [])  # nothing sent: the rows are fired
        r = rows(p)
        self.assertLessEqual(set(r), {("manual", "successful_task"),
                                      ("manual", "decorator_test"),
                                      ("manual", "failing_task")})
        self.assertGreater(total(r), 6)  # each user's first task, at least
        ex = {e["traceback"]: e for e in json.loads(p.stdout)["exceptions"]}
        for name, row in r.items():
            # The time of the block, a sleep of up to 1 s.
            self.assertLess(row["max_response_time"], 1500, row)
            # Each failure is the re-raised error, counted as a Lua error.
            fails = row["num_failures"]
            self.assertEqual(ex.get("MyUser." + name[1], {"count": 0})["count"], fails)
            if name[1] == "successful_task":
                self.assertEqual(fails, 0)
            if name[1] == "failing_task":
                self.assertEqual(fails, row["num_requests"])
        self.assertRegex(p.stderr, r"manual_stats_reporting\.lua:\d+: (Oh nooes!|"
                         r"decorator_task failed)")


if __name__ == "__main__":
    unittest.main()
