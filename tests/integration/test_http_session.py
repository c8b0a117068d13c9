"""HTTP as a Locust user expects it (issue #14): each user's cookie jar and
redirects followed, against session_server.py (HTTP/1.1) and nginx (HTTP/2),
and side by side with Debian's Locust on the same server and workload:
what the server saw (logins, cookies, hops) and what each tool reported.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \\
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_http_session
"""

import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import rpcload
from servers import NginxH2Server, popen_bounded, stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
LOCUST_PYTHON = "/usr/bin/python3"  # Debian's, with python3-locust

# One user's visit, in both tools: log in (the server then closes the
# connection: the jar must outlive it), then a task of five requests,
# each one exercising the session.
SCENARIO = """
users:
  - name: Shopper
    wait: {constant: 0.05}
    on_start:
      - http: POST /login
        body: "user=u{{user_id}}"
        headers: {content-type: application/x-www-form-urlencoded}
    tasks:
      - steps:
          - {http: GET /account/profile, headers: {x-user: "u{{user_id}}"}}
          - {http: GET /r/3}
          - {http: POST /form, body: "a=1"}
          - {http: POST /keep, body: "payload"}
          - {http: GET /set-on-redirect}
"""

LOCUSTFILE = '''
import itertools, json, os
from locust import HttpUser, constant, events, task

ids = itertools.count(1)
seen = {}

@events.request.add_listener
def on_request(request_type, name, response_length, exception, **kw):
    e = seen.setdefault("%s %s" % (request_type, name),
                        {"count": 0, "bytes": 0, "fails": 0, "errors": []})
    e["count"] += 1
    e["bytes"] += response_length or 0
    if exception is not None:
        e["fails"] += 1
        if len(e["errors"]) < 3:
            e["errors"].append(repr(exception))

@events.quitting.add_listener
def on_quitting(environment, **kw):
    with open(os.environ["RL_LOCUST_SEEN"], "w") as f:
        json.dump(seen, f)

class Shopper(HttpUser):
    wait_time = constant(0.05)

    def on_start(self):
        self.uid = next(ids)
        self.client.post("/login", data={"user": "u%d" % self.uid})

    @task
    def flow(self):
        FLOW_HERE
'''

FLOW = '''self.client.get("/account/profile", headers={"x-user": "u%d" % self.uid})
        self.client.get("/r/3")
        self.client.post("/form", data="a=1")
        self.client.post("/keep", data="payload")
        self.client.get("/set-on-redirect")'''

# The first hop of each request, and what its last response's body is.
ROWS = {"GET /account/profile": None, "GET /r/3": "end", "POST /form": "thanks",
        "POST /keep": "7", "GET /set-on-redirect": "flash"}
# Each request's hops after the first, as the server logs them.
HOPS = {"GET /r/3": ["GET /r/2", "GET /r/1", "GET /r/0"], "POST /form": ["GET /thanks"],
        "POST /keep": ["POST /echo"], "GET /set-on-redirect": ["GET /flash"]}


class SessionServer:
    """session_server.py on a kernel-picked port; stats() reads GET /stats."""

    def __enter__(self):
        self.proc = popen_bounded([LOCUST_PYTHON, os.path.join(HERE, "session_server.py"),
                                   "--port", "0", "--lifetime", "300"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                m = re.match(r"listening on 127\.0\.0\.1:(\d+)", self.proc.stdout.readline())
                if m:
                    self.port = int(m.group(1))
                    return self
        stop_process(self.proc)
        raise AssertionError("session_server did not start")

    def __exit__(self, *exc):
        stop_process(self.proc)

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stats(self):
        with urllib.request.urlopen(self.url("/stats"), timeout=10) as r:
            return json.loads(r.read())

    def served(self, key):
        return self.stats()["requests"].get(key, 0)


class HttpSessionCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-http-session-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def rl(self, args, timeout_s=90):
        res = rpcload.run(list(args), timeout_s=timeout_s)
        self.assertFalse(res.timed_out, "rpcload did not finish\n" + res.describe())
        return res

    def rl_json(self, args, code=0):
        """Runs rpcload with --json-file; its entries by "TYPE name"."""
        path = os.path.join(self.tmp, "out.json")
        res = self.rl(list(args) + ["--only-summary", "--json-file", path])
        self.assertEqual(res.exit_code, code, res.describe())
        with open(path) as f:
            doc = json.load(f)
        return res, {"%s %s" % (e["method"], e["name"]): e for e in doc["stats"]}

    def locust(self, url, flow, users=5, run_time="3s"):
        """Runs Debian's Locust headless with FLOW as its one task; what its
        request events said, by "TYPE name" (count, bytes, fails, errors)."""
        lf = self.write("locustfile.py", LOCUSTFILE.replace("FLOW_HERE", flow))
        seen = os.path.join(self.tmp, "locust_seen.json")
        env = dict(os.environ, RL_LOCUST_SEEN=seen, PYTHONDONTWRITEBYTECODE="1")
        proc = popen_bounded([LOCUST_PYTHON, "-m", "locust", "-f", lf, "--headless",
                              "-u", str(users), "-r", "50", "-t", run_time,
                              "--stop-timeout", "10", "--only-summary", "-H", url],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, cwd=self.tmp)
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            stop_process(proc)
        if not os.path.exists(seen):
            self.fail("Locust wrote no results\n" + out[-4000:])
        with open(seen) as f:
            return json.load(f)

    # ---- what both tools must make the server see ------------------------------

    def assert_visit_served(self, st, users, who):
        """The server's side of SCENARIO / FLOW: every user logged in once,
        every request's hops followed exactly once, every profile request
        with that user's session (prefs first: longer path), every flash
        cookie set on a redirect sent on its next hop."""
        req = st["requests"]
        n = req.get("GET /r/3", 0)
        self.assertGreater(n, 0, "%s: no visit completed: %s" % (who, st))
        self.assertEqual(st["logins"], users, who)
        self.assertEqual(sorted(st["users"]), sorted("u%d" % i for i in range(1, users + 1)),
                         who)
        self.assertEqual(st["cookie_on_login"], 0, who)
        for first in ROWS:
            self.assertEqual(req.get(first, 0), n, "%s: %s\n%s" % (who, first, st))
        for first, hops in HOPS.items():
            for hop in hops:
                self.assertEqual(req.get(hop, 0), n, "%s: %s of %s\n%s" % (who, hop, first, st))
        self.assertEqual(st["profile_ok"], n, who)
        self.assertEqual(st["profile_401"] + st["profile_403"], 0, who)
        self.assertEqual(st["cookie_orders"], {"prefs,session": n}, who)
        self.assertEqual(st["flash_ok"], n, who)
        self.assertEqual(st["flash_missing"], 0, who)
        return n

    def assert_rows(self, rows, st, who):
        """One row per request under its first hop's name, its count the
        server's, no failure, its size the last response's body."""
        want = set(ROWS) | {"POST /login"}
        self.assertEqual(set(rows), want, who)
        for key, (count, size, fails) in rows.items():
            self.assertEqual(count, st["requests"][key], "%s: %s" % (who, key))
            self.assertEqual(fails, 0, "%s: %s" % (who, key))
            body = ROWS.get(key)
            if body is not None:
                self.assertEqual(size, len(body), "%s: %s size" % (who, key))

    # ---- the tests ---------------------------------------------------------------

    def test_a_login_and_redirects_as_locust(self):
        """The same visit by rpcload and by Locust: the server sees the same
        things, and both report the same rows, counts and sizes."""
        users = 5
        scn = self.write("s.yaml", SCENARIO)
        with SessionServer() as srv:
            res, entries = self.rl_json(["-f", scn, "-u", str(users), "-r", "50", "-t", "3s",
                                         "--stop-timeout", "10", srv.url()])
            st_rl = srv.stats()
        n_rl = self.assert_visit_served(st_rl, users, "rpcload")
        rows_rl = {k: (e["num_requests"], e["avg_content_length"], e["num_failures"])
                   for k, e in entries.items()}
        self.assert_rows(rows_rl, st_rl, "rpcload")

        with SessionServer() as srv:
            seen = self.locust(srv.url(), FLOW, users=users)
            st_lo = srv.stats()
        n_lo = self.assert_visit_served(st_lo, users, "Locust")
        rows_lo = {k: (e["count"], e["bytes"] / e["count"], e["fails"])
                   for k, e in seen.items()}
        self.assert_rows(rows_lo, st_lo, "Locust")
        # Side by side: the same rows, sizes and server-side shape.
        self.assertEqual(set(rows_rl), set(rows_lo))
        for key in ROWS:
            if ROWS[key] is not None:
                self.assertEqual(rows_rl[key][1], rows_lo[key][1], key)
        self.assertEqual(st_rl["cookie_orders"].keys(), st_lo["cookie_orders"].keys())
        print("\nvisits completed: rpcload %d, Locust %d" % (n_rl, n_lo))

    def test_b_too_many_redirects_as_locust(self):
        """python-requests' limit: 30 redirects followed, the 31st fails;
        a chain of 30 succeeds. Both tools, the same server counts."""
        with SessionServer() as srv:
            res, entries = self.rl_json(["-u", "1", "-t", "1s", "--stop-timeout", "10",
                                         srv.url("/r/31")], code=1)
            st = srv.stats()
        n = entries["GET /r/31"]["num_requests"]
        self.assertGreater(n, 0)
        self.assertEqual(entries["GET /r/31"]["num_failures"], n)
        self.assertIn("GET /r/31: Exceeded 30 redirects.", res.stdout, res.describe())
        # 31 responses per request, the last a redirect not followed.
        self.assertEqual(st["requests"]["GET /r/1"], n)
        self.assertNotIn("GET /r/0", st["requests"])

        with SessionServer() as srv:
            seen = self.locust(srv.url(), 'self.client.get("/r/31")\n        '
                                          'self.client.get("/r/30")', users=1, run_time="2s")
            st_lo = srv.stats()
        m = seen["GET /r/31"]["count"]
        self.assertEqual(seen["GET /r/31"]["fails"], m)
        self.assertIn("Exceeded 30 redirects.", seen["GET /r/31"]["errors"][0])
        self.assertEqual(seen["GET /r/30"]["fails"], 0)
        self.assertEqual(st_lo["requests"]["GET /r/31"], m)
        self.assertEqual(st_lo["requests"]["GET /r/0"], seen["GET /r/30"]["count"])

        with SessionServer() as srv:
            res, entries = self.rl_json(["-u", "1", "-t", "1s", "--stop-timeout", "10",
                                         srv.url("/r/30")])
            self.assertEqual(entries["GET /r/30"]["num_failures"], 0)
            self.assertEqual(srv.served("GET /r/0"), entries["GET /r/30"]["num_requests"])

    def test_c_quick_command_line(self):
        """The quick path follows too; --no-redirects stops at the 3xx; a
        server closing after the 3xx is followed on a new connection; another
        origin fails, naming it."""
        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "10",
                                   srv.url("/r/3")])
            n = e["GET /r/3"]["num_requests"]
            self.assertEqual(srv.served("GET /r/3"), n)
            self.assertEqual(srv.served("GET /r/0"), n)
            self.assertEqual(e["GET /r/3"]["avg_content_length"], 3.0)

        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "10",
                                   "--no-redirects", srv.url("/r/3")])
            self.assertEqual(e["GET /r/3"]["num_failures"], 0)  # a 3xx is a success
            self.assertEqual(srv.served("GET /r/3"), e["GET /r/3"]["num_requests"])
            self.assertEqual(srv.served("GET /r/2"), 0)
            self.assertEqual(e["GET /r/3"]["avg_content_length"], len("moved"))

        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "10",
                                   srv.url("/close-redirect")])
            n = e["GET /close-redirect"]["num_requests"]
            self.assertGreater(n, 0)
            self.assertEqual(e["GET /close-redirect"]["num_failures"], 0, res.describe())
            self.assertEqual(srv.served("GET /r/0"), n)

        # A 3xx whose body ends when the server closes: it completes only
        # as the connection ends, and is followed on a new one.
        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "10",
                                   srv.url("/eof-redirect")])
            n = e["GET /eof-redirect"]["num_requests"]
            self.assertGreater(n, 0)
            self.assertEqual(e["GET /eof-redirect"]["num_failures"], 0, res.describe())
            self.assertEqual(srv.served("GET /r/0"), n)

        # Such a server's close is an answer, not a failed connection
        # attempt: no backoff before the next hop (with one, 6 hops would
        # wait 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s, +-20%).
        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "1", "-t", "2s", "--stop-timeout", "10",
                                   srv.url("/eof-chain/6")])
            row = e["GET /eof-chain/6"]
            self.assertEqual(row["num_failures"], 0, res.describe())
            self.assertEqual(srv.served("GET /eof-chain/0"), row["num_requests"])
            self.assertLess(row["max_response_time"], 1000, res.describe())

        # The flags are HTTP's: a gRPC target says so before it starts.
        res = self.rl(["--no-redirects", "--call", "pkg.S/M", "-t", "1s", "127.0.0.1:1"])
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("--no-cookies and --no-redirects are for HTTP targets", res.stderr)

        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "1", "-t", "1s", srv.url("/elsewhere")], code=1)
            self.assertIn("GET /elsewhere: HTTP 302 redirect to http://localhost:%d: "
                          "another origin, not followed" % srv.port, res.stdout)
            self.assertEqual(srv.served("GET /r/0"), 0)

    def test_d_a_jar_per_user_on_shared_connections(self):
        """--connections 2 for 10 users: connections are shared, jars are
        not. Each user's visits cookie counts its own visits only."""
        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "10", "-r", "100", "-t", "2s", "--stop-timeout", "10",
                                   "--connections", "2", "-H", "x-user: u{{user_id}}",
                                   srv.url("/visit")])
            st = srv.stats()
        n = e["GET /visit"]["num_requests"]
        self.assertGreater(n, 20)
        self.assertEqual(st["visits_ok"], n, st)
        self.assertEqual(st["visits_wrong"], 0, st)

        # --no-cookies: nothing kept, every visit looks like the first.
        with SessionServer() as srv:
            res, e = self.rl_json(["-u", "3", "-r", "100", "-t", "1s", "--stop-timeout", "10",
                                   "--no-cookies", "-H", "x-user: u{{user_id}}",
                                   srv.url("/visit")])
            st = srv.stats()
        n = e["GET /visit"]["num_requests"]
        self.assertEqual(st["visits_ok"], 3, st)      # each user's first
        self.assertEqual(st["visits_wrong"], n - 3, st)

    def test_e_scenario_flags_and_keys(self):
        """With -f, --no-cookies reaches every http step (the login is
        forgotten); a step's allow_redirects and cookies keys."""
        scn = self.write("s.yaml", SCENARIO)
        with SessionServer() as srv:
            res, e = self.rl_json(["-f", scn, "-u", "2", "-r", "50", "-t", "1s",
                                   "--stop-timeout", "10", "--no-cookies", srv.url()], code=1)
            st = srv.stats()
        n = e["GET /account/profile"]["num_requests"]
        self.assertEqual(e["GET /account/profile"]["num_failures"], n)
        self.assertEqual(st["profile_401"], n)
        self.assertEqual(st["cookie_orders"], {"": n})
        self.assertEqual(st["flash_missing"], n)  # not even within a redirect

        keys = self.write("k.yaml", """
users:
  - name: U
    tasks:
      - steps:
          - {http: GET /r/3, allow_redirects: false, name: stop-at-3xx}
          - {http: GET /r/3}
          - http: GET /account/profile
            cookies: {session: "not-a-token"}
            headers: {x-user: "u{{user_id}}"}
            expect: {status: 401}
""")
        with SessionServer() as srv:
            res, e = self.rl_json(["-f", keys, "-u", "1", "-t", "1s", "--stop-timeout", "10",
                                   srv.url()])
            st = srv.stats()
        n = e["GET stop-at-3xx"]["num_requests"]
        self.assertEqual(e["GET /r/3"]["num_requests"], n)
        self.assertEqual(st["requests"]["GET /r/3"], 2 * n)
        self.assertEqual(st["requests"]["GET /r/0"], n)
        self.assertEqual(st["profile_401"], e["GET /account/profile"]["num_requests"])
        self.assertEqual(st["cookie_orders"], {"session": st["profile_401"]})

        # --no-redirects is for the steps that do not say: one that says
        # allow_redirects, as its own key or in options:, is followed.
        says = self.write("says.yaml", """
users:
  - name: U
    tasks:
      - steps:
          - {http: GET /r/3}
          - {http: GET /r/2, allow_redirects: true}
          - {http: GET /r/1, options: {allow_redirects: "true"}}
""")
        with SessionServer() as srv:
            res, e = self.rl_json(["-f", says, "-u", "1", "-t", "1s", "--stop-timeout", "10",
                                   "--no-redirects", srv.url()])
            st = srv.stats()["requests"]
        n = e["GET /r/3"]["num_requests"]
        self.assertGreater(n, 0)
        self.assertEqual((st["GET /r/3"], st["GET /r/2"], st["GET /r/1"], st["GET /r/0"]),
                         (n, n, 2 * n, 2 * n))

        # A scenario without an http step: the flags are refused, named.
        redis = self.write("redis.yaml", "users:\n  - {name: U, tasks: [{steps: [{redis: PING}]}]}\n")
        for flag in ("--no-cookies", "--no-redirects"):
            res = self.rl(["-f", redis, flag, "-t", "1s", "redis://127.0.0.1:9"])
            self.assertEqual(res.exit_code, 2, res.describe())
            self.assertIn("%s applies to no step" % flag, res.stderr)

    def test_f_http2(self):
        """The HTTP/2 plugin, h2c and TLS, against nginx: a cookie from the
        first request, a redirect chain, with shared connections too."""
        locations = r'''
        location = /h2login {
            add_header Set-Cookie "sid=h2ok; Path=/";
            return 200 "in\n";
        }
        location = /h2need {
            if ($cookie_sid != "h2ok") { return 401; }
            return 200 "ok\n";
        }
        location = /h2r3 { return 302 /h2r2; }
        location = /h2r2 { return 302 /h2r1; }
        location = /h2r1 { return 307 /hello; }
'''
        scn = self.write("h2.yaml", """
users:
  - name: U
    on_start: [{http: GET /h2login}]
    tasks:
      - steps: [{http: GET /h2need}, {http: GET /h2r3}]
""")
        with NginxH2Server(extra_locations=locations) as ng:
            for tls in (False, True):
                args = ["-f", scn, "-u", "4", "-r", "100", "-t", "1s", "--stop-timeout", "10",
                        "--http2", "--insecure", ng.url("", tls=tls)]
                res, e = self.rl_json(args)
                n = e["GET /h2r3"]["num_requests"]
                self.assertGreater(n, 0)
                self.assertEqual(e["GET /h2need"]["num_failures"], 0, res.describe())
                self.assertEqual(e["GET /h2r3"]["num_failures"], 0, res.describe())
                self.assertEqual(e["GET /h2r3"]["avg_content_length"], len("hello world\n"))
                for path, status in (("/h2need", 200), ("/h2r3", 302), ("/h2r2", 302),
                                     ("/h2r1", 307), ("/hello", 200)):
                    self.assertEqual(ng.count(path=path, status=status, tls=tls),
                                     e["GET /h2need"]["num_requests"] if path == "/h2need"
                                     else n, "%s tls=%s" % (path, tls))
                self.assertEqual(list(ng.protocols(tls=tls)), ["HTTP/2.0"])
            # Shared connections: 8 users on 2, each with its own jar.
            ng.clear_logs()
            res, e = self.rl_json(["-u", "8", "-r", "100", "-t", "1s", "--stop-timeout", "10",
                                   "--http2", "--connections", "2", ng.url("/h2r3")])
            n = e["GET /h2r3"]["num_requests"]
            self.assertEqual(ng.count(path="/hello", status=200), n)


if __name__ == "__main__":
    unittest.main()
