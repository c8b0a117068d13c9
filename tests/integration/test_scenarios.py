"""Scenario files (-f) end to end: user classes and their weights and fixed
counts, task ratios, waits, tags, a login-then-use chain whose captured
token the server checks, one user mixing HTTP/1.1 and gRPC, expectations,
the config file and RPCLOAD_* variables, and file:line:col errors.

Servers: nginx (servers.py), examples/scenarios/demo_server.py (Python
stdlib HTTP with tokens) and examples/hello/hello_server (gRPC), all on free
loopback ports.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_scenarios
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer, UdpEchoServer, popen_bounded, stop_process
from hello_server import HelloServer, skip_reason as hello_skip_reason

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(SOURCE_DIR, "examples", "scenarios")
HELLO_PROTO = os.path.join(SOURCE_DIR, "examples", "hello", "hello.proto")


class DemoServer:
    """examples/scenarios/demo_server.py on a kernel-picked port."""

    def __enter__(self):
        self.proc = popen_bounded(["/usr/bin/python3", os.path.join(EXAMPLES, "demo_server.py"),
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
        raise AssertionError("demo_server did not start")

    def stop(self):
        if self.proc is None:
            return self.served
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.proc = None
        m = re.search(r"^served: (.*)$", out, re.M)
        self.served = json.loads(m.group(1)) if m else None
        return self.served

    def __exit__(self, *exc):
        if self.proc is not None:
            self.stop()


class ScenarioCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-scn-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def scenario(self, text, name="s.yaml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_rl(self, args, code=0, timeout_s=90, **kw):
        res = rpcload.run(args, timeout_s=timeout_s, **kw)
        self.assertEqual(res.exit_code, code, res.describe())
        return res

    def reqs(self, res, name, type_="GET"):
        row = res.report().row(type_, name)
        return row.reqs if row else 0


LOCUST_DEAL = """
import json, sys
from locust import User
from locust.dispatch import UsersDispatcher
from locust.runners import WorkerNode
spec, n = json.loads(sys.argv[1]), int(sys.argv[2])
classes = [type(name, (User,), {"weight": w, "fixed_count": f, "abstract": False,
                                "tasks": [lambda s: None], "__module__": __name__})
           for name, w, f in spec]
gen = UsersDispatcher(worker_nodes=[WorkerNode("w")], user_classes=classes)._user_gen()
print(json.dumps([next(gen) for _ in range(n)]))
"""


def locust_deal(spec, n):
    """The classes of the first n users Debian's Locust deals for spec, a list
    of (name, weight, fixed_count), in its own process (importing locust
    patches this one's sockets with gevent)."""
    out = subprocess.run(["/usr/bin/python3", "-c", LOCUST_DEAL, json.dumps(spec), str(n)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class ClassesAndTasks(ScenarioCase):
    def test_classes_dealt_as_locust_deals_them(self):
        # Each user makes one request named after its class, then waits 10
        # minutes: the counts per name are the users per class.
        cases = [
            ([("Web", 3, 0), ("Buyer", 1, 0), ("Admin", 0, 1)], [3, 7]),
            ([("Zed", 1, 2), ("Yan", 0, 3), ("Xen", 1.5, 0), ("Wes", 2, 0)], [4, 11]),
            ([("C", 6, 0), ("A", 2, 0), ("B", 5, 0)], [5]),
        ]
        with NginxServer() as ng:
            for spec, counts in cases:
                classes = "".join(
                    "  - {name: %s, %s, wait: {constant: 600},\n"
                    "     tasks: [{steps: [{http: GET /hello, name: %s}]}]}\n"
                    % (name, "fixed_count: %d" % f if f else "weight: %s" % w, name)
                    for name, w, f in spec)
                path = self.scenario("users:\n" + classes)
                for n in counts:
                    res = self.run_rl(["-f", path, "-u", str(n), "-r", "1000", "-t", "1.5s",
                                       "--only-summary", "http://127.0.0.1:%d" % ng.port])
                    dealt = locust_deal(spec, n)
                    want = {name: dealt.count(name) for name, _, _ in spec}
                    got = {name: self.reqs(res, name) for name, _, _ in spec}
                    self.assertEqual(got, want, "%s at -u %d\n%s" % (spec, n, res.describe()))

    def test_weights_and_fixed_count_exactly(self):
        path = self.scenario("""
users:
  - name: A
    weight: 3
    wait: {constant: 600}
    tasks: [{steps: [{http: GET /hello?c=a, name: A}]}]
  - name: B
    weight: 1
    wait: {constant: 600}
    tasks: [{steps: [{http: GET /hello?c=b, name: B}]}]
  - name: C
    fixed_count: 1
    wait: {constant: 600}
    tasks: [{steps: [{http: GET /hello?c=c, name: C}]}]
""")
        with NginxServer() as ng:
            # Each user runs its one task once, then waits 10 minutes.
            res = self.run_rl(["-f", path, "-u", "9", "-r", "100", "-t", "2s",
                               "http://127.0.0.1:%d" % ng.port])
            res_big = self.run_rl(["-f", path, "-u", "401", "-r", "1000", "-t", "3s",
                                   "--only-summary", "http://127.0.0.1:%d" % ng.port])
        self.assertEqual((self.reqs(res, "A"), self.reqs(res, "B"), self.reqs(res, "C")),
                         (6, 2, 1), res.describe())
        # 400 weighted users at 3:1, and the fixed one.
        self.assertEqual((self.reqs(res_big, "A"), self.reqs(res_big, "B"),
                          self.reqs(res_big, "C")), (300, 100, 1), res_big.describe())

    def test_task_ratio_with_a_seed(self):
        path = self.scenario("""
users:
  - name: U
    tasks:
      - {weight: 1, steps: [{http: GET /hello?t=1, name: one}]}
      - {weight: 3, steps: [{http: GET /hello?t=3, name: three}]}
""")
        with NginxServer() as ng:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "2s", "--seed", "7",
                               "http://127.0.0.1:%d" % ng.port])
        one, three = self.reqs(res, "one"), self.reqs(res, "three")
        total = one + three
        self.assertGreater(total, 1000, res.describe())
        # Binomial with p = 0.25: 5 standard deviations.
        sd = (total * 0.25 * 0.75) ** 0.5
        self.assertLess(abs(one - total * 0.25), 5 * sd + 1, (one, three))

    def test_tags(self):
        path = self.scenario("""
users:
  - name: U
    tasks:
      - {tags: [browse], steps: [{http: GET /hello?b, name: browse}]}
      - {tags: [buy], steps: [{http: GET /hello?y, name: buy}]}
      - {steps: [{http: GET /hello?u, name: untagged}]}
  - name: Admin
    tasks:
      - {tags: [admin], steps: [{http: GET /hello?a, name: admin}]}
""")
        with NginxServer() as ng:
            url = "http://127.0.0.1:%d" % ng.port
            res = self.run_rl(["-f", path, "-u", "4", "-r", "100", "-t", "1s", "--tags",
                               "browse", url])
            ex = self.run_rl(["-f", path, "-u", "4", "-r", "100", "-t", "1s", "--exclude-tags",
                              "browse,admin", url])
        names = {r.name for r in res.report().rows}
        self.assertEqual(names, {"browse"}, res.describe())
        self.assertIn("Admin has no task left", res.stderr)
        names = {r.name for r in ex.report().rows}
        self.assertEqual(names, {"buy", "untagged"}, ex.describe())

    def test_sequential_and_multi_step_tasks(self):
        path = self.scenario("""
users:
  - name: U
    sequential: true
    wait: {constant: 600}
    tasks:
      - {steps: [{http: GET /hello?1, name: first}, {http: GET /hello?2, name: second}]}
      - {steps: [{http: GET /hello?3, name: third}]}
""")
        with NginxServer() as ng:
            res = self.run_rl(["-f", path, "-u", "3", "-r", "100", "-t", "1.5s",
                               "--wait", "constant:0.2", "http://127.0.0.1:%d" % ng.port])
        # --wait overrides the file: tasks alternate, first and second
        # always together, first/third interleaved.
        f, s, t = (self.reqs(res, n) for n in ("first", "second", "third"))
        self.assertEqual(f, s, res.describe())
        self.assertLessEqual(abs(f - t), 3, res.describe())
        self.assertGreater(f, 3, res.describe())

    def test_wait_strategies(self):
        path = self.scenario("""
users:
  - name: Const
    wait: {constant: 0.5}
    tasks: [{steps: [{http: GET /hello?c, name: constant}]}]
  - name: Paced
    wait: {constant_pacing: 0.25}
    tasks: [{steps: [{http: GET /hello?p, name: pacing}]}]
  - name: Thru
    wait: {constant_throughput: 2}
    tasks: [{steps: [{http: GET /hello?t, name: throughput}]}]
""")
        with NginxServer() as ng:
            res = self.run_rl(["-f", path, "-u", "3", "-r", "100", "-t", "3s",
                               "http://127.0.0.1:%d" % ng.port])
        # one user each, over 3 s: a task at 0, then every 0.5 / 0.25 / 0.5 s
        self.assertTrue(5 <= self.reqs(res, "constant") <= 7, res.describe())
        self.assertTrue(11 <= self.reqs(res, "pacing") <= 13, res.describe())
        self.assertTrue(5 <= self.reqs(res, "throughput") <= 7, res.describe())

    def test_list_and_task_ratio(self):
        path = os.path.join(EXAMPLES, "http_browse.yaml")
        lst = self.run_rl(["-f", path, "--list"])
        self.assertIn("Reader (weight 4)", lst.stdout)
        self.assertIn("- index (weight 3): http GET / [tags: browse]", lst.stdout)
        ratio = self.run_rl(["-f", path, "--show-task-ratio"])
        self.assertIn("80.0% Reader", ratio.stdout)
        self.assertIn("75.0% index (60.0% of all)", ratio.stdout)


class FlowsAndChecks(ScenarioCase):
    LOGIN = """
users:
  - name: Shopper
    wait: {constant: 0.1}
    on_start:
      - http: POST /login
        json: {user: "u{{user_id}}", pass: x}
        capture: {token: $.token, cookie: "header:set-cookie"}
    tasks:
      - steps:
          - http: POST /cart
            headers: {authorization: "Bearer {{token}}"}
            json: {item: "{{random_int 1 9}}", qty: 2}
            capture: {cart: $.cart_id}
          - http: "GET /cart/{{cart}}"
            name: /cart/[id]
            headers: {authorization: "Bearer {{token}}"}
            expect: {status: 200, json: {'$.items[0].qty': 2}}
    on_stop:
      - http: POST /logout
        headers: {authorization: "Bearer {{token}}"}
"""

    def test_login_then_use_then_logout(self):
        path = self.scenario(self.LOGIN)
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "3", "-r", "10", "-t", "2s",
                               "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        self.assertEqual(served["unauthorized"], 0, (served, res.describe()))
        self.assertEqual(served["logins"], 3)
        self.assertEqual(sorted(served["users"]), ["u1", "u2", "u3"])
        self.assertEqual(served["logouts"], 3, res.describe())
        carts = self.reqs(res, "/cart", "POST")
        self.assertGreater(carts, 5, res.describe())
        self.assertEqual(self.reqs(res, "/cart/[id]"), served["requests"]["GET /cart/[id]"])
        self.assertEqual(res.report().aggregated.fails, 0, res.describe())

    def test_capture_failure_stops_the_task(self):
        path = self.scenario(self.LOGIN.replace("capture: {cart: $.cart_id}",
                                                "capture: {cart: $.no_such_key}"))
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "1.5s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
            served = ds.stop()
        rep = res.report()
        self.assertEqual(self.reqs(res, "/cart/[id]"), 0, res.describe())
        self.assertEqual(rep.row("POST", "/cart").fails, rep.row("POST", "/cart").reqs)
        self.assertIn("capture cart: $.no_such_key not found", rep.error_text())
        self.assertEqual(served["requests"].get("GET /cart/[id]", 0), 0)

    def test_a_capture_that_finds_nothing_stops_what_follows(self):
        # issue #22: an HTTP capture that found nothing in on_start let the
        # tasks run with an empty variable: the server got "tok-42-".
        path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.05}
    on_start:
      - {http: POST /login, json: {user: "u{{user_id}}"}, capture: {tok: $.no_token}}
    tasks:
      - steps:
          - {http: "GET /blog?id=tok-{{user_id}}-{{tok}}", name: blog}
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "3", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
            served = ds.stop()
        rep = res.report()
        # The request failed with the reason, and the user stopped (Locust:
        # an exception in on_start ends the user).
        self.assertEqual(rep.row("POST", "/login").fails, 3, res.describe())
        self.assertIn("capture tok: $.no_token not found in the response", rep.error_text())
        self.assertEqual(self.reqs(res, "blog"), 0, res.describe())
        self.assertFalse([p for p in served["paths"] if p.startswith("/blog")], served["paths"])
        # A task's capture miss: the rest of that task does not run (the
        # same rule for gRPC: test_a_grpc_capture_miss_stops_the_task).
        path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - steps:
          - {http: POST /login, json: {user: "u{{user_id}}"}, capture: {tok: $.no_token}}
          - {http: "GET /blog?id=tok-{{user_id}}-{{tok}}", name: blog}
""", name="t.yaml")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
            served = ds.stop()
        self.assertGreater(res.report().row("POST", "/login").fails, 4, res.describe())
        self.assertEqual(self.reqs(res, "blog"), 0, res.describe())
        self.assertFalse([p for p in served["paths"] if p.startswith("/blog")])

    def test_on_start_failure_can_be_let_through(self):
        path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.05}
    on_start:
      - {http: GET /missing, name: optional, on_failure: continue}
    tasks:
      - steps: [{http: GET /, name: index}]
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
        self.assertEqual(res.report().row("GET", "optional").fails, 2, res.describe())
        self.assertGreater(self.reqs(res, "index"), 5, res.describe())

    def test_sleep_repeat_library_empty_tasks_and_stop_user(self):
        path = self.scenario("""
tasks:
  browse:
    steps:
      - repeat: 3
        steps:
          - {http: "GET /blog?id={{i}}&u={{user_id}}", name: "/blog?id=[i]"}
      - {sleep: 0.3}
      - {http: GET /, name: after-sleep}
  idle: {steps: []}
users:
  - name: Reader
    fixed_count: 1
    wait: {constant: 600}
    tasks: [browse]
  - name: Quitter
    fixed_count: 1
    wait: {constant: 0.05}
    sequential: true
    tasks:
      - idle
      - idle
      - steps: [{http: GET /, name: once, stop_user: true}, {http: GET /, name: never}]
    on_stop: [{http: POST /restart, name: bye}]
""")
        report = os.path.join(self.tmp, "stop_user.json")
        with DemoServer() as ds:
            lst = self.run_rl(["-f", path, "--list"])
            res = self.run_rl(["-f", path, "-u", "2", "-r", "100", "-t", "2s",
                               "--json-file", report, "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        # The user that stopped itself has left the user count (Locust's
        # user_count), in the history and at the end.
        with open(report) as f:
            rep = json.load(f)
        self.assertEqual([h["user_count"] for h in rep["history"]][-2:], [1, 1], rep["history"])
        self.assertEqual(rep["run"]["user_count"], 1)
        self.assertIn("- browse (weight 1): repeat 3 x (http GET /blog?id={{i}}&u={{user_id}}) "
                      "+2 step(s)", lst.stdout)
        self.assertIn("- idle (weight 1): no steps (only waits)", lst.stdout)
        # Reader (user 1, fixed classes in name order: Quitter, Reader)
        # runs browse once: ids 0, 1, 2, then after the sleep, the index.
        blog = [p for p in served["paths"] if p.startswith("/blog")]
        self.assertEqual(sorted(blog), ["/blog?id=%d&u=2" % i for i in range(3)], served["paths"])
        self.assertEqual(self.reqs(res, "/blog?id=[i]"), 3, res.describe())
        self.assertEqual(self.reqs(res, "after-sleep"), 1, res.describe())
        # Quitter idles twice (empty tasks, the wait after each), then makes
        # its one request and stops (Locust's StopUser) through on_stop.
        self.assertEqual(self.reqs(res, "once"), 1, res.describe())
        self.assertEqual(self.reqs(res, "never"), 0, res.describe())
        self.assertEqual(self.reqs(res, "bye", "POST"), 1, res.describe())

    def test_expectations(self):
        path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.2}
    tasks:
      - steps:
          - {http: GET /missing, name: want404, expect: {status: 404}}
          - {http: GET /hello, name: wantbody, expect: {body_contains: nope}}
          - {http: GET /hello, name: fast, expect: {status: 200, max_ms: 5000}}
""")
        with NginxServer() as ng:
            res = self.run_rl(["-f", path, "-u", "1", "-t", "1s", "http://127.0.0.1:%d" % ng.port],
                              code=1)
        rep = res.report()
        self.assertEqual(rep.row("GET", "want404").fails, 0, res.describe())
        self.assertEqual(rep.row("GET", "wantbody").fails, rep.row("GET", "wantbody").reqs)
        self.assertIn("response does not contain 'nope'", rep.error_text())
        self.assertEqual(rep.row("GET", "fast").fails, 0)

    def test_statuses_messages_templated_expectations_and_numbers(self):
        path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.2}
    on_start:
      - {http: POST /login, json: {user: "u{{user_id}}"}, capture: {token: $.token}}
    tasks:
      - steps:
          - http: POST /echo
            name: numbers
            json: {n: "{{random_int 1 100}}", s: "id-{{user_id}}", tok: "{{token}}",
                   kept: !!str "{{seq}}"}
            expect: {json: {$.types.n: int, $.types.s: str, $.types.kept: str,
                            $.got.tok: "{{token}}", $.got.s: "id-{{user_id}}"}}
          - {http: POST /echo, name: wrong-token, json: {tok: "x{{token}}"},
             expect: {json: {$.got.tok: "{{token}}"}}}
          - {http: GET /missing, name: either, expect: {status: [200, 404]}}
          - {http: GET /missing, name: class, expect: {status: 2xx, message: the page is gone}}
          - {http: GET /, name: contains, expect: {body_contains: index, status: 2xx}}
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "1.5s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
        rep = res.report()
        for name in ("numbers", "either", "contains"):
            row = rep.row("POST" if name == "numbers" else "GET", name)
            self.assertIsNotNone(row, res.describe())
            self.assertGreater(row.reqs, 2, res.describe())
            self.assertEqual(row.fails, 0, "%s\n%s" % (name, res.describe()))
        for type_, name in (("POST", "wrong-token"), ("GET", "class")):
            row = rep.row(type_, name)
            self.assertEqual(row.fails, row.reqs, res.describe())
        self.assertIn("the page is gone", rep.error_text())
        self.assertRegex(rep.error_text(), r"\$\.got\.tok is \"x[0-9a-f]+\", expected \"[0-9a-f]+\"")

    def test_one_user_mixes_http_and_grpc(self):
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with DemoServer() as ds, HelloServer() as hs:
            path = self.scenario("""
users:
  - name: Mixed
    wait: {constant: 0.1}
    on_start:
      - {http: POST /login, json: {user: "m{{user_id}}"}, capture: {token: $.token}}
    tasks:
      - steps:
          - {grpc: locust.hello.HelloService/SayHello, host: "%s", proto: "%s",
             data: {name: "{{token}}"}, capture: {greeting: $.message},
             expect: {body_contains: Hello}}
          - {grpc: SayHello, host: "%s", proto: "%s", name: not-found,
             metadata: {x-status: "5"}, expect: {grpc_status: NOT_FOUND}}
          - {http: GET /blog?id=1, name: blog, headers: {x-greeting: "{{greeting}}"}}
""" % (hs.target, HELLO_PROTO, hs.target, HELLO_PROTO))
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "2s",
                               "--stop-timeout", "5", "http://127.0.0.1:%d" % ds.port])
            hs.stop()
        rep = res.report()
        grpc_row = rep.row("grpc", "/locust.hello.HelloService/SayHello")
        self.assertIsNotNone(grpc_row, res.describe())
        self.assertEqual(grpc_row.fails, 0, res.describe())
        self.assertEqual(rep.row("grpc", "not-found").fails, 0, res.describe())
        self.assertEqual(grpc_row.reqs + rep.row("grpc", "not-found").reqs,
                         hs.counts["served"] - hs.counts["reflection"])
        self.assertGreater(self.reqs(res, "blog"), 3)


    def test_print_responses_per_step(self):
        """-v: the first response of each step, a gRPC one as its message in
        JSON, a failed one with its status and error; 2 s."""
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with DemoServer() as ds, HelloServer() as hs:
            path = self.scenario("""
users:
  - name: Printed
    wait: {constant: 0.05}
    tasks:
      - steps:
          - {http: GET /blog?id=1, name: blog}
          - {grpc: locust.hello.HelloService/SayHello, host: "%s", proto: "%s",
             data: {name: "p{{user_id}}"}, name: hello}
          - {grpc: SayHello, host: "%s", proto: "%s", name: not-found,
             metadata: {x-status: "5"}}
""" % (hs.target, HELLO_PROTO, hs.target, HELLO_PROTO))
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "2s", "-v",
                               "--only-summary", "http://127.0.0.1:%d" % ds.port], code=1)
            hs.stop()
        heads = re.findall(r"^--- response (\d+)/1 of (\S+ \S+) \(user \d+\): (.*)$",
                           res.stderr, re.M)
        self.assertEqual(sorted(h[1] for h in heads),
                         ["GET blog", "grpc hello", "grpc not-found"], res.describe())
        self.assertTrue(all(h[0] == "1" for h in heads), res.describe())
        self.assertRegex(res.stderr, r'(?m)^\{"message":"Hello from Locust, p\d+!"\}$',
                         res.describe())
        self.assertRegex(res.stderr, r"(?m)^--- response 1/1 of grpc not-found .*: status 5, "
                         r"NOT_FOUND", res.describe())
        self.assertGreater(self.reqs(res, "hello", "grpc"), 1, res.describe())


class BoundedChecks(ScenarioCase):
    def test_a_catastrophic_regex_fails_the_request_within_bounds(self):
        # (a+)+$ on 100,000 letters and a '!': a backtracking engine without
        # limits tries every way to split the letters (issue #13: 13.5 GB).
        path = self.scenario("""
users:
  - name: U
    tasks:
      - steps:
          - {http: "GET /text?n=100000", name: matches, expect: {body_matches: '(a+)+$'}}
          - {http: "GET /text?n=100000", name: capture, capture: {x: 'regex:((a+)+)$'}}
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "2s", "--only-summary",
                               "http://127.0.0.1:%d" % ds.port], code=1, timeout_s=60,
                              wrapper=["/usr/bin/time", "-f", "maxrss_kb=%M"])
        rep = res.report()
        row = rep.row("GET", "matches")
        self.assertIsNotNone(row, res.describe())
        # Every request ran its check and failed with the limit's text, and
        # the run ended on time.
        self.assertGreater(row.reqs, 5, res.describe())
        self.assertEqual(row.fails, row.reqs, res.describe())
        self.assertEqual(rep.row("GET", "capture").fails, rep.row("GET", "capture").reqs)
        self.assertIn("body_matches /(a+)+$/ gave up: over 1000000 backtracking steps from "
                      "one position (the match limit)", rep.error_text(), res.describe())
        self.assertIn("capture x: /((a+)+)$/ gave up: over 1000000 backtracking steps",
                      rep.error_text())
        self.assertLess(res.wall_s, 20, res.describe())
        rss = int(re.search(r"maxrss_kb=(\d+)", res.stderr).group(1))
        limit_kb = 1_000_000 if rpcload.sanitized() else 200_000
        self.assertLess(rss, limit_kb, res.describe())


class DataFiles(ScenarioCase):
    def test_one_row_per_user_for_logins(self):
        with open(os.path.join(self.tmp, "users.csv"), "w") as f:
            f.write('email,password\nann@x.io,"se""cret"\nbob@x.io,b\\2\ncat@x.io,c3\n')
        path = self.scenario("""
data: {file: users.csv, order: per_user, cycle: false}
users:
  - name: U
    wait: {constant: 0.1}
    on_start:
      - {http: POST /login, json: {user: "{{data.email}}", pass: "{{data.password}}"},
         capture: {token: $.token}}
    tasks:
      - steps:
          - {http: POST /echo, json: {pass: "{{data.password}}"},
             expect: {json: {$.got.pass: "{{data.password}}"}}}
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "4", "-r", "100", "-t", "1.5s",
                               "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        # Three rows for four users: the fourth stops at its start.
        self.assertEqual(sorted(served["users"]), ["ann@x.io", "bob@x.io", "cat@x.io"])
        self.assertIn("users.csv has 3 rows for 4 users", res.stderr)
        # A quote and a backslash went into JSON strings whole.
        row = res.report().row("POST", "/echo")
        self.assertGreater(row.reqs, 6, res.describe())
        self.assertEqual(row.fails, 0, res.describe())

    def test_sequential_rows_each_once_then_users_stop(self):
        with open(os.path.join(self.tmp, "items.jsonl"), "w") as f:
            for i in range(30):
                f.write(json.dumps({"id": i, "name": "item %d" % i}) + "\n")
        path = self.scenario("""
data: {file: items.jsonl, cycle: false}
users:
  - name: U
    tasks:
      - steps: [{http: "GET /blog?id={{data.id}}", name: item}]
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "3", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        ids = sorted(int(p.split("=")[1]) for p in served["paths"] if p.startswith("/blog"))
        # Every row once, shared by three users on their own threads, then
        # the users found none left and stopped.
        self.assertEqual(ids, list(range(30)), served["paths"])
        self.assertEqual(self.reqs(res, "item"), 30, res.describe())

    def test_random_rows_and_cycling(self):
        with open(os.path.join(self.tmp, "ids.csv"), "w") as f:
            f.write("id\n7\n8\n9\n")
        path = self.scenario("""
users:
  - name: R
    data: {file: ids.csv, order: random}
    wait: {constant: 0.01}
    tasks: [{steps: [{http: "GET /blog?id=r{{data.id}}", name: random}]}]
  - name: S
    data: {file: ids.csv}
    wait: {constant: 0.01}
    tasks: [{steps: [{http: "GET /blog?id=s{{data.id}}", name: cycling}]}]
""")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "2", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        ids = [p.split("=")[1] for p in served["paths"] if p.startswith("/blog")]
        self.assertEqual({i for i in ids if i[0] == "r"}, {"r7", "r8", "r9"}, ids)
        cyc = [i for i in ids if i[0] == "s"]
        self.assertGreater(len(cyc), 10, res.describe())
        self.assertEqual(cyc[:6], ["s7", "s8", "s9", "s7", "s8", "s9"])


class ExampleFiles(ScenarioCase):
    def test_shop_data_example_runs_clean(self):
        path = os.path.join(EXAMPLES, "shop_data.yaml")
        with DemoServer() as ds:
            res = self.run_rl(["-f", path, "-u", "6", "-r", "50", "-t", "3s",
                               "--only-summary", "http://127.0.0.1:%d" % ds.port])
            served = ds.stop()
        rep = res.report()
        self.assertEqual(rep.aggregated.fails, 0, res.describe())
        with open(os.path.join(EXAMPLES, "shoppers.csv")) as f:
            emails = {line.split(",")[0] for line in f.read().splitlines()[1:]}
        # Four shoppers of six users (2:1, dealt as Locust deals), each
        # logged in with a row of the file, and out again at the end.
        self.assertEqual(served["logins"], 4, served)
        self.assertTrue(set(served["users"]) <= emails, served["users"])
        self.assertEqual(served["logouts"], 4, res.describe())
        self.assertEqual(served["unauthorized"], 0)


class CommandLineWithScenario(ScenarioCase):
    """With -f, every request option is applied to the steps it fits or
    refused with a reason (issues #22, #14: -d -D -H -X were dropped)."""

    def test_header_metadata_and_proto_reach_the_steps(self):
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with DemoServer() as ds, HelloServer() as hs:
            path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.1}
    tasks:
      - steps:
          - {grpc: SayHello, host: "%s", data: {name: x}, name: hello,
             expect: {grpc_status: NOT_FOUND}}
          - {http: POST /echo, json: {a: 1}, headers: {x-step: step},
             expect: {json: {$.headers.x-cli: c, $.headers.x-step: step}}}
""" % hs.target)
            res = self.run_rl(["-f", path, "--proto", HELLO_PROTO, "-m", '{"x-status": "5"}',
                               "-H", "x-cli: c", "-H", "x-step: cli", "-u", "1", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port])
        rep = res.report()
        # --proto gave the gRPC step its types, -m its metadata (the hello
        # server answers x-status: 5 with NOT_FOUND), -H the HTTP step its
        # header, where the step's own of the same name wins.
        self.assertGreater(rep.row("grpc", "hello").reqs, 3, res.describe())
        self.assertEqual(rep.row("grpc", "hello").fails, 0, res.describe())
        self.assertEqual(rep.row("POST", "/echo").fails, 0, res.describe())

    def test_options_no_step_takes_are_refused(self):
        path = self.scenario("""
users:
  - name: U
    tasks: [{steps: [{http: GET /}]}]
""")
        cases = [
            (["-X", "POST"], "-X: with -f the method is in each step"),
            (["-d", "{}"], "-d: with -f each step gives its own payload"),
            (["--name", "n"], "--name: with -f each step gives its own (name:)"),
            (["--call", "SayHello"], "--call: with -f each step names its call"),
            (["-D", "m.json"], "-D: with -f each step gives its message (data:)"),
            (["-m", '{"a":"b"}'], "-m applies to no step: no step's protocol takes "
                                  "'metadata' as a key of its own"),
            (["-O", "keepalive=1"], "-O keepalive applies to no step"),
        ]
        for args, want in cases:
            res = self.run_rl(["-f", path] + args + ["http://127.0.0.1:9"], code=2)
            self.assertIn(want, res.stderr, res.describe())

    def test_locusts_host_habit(self):
        res = self.run_rl(["-H", "http://127.0.0.1:8080", "-u", "1", "-t", "1s"], code=2)
        self.assertIn("did you mean --host http://127.0.0.1:8080?", res.stderr)
        path = self.scenario("users:\n  - {name: U, wait: {constant: 0.1}, "
                             "tasks: [{steps: [{http: GET /, name: index}]}]}\n")
        with DemoServer() as ds:
            url = "http://127.0.0.1:%d" % ds.port
            res = self.run_rl(["-f", path, "--host", url, "-u", "1", "-t", "1s"])
            quick = self.run_rl(["--host", url + "/", "-u", "1", "-t", "1s"])
        self.assertGreater(self.reqs(res, "index"), 3, res.describe())
        self.assertGreater(quick.report().aggregated.reqs, 3, quick.describe())

    def test_a_plugins_complaint_names_the_yaml_key(self):
        path = self.scenario("""
users:
  - name: U
    tasks:
      - steps:
          - {grpc: SayHello, host: 127.0.0.1:9, proto: "%s",
             data: {nme: x}}
""" % HELLO_PROTO)
        res = self.run_rl(["-f", path, "-u", "1", "-t", "1s"], code=2)
        self.assertIn("s.yaml:7:20: grpc: data: does not fit locust.hello.HelloRequest: "
                      "field 'nme'", res.stderr, res.describe())
        # The YAML key, not the command-line flag (the file's path may hold
        # "-d" in its random folder name: look for the flag as a word).
        self.assertNotRegex(res.stderr, r"(^|[\s'(])-d\b")

    def test_list_and_ratio_need_no_host(self):
        path = self.scenario("""
users:
  - name: U
    on_start: [{http: POST /login, capture: {t: $.t}}]
    tasks: [{weight: 2, steps: [{http: "GET /a?t={{t}}"}]}, {steps: [{grpc: SayHello}]}]
""")
        lst = self.run_rl(["-f", path, "--list"])
        self.assertIn("- task 1 (weight 2): http GET /a?t={{t}}", lst.stdout)
        ratio = self.run_rl(["-f", path, "--show-task-ratio"])
        self.assertIn("66.7% task 1", ratio.stdout)


class GrpcCaptures(ScenarioCase):
    def test_the_protocol_key_picks_the_plugin(self):
        # issue #22: a grpc: step under a top-level http:// host failed with
        # "http1: option 'call' is not known".
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with HelloServer() as hs:
            path = self.scenario("""
host: http://%s
users:
  - name: U
    wait: {constant: 0.1}
    tasks: [{steps: [{grpc: SayHello, proto: "%s", data: {name: x}}]}]
""" % (hs.target, HELLO_PROTO))
            res = self.run_rl(["-f", path, "-u", "1", "-t", "1s"])
        row = res.report().row("grpc", "/locust.hello.HelloService/SayHello")
        self.assertIsNotNone(row, res.describe())
        self.assertGreater(row.reqs, 3)
        self.assertEqual(row.fails, 0, res.describe())

    def test_a_grpc_capture_miss_stops_the_task(self):
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with DemoServer() as ds, HelloServer() as hs:
            path = self.scenario("""
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - steps:
          - {grpc: SayHello, host: "%s", proto: "%s", data: {name: x},
             capture: {x: $.no_such_field}}
          - {http: "GET /blog?id=tok-{{x}}", name: blog}
""" % (hs.target, HELLO_PROTO))
            res = self.run_rl(["-f", path, "-u", "2", "-r", "100", "-t", "1s",
                               "http://127.0.0.1:%d" % ds.port], code=1)
            served = ds.stop()
        rep = res.report()
        row = rep.row("grpc", "/locust.hello.HelloService/SayHello")
        self.assertIsNotNone(row, res.describe())
        self.assertEqual(row.fails, row.reqs, res.describe())
        self.assertIn("capture x: $.no_such_field not found", rep.error_text())
        self.assertEqual(self.reqs(res, "blog"), 0, res.describe())
        self.assertFalse([p for p in served["paths"] if p.startswith("/blog")])


class PluginsAndSeeds(ScenarioCase):
    def test_one_user_mixes_http_and_a_transport_plugin(self):
        with NginxServer() as ng, UdpEchoServer() as udp:
            path = self.scenario('''
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - steps:
          - {http: GET /hello, name: web}
          - {udp: "", host: "%s", body: "ping {{user_id}} {{seq}}", name: datagram}
''' % udp.url()[len("udp://"):])
            res = self.run_rl(["-f", path, "-u", "2", "-r", "10", "-t", "1.5s",
                               "--stop-timeout", "5", "http://127.0.0.1:%d" % ng.port])
            datagrams = udp.count()
        rep = res.report()
        self.assertGreater(self.reqs(res, "web"), 5, res.describe())
        self.assertEqual(self.reqs(res, "web"), rep.row("udp", "datagram").reqs, res.describe())
        self.assertEqual(rep.row("udp", "datagram").reqs, datagrams)

    def test_seed_repeats_task_choices(self):
        path = self.scenario('''
users:
  - name: U
    wait: {constant: 600}
    tasks:
      - {steps: [{http: GET /hello?a, name: a}]}
      - {steps: [{http: GET /hello?b, name: b}]}
''')
        with NginxServer() as ng:
            url = "http://127.0.0.1:%d" % ng.port
            runs = [self.run_rl(["-f", path, "-u", "40", "-r", "1000", "-t", "1s", "--seed", s,
                                 url]) for s in ("1", "1", "2")]
        counts = [(self.reqs(r, "a"), self.reqs(r, "b")) for r in runs]
        self.assertEqual(sum(counts[0]), 40)
        self.assertEqual(counts[0], counts[1], counts)
        # Another seed draws other choices (40 coin flips: the same split
        # by chance is possible but unlikely; the pair differs per user).
        self.assertEqual(sum(counts[2]), 40)


class ConfigAndErrors(ScenarioCase):
    def test_config_file_and_environment(self):
        path = self.scenario("""
users: [{name: U, wait: {constant: 600}, tasks: [{steps: [{http: GET /hello}]}]}]
""")
        with open(os.path.join(self.tmp, "rpcload.conf"), "w") as f:
            f.write("# defaults for this folder\nusers = 5\nspawn-rate = 100\nrun-time = 1s\n")
        with NginxServer() as ng:
            url = "http://127.0.0.1:%d" % ng.port
            # rpcload reads ./rpcload.conf: run it from the scenario's folder.
            old = os.getcwd()
            os.chdir(self.tmp)
            try:
                res = rpcload.run(["-f", path, url], timeout_s=60)
                env = rpcload.run(["-f", path, url], timeout_s=60, env={"RPCLOAD_USERS": "3"})
                cli = rpcload.run(["-f", path, "-u", "2", url], timeout_s=60,
                                  env={"RPCLOAD_USERS": "3"})
            finally:
                os.chdir(old)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertEqual(self.reqs(res, "/hello"), 5, res.describe())
        self.assertEqual(self.reqs(env, "/hello"), 3, env.describe())
        self.assertEqual(self.reqs(cli, "/hello"), 2, cli.describe())

    def test_errors_name_file_line_and_column(self):
        cases = [
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /}]}]\n    colour: red\n",
             r"s\.yaml:4:5: .*colour"),
            ("users:\n  - name: U\n    tasks: [{steps: [{htp: GET /}]}]\n",
             r"s\.yaml:3:\d+: .*htp"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /, headers: {a: '{{tok}}'}}]}]\n",
             r"s\.yaml:3:\d+: .*tok"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: {x: '$.[['}}]}]\n",
             r"s\.yaml:3:\d+: .*(path|JSON)"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /}]}\n",
             r"s\.yaml:\d+:\d+: "),
            ("users:\n  - name: U\n    weight: many\n    tasks: [{steps: [{http: GET /}]}]\n",
             r"s\.yaml:3:13: .*number"),
            # What only the step's plugin can tell (ABI 1.3): its own keys,
            # how its value reads, its status names.
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /, headrs: {a: b}}]}]\n",
             r"s\.yaml:3:36: 'headrs' is not a key of http steps \(did you mean "
             r"'headers'\?\); their own keys: cookies, allow_redirects"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /, grpc: a/b}]}]\n",
             r"s\.yaml:3:36: 'grpc' is not a key of http steps"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: }]}]\n",
             r"s\.yaml:3:29: 'http' needs a method and path, e.g. 'GET /path'"),
            ("users:\n  - name: U\n    tasks: [{steps: [{htp: GET /}]}]\n",
             r"unknown protocol 'htp' \(known: (?=.*\bhttps?, )(?=.*\bgrpc, grpcs\b)"
             r"(?!.*\bhttp, https, .*\bhttp, https\b)"),
            ("users:\n  - name: U\n    tasks: [{steps: [{grpc: SayHello, host: '127.0.0.1:1', "
             "proto: [a.proto, b.proto]}]}]\n",
             r"s\.yaml:3:67: 'proto' takes a file name: the \.proto file"),
            ("users:\n  - name: U\n    tasks: [{steps: [{grpc: SayHello, host: '127.0.0.1:1', "
             "proto: '%s', protoo: x}]}]\n" % HELLO_PROTO,
             r"'protoo' is not a key of grpc steps \(did you mean 'proto'\?\); their own keys: "
             r"proto, protoset, import_path, metadata"),
            ("users:\n  - name: U\n    tasks: [{steps: [{grpc: SayHello, host: '127.0.0.1:1', "
             "proto: '%s', expect: {grpc_status: NOPE}}]}]\n" % HELLO_PROTO,
             r"'NOPE' is not a grpc status \(OK, CANCELLED, .*UNAUTHENTICATED, or 0\.\.16\)"),
            ("users:\n  - name: U\n    tasks: [{steps: [{grpc: SayHello, host: '127.0.0.1:1', "
             "proto: '%s', expect: {grpc_status: 17}}]}]\n" % HELLO_PROTO,
             r"'17' is not a grpc status"),
            ("users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: {grpc_status: OK}}]}]\n",
             r"s\.yaml:3:\d+: http steps have no named statuses: expect their status with "
             r"'status:'"),
        ]
        for text, pattern in cases:
            path = self.scenario(text)
            res = rpcload.run(["-f", path, "-t", "1s", "http://127.0.0.1:1"], timeout_s=30)
            self.assertEqual(res.exit_code, 2, res.describe())
            self.assertRegex(res.stderr, pattern, text)


class Examples(ScenarioCase):
    """The example files run as they are (their hosts pointed at our
    servers)."""

    def test_examples_run(self):
        why = hello_skip_reason()
        if why:
            self.skipTest(why)
        with DemoServer() as ds, HelloServer() as hs:
            for name in ("http_browse.yaml", "mixed_login.yaml", "grpc_hello.yaml"):
                with open(os.path.join(EXAMPLES, name)) as f:
                    text = f.read()
                text = text.replace("127.0.0.1:8080", "127.0.0.1:%d" % ds.port)
                text = text.replace("127.0.0.1:50051", hs.target)
                text = text.replace("../hello/hello.proto", HELLO_PROTO)
                path = self.scenario(text, name)
                res = rpcload.run(["-f", path, "-u", "4", "-r", "20", "-t", "2s"], timeout_s=60)
                self.assertIn(res.exit_code, (0, 1), res.describe())
                self.assertGreater(res.report().aggregated.reqs, 0, res.describe())
                # nothing that a working server should fail
                self.assertNotRegex(res.report().error_text(), r"(?i)refused|401|unknown",
                                    res.describe())


if __name__ == "__main__":
    unittest.main()
