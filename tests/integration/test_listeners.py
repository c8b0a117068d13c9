"""Listener plugins (--listener, docs/listeners.md) against real servers.

- The recorder (tests/listeners/recorder.c) writes every event it hears to
  a file: in a plain run, a scenario run (-f), a run stopped by SIGINT and
  a steered one (--web --autostart --autoquit),
  the events come in the documented order with the documented arguments,
  and its request events are exactly what the JSON stats count.
- The SQLite sink (examples/listeners/sqlite_sink) writes one row per
  request: read back with Python's sqlite3 they equal the JSON stats per
  name and nginx's log.
- slow_fail (examples/listeners/slow_fail) against a server that stalls
  every third request fails exactly those, with its text in the failures
  CSV and the JSON.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins \
    RPCLOAD_TEST_LISTENER_DIR=../../build/tests/listeners \
    RPCLOAD_LISTENER_DIR=../../build/listeners \
    /usr/bin/python3 -m unittest -v test_listeners
"""

import csv
import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer
from stall_server import StallServer

BUILD = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(rpcload.REPO_ROOT, "build")
TEST_LISTENERS = os.environ.get("RPCLOAD_TEST_LISTENER_DIR") or os.path.join(
    BUILD, "tests", "listeners")
LISTENERS = os.environ.get("RPCLOAD_LISTENER_DIR") or os.path.join(BUILD, "listeners")
RECORDER = os.path.join(TEST_LISTENERS, "recorder_good.so")
RESPONSES = os.path.join(TEST_LISTENERS, "responses.so")

SCENARIO = """\
host: {host}
users:
  - name: Shopper
    wait: {{constant: 0.05}}
    on_start:
      - http: GET /hello
        name: login
    tasks:
      - steps:
          - http: GET /hello
            name: browse
          - http: GET /hello
            name: checkout
          - http: GET /error
            name: pay
            on_failure: stop_task
"""


def read_events(path):
    """The recorder's lines as lists of words (a request's error may hold
    blanks: it is the rest of the line)."""
    events = []
    with open(path) as f:
        for line in f:
            words = line.rstrip("\n").split(" ")
            if words[0] == "request":
                words = words[:8] + [" ".join(words[8:])]
            elif words[0] == "user_error":
                words = words[:5] + [" ".join(words[5:])]
            events.append(words)
    return events


class ListenerTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-listeners-")
        self.rec = os.path.join(self.tmp, "events.txt")
        self.json = os.path.join(self.tmp, "run.json")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stats(self):
        with open(self.json) as f:
            js = json.load(f)
        return js, {e["name"]: e for e in js["stats"]}

    def check_order(self, ev, users):
        """The documented order: init first; test_start before any request
        and the message it sends; every request of a thread between its
        thread_new and thread_del; every thread_del before test_stop;
        test_stop, quitting, fini last, once each."""
        kinds = [e[0] for e in ev]
        self.assertEqual(kinds[0], "init", kinds[:5])
        self.assertEqual(kinds[-3:], ["test_stop", "quitting", "fini"], kinds[-6:])
        for once in ("init", "test_start", "test_stop", "quitting", "fini"):
            self.assertEqual(kinds.count(once), 1, once)
        start = kinds.index("test_start")
        # The message test_start sends comes after it (worker threads'
        # thread_new may come between: they run on their own threads).
        self.assertIn(["message", "ping", "hello"], ev[start + 1:])
        self.assertNotIn(["message", "ping", "hello"], ev[:start])
        self.assertIn(["spawning_complete", str(users)], ev[start:])
        first_request = kinds.index("request")
        self.assertLess(start, first_request)
        alive = set()
        counted = {}
        for e in ev:
            if e[0] == "thread_new":
                alive.add(e[1])
                counted[e[1]] = 0
            elif e[0] == "request":
                self.assertIn(e[1], alive, "a request outside its thread's life")
                counted[e[1]] += 1
            elif e[0] == "thread_del":
                alive.discard(e[1])
                self.assertEqual(int(e[2]), counted[e[1]])
        self.assertFalse(alive, "a thread without thread_del")
        last_del = max(i for i, k in enumerate(kinds) if k == "thread_del")
        self.assertLess(last_del, kinds.index("test_stop"))
        return [e for e in ev if e[0] == "request"]

    def check_reports(self, ev, total):
        """The per-second reports add up to the run's requests."""
        reports = [e for e in ev if e[0] == "report"]
        self.assertTrue(reports)
        self.assertEqual(sum(int(e[2]) for e in reports), total)
        stop = [e[0] for e in ev].index("test_stop")
        self.assertTrue(all([e[0] for e in ev].index("report") < stop for e in reports))

    def test_plain_run(self):
        with NginxServer() as ng:
            res = rpcload.run(["-u", "2", "-r", "20", "-t", "2s", "--threads", "2",
                               "--stop-timeout", "5",
                               "--listener", RECORDER,
                               "--listener-opt", "file=" + self.rec,
                               "--listener-opt", "note=plain",
                               "--json-file", self.json, ng.url("/hello")],
                              timeout_s=60)
            served = ng.count(path="/hello")
        self.assertEqual(res.exit_code, 0, res.describe())
        ev = read_events(self.rec)
        # Options reach init in order, one thread context per worker.
        self.assertEqual(ev[0], ["init", "file=%s,note=plain" % self.rec])
        self.assertEqual(sorted(e[1] for e in ev if e[0] == "thread_new"), ["0", "1"])
        reqs = self.check_order(ev, 2)
        js, by_name = self.stats()
        self.assertEqual(len(reqs), by_name["/hello"]["num_requests"])
        self.assertEqual(len(reqs), served)
        for r in reqs:
            _, worker, typ, name, rt_ns, length, user, cls, error = r
            self.assertEqual((typ, name, cls, error), ("GET", "/hello", "User", "-"))
            self.assertGreater(int(rt_ns), 0)
            self.assertEqual(int(length), len("hello world\n"))
            self.assertIn(user, ("1", "2"))
            # Users are dealt round-robin: user i on thread (i - 1) mod 2.
            self.assertEqual(int(worker), (int(user) - 1) % 2)
        self.check_reports(ev, len(reqs))

    def test_request_event_carries_the_response_when_asked(self):
        """Listener ABI 1.1: a listener with wants_response gets each
        request's status, body and headers (the responses test listener
        writes them down); the others' events stay as they were."""
        out = os.path.join(self.tmp, "responses.txt")
        with NginxServer() as ng:
            res = rpcload.run(["-u", "2", "-r", "20", "-t", "1s", "--stop-timeout", "5",
                               "--listener", RESPONSES, "--listener-opt", "file=" + out,
                               "--json-file", self.json, ng.url("/hello"),
                               ], timeout_s=60)
            served = ng.count(path="/hello")
            res404 = rpcload.run(["-u", "1", "-n", "5", "--listener", RESPONSES,
                                  "--listener-opt", "file=" + out + ".404",
                                  ng.url("/no-such-page")], timeout_s=60)
        self.assertEqual(res.exit_code, 0, res.describe())
        lines = open(out).read().splitlines()
        self.assertEqual(len(lines), served)
        self.assertGreater(served, 10)
        for line in lines:
            self.assertEqual(line, "response 200 12 text/plain hello_world_")
        lines = open(out + ".404").read().splitlines()
        self.assertEqual(len(lines), 5, res404.describe())
        for line in lines:
            self.assertRegex(line, r"^response 404 \d+ text/html ")

    def test_scenario_run(self):
        """A scenario's classes and names reach the request event; the
        listener fails `checkout` and the stats count it so; a failed step
        that stops its task is a user_error."""
        with NginxServer() as ng:
            scn = os.path.join(self.tmp, "shop.yaml")
            with open(scn, "w") as f:
                f.write(SCENARIO.format(host=ng.url("")))
            res = rpcload.run(["-f", scn, "-u", "2", "-r", "20", "-t", "2s",
                               "--listener", RECORDER,
                               "--listener-opt", "file=" + self.rec,
                               "--listener-opt", "fail=checkout",
                               "--json-file", self.json], timeout_s=60)
        self.assertEqual(res.exit_code, 1, res.describe())  # requests failed
        ev = read_events(self.rec)
        reqs = self.check_order(ev, 2)
        js, by_name = self.stats()
        for name in ("login", "browse", "checkout", "pay"):
            seen = [r for r in reqs if r[3] == name]
            self.assertEqual(len(seen), by_name[name]["num_requests"], name)
            self.assertTrue(all(r[7] == "Shopper" for r in seen))
        # The recorder saw checkout succeed, then failed it: the stats say so.
        self.assertTrue(all(r[8] == "-" for r in reqs if r[3] == "checkout"))
        self.assertEqual(by_name["checkout"]["num_failures"],
                         by_name["checkout"]["num_requests"])
        self.assertEqual(by_name["browse"]["num_failures"], 0)
        errors = {(e["name"], e["error"]): e["occurrences"] for e in js["errors"]}
        self.assertEqual(errors[("checkout", "recorder failed checkout")],
                         by_name["checkout"]["num_requests"])
        # pay fails (HTTP 500) and stops its task: one user_error each.
        pay = [r for r in reqs if r[3] == "pay"]
        self.assertTrue(pay and all(r[8] != "-" for r in pay))
        uerr = [e for e in ev if e[0] == "user_error"]
        self.assertEqual(len(uerr), len(pay))
        self.assertTrue(all(e[2:5] == ["Shopper", "GET", "pay"] for e in uerr))
        self.assertLess(max(i for i, e in enumerate(ev) if e[0] == "user_error"),
                        [e[0] for e in ev].index("test_stop"))
        self.check_reports(ev, sum(e["num_requests"] for e in js["stats"]))

    def test_sigint(self):
        """Ctrl-C: the test stops, then quitting and fini, all in order."""
        with NginxServer() as ng:
            started = rpcload.start(["-u", "3", "-r", "30", "--listener", RECORDER,
                                     "--listener-opt", "file=" + self.rec,
                                     "--json-file", self.json, ng.url("/hello")])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.2)
                if os.path.exists(self.rec):
                    with open(self.rec) as f:
                        if "spawning_complete" in f.read():
                            break
            time.sleep(0.5)
            started[0].send_signal(signal.SIGINT)
            res = rpcload.finish(started, timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        ev = read_events(self.rec)
        reqs = self.check_order(ev, 3)
        js, by_name = self.stats()
        self.assertEqual(len(reqs), by_name["/hello"]["num_requests"])

    def test_web_run(self):
        """A steered run (--web): a test_start/test_stop pair per test, the
        worker threads outliving it (thread_del after test_stop), then
        quitting and fini."""
        with NginxServer() as ng:
            res = rpcload.run(["--web", "--web-port", "0", "--autostart", "--autoquit", "0.5",
                               "-u", "2", "-r", "20", "-t", "2s", "--stop-timeout", "5",
                               "--listener", RECORDER, "--listener-opt", "file=" + self.rec,
                               "--json-file", self.json, ng.url("/hello")], timeout_s=60)
        self.assertEqual(res.exit_code, 0, res.describe())
        ev = read_events(self.rec)
        kinds = [e[0] for e in ev if e[0] not in ("request", "report", "thread_new", "message")]
        self.assertEqual(kinds, ["init", "test_start", "spawning_complete", "test_stop",
                                 "thread_del", "thread_del", "quitting", "fini"])
        allk = [e[0] for e in ev]
        reqs = [i for i, k in enumerate(allk) if k == "request"]
        self.assertTrue(allk.index("test_start") < reqs[0] and reqs[-1] < allk.index("test_stop"))
        js, by_name = self.stats()
        self.assertEqual(len(reqs), by_name["/hello"]["num_requests"])

    def test_sqlite_sink(self):
        db = os.path.join(self.tmp, "run.db")
        with NginxServer() as ng:
            scn = os.path.join(self.tmp, "shop.yaml")
            with open(scn, "w") as f:
                f.write(SCENARIO.format(host=ng.url("")))
            # --stop-timeout: no request is cut at the end, so nginx's log
            # and the stats hold the same requests.
            res = rpcload.run(["-f", scn, "-u", "4", "-r", "40", "-t", "3s",
                               "--stop-timeout", "5",
                               "--listener", os.path.join(LISTENERS, "sqlite_sink.so"),
                               "--listener-opt", "file=" + db,
                               "--json-file", self.json], timeout_s=60)
            served = ng.count()
        self.assertEqual(res.exit_code, 1, res.describe())  # pay fails
        js, by_name = self.stats()
        with sqlite3.connect(db) as con:
            rows = con.execute(
                "SELECT name, count(*), count(error), sum(response_length),"
                " min(user_id), max(user_id), count(DISTINCT user_class)"
                " FROM requests GROUP BY name").fetchall()
            total = con.execute("SELECT count(*) FROM requests").fetchone()[0]
            t0, t1 = con.execute("SELECT min(time), max(time) FROM requests").fetchone()
        got = {r[0]: r[1:] for r in rows}
        self.assertEqual(set(got), {"login", "browse", "checkout", "pay"})
        for name, (n, fails, nbytes, umin, umax, classes) in got.items():
            self.assertEqual(n, by_name[name]["num_requests"], name)
            self.assertEqual(fails, by_name[name]["num_failures"], name)
            self.assertEqual((umin >= 1, umax <= 4, classes), (True, True, 1))
        self.assertEqual(js["run"]["cut_requests"], 0)
        self.assertEqual(total, served)  # every request nginx logged
        self.assertLess(abs(t0 - time.time()), 60)
        self.assertLessEqual(t1 - t0, 10)

    def test_slow_fail(self):
        """Every third request stalls 400 ms: those, and only those, fail
        with slow_fail's text (max_ms=200)."""
        prefix = os.path.join(self.tmp, "run")
        with StallServer(delay=lambda n: 0.4 if n % 3 == 0 else 0.0) as srv:
            res = rpcload.run(["-u", "1", "-n", "9", "--listener",
                               os.path.join(LISTENERS, "slow_fail.so"),
                               "--listener-opt", "max_ms=200",
                               "--csv", prefix, "--json-file", self.json, srv.url("/r")],
                              timeout_s=60)
            timings = srv.timings()
        self.assertEqual(res.exit_code, 1, res.describe())
        slow = sum(1 for arrived, answered in timings if answered - arrived > 0.3)
        self.assertEqual(len(timings), 9)
        self.assertEqual(slow, 3)
        js, by_name = self.stats()
        self.assertEqual(by_name["/r"]["num_requests"], 9)
        self.assertEqual(by_name["/r"]["num_failures"], slow)
        self.assertEqual([(e["error"], e["occurrences"]) for e in js["errors"]],
                         [("slower than max_ms=200 ms", slow)])
        with open(prefix + "_failures.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([(r["Error"], r["Occurrences"]) for r in rows],
                         [("slower than max_ms=200 ms", str(slow))])

    def test_refusals_exit_2(self):
        """A broken listener stops rpcload before any load, exit status 2."""
        cases = [
            ("recorder_wrong_major.so", [], "this rpcload speaks ABI"),
            ("recorder_short.so", [], "needs at least"),
            ("recorder_no_entry.so", [], "has no symbol rl_listener_entry"),
            ("recorder_good.so", [], "option file=PATH is required"),
        ]
        for so, opts, words in cases:
            path = os.path.join(TEST_LISTENERS, so)
            res = rpcload.run(["-u", "1", "-t", "1s", "--allow-unreachable",
                               "--listener", path] + opts + ["http://127.0.0.1:1/"],
                              timeout_s=30)
            self.assertEqual(res.exit_code, 2, res.describe())
            self.assertIn(words, res.stderr, so)
            self.assertIn(path, res.stderr, so)
        res = rpcload.run(["--listener-opt", "a=b", "--listener", RECORDER,
                           "http://127.0.0.1:1/"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("after the --listener", res.stderr)


if __name__ == "__main__":
    unittest.main()
