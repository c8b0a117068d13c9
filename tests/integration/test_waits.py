"""Locust's waits side by side with Debian's Locust, on a server that stalls
on demand (issue #22): the same workload, one user, the start time of every
task (when the server saw it) and every reported response time within
10 ms of Locust's. And wrk2's schedule (--wait schedule:S), and the custom
waits (exponential, sequence), rpcload's own.

How "within 10 ms" is measured, so that what is compared is the client:
- Each task's start is compared from the event that decides it, in either
  run: a paced start (the task before took less than the period) from the
  start before it; a start at once after a task that overran, and the
  first wait (Locust 2.12 waits the whole period after a user's first
  task), from the end of the task before it as the client saw it: for
  Locust its own clock at the end of the task (the locustfile notes it;
  Locust's Python takes 1 to 15 ms there to read an answer), for rpcload
  the server's answer (rpcload reads one in well under 1 ms). The
  server's own time to answer (a sleep in Python threads) varies by tens
  of ms between two runs on a loaded machine; that is the server's.
- A response time is compared as what it adds to the server's own time
  for that request: rpcload's may be below Locust's (Locust's Python spends
  3 to 12 ms on a fast answer), never above it by 10 ms.
Both clients warm their connection in on_start (a GET /warm the server does
not count), as Locust's first request also pays for its imports.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import rpcload
from servers import popen_bounded
from stall_server import StallServer

PYTHON = "/usr/bin/python3"
TOLERANCE_S = 0.010

LOCUSTFILE = """
import json
import time
import locust.runners
# Debian's python3-locust announces an empty version (docs: LOCUST.md).
locust.runners.__version__ = "2.12.1"
from locust import HttpUser, task, events
from locust import constant, between, constant_pacing, constant_throughput

OUT = %(out)r
ENDS = %(ends)r

@events.request.add_listener
def _log(request_type, name, response_time, exception, **kw):
    if name != "/r":
        return
    with open(OUT, "a") as f:
        f.write(json.dumps({"rt_ms": response_time, "ok": exception is None}) + "\\n")

class U(HttpUser):
    wait_time = %(wait)s

    def on_start(self):
        self.client.get("/warm")

    @task
    def t(self):
        self.client.get("/r")
        end = time.monotonic()  # where Locust's wait_time counts from
        with open(ENDS, "a") as f:
            f.write("%%r\\n" %% end)
"""


def have_locust():
    return subprocess.run([PYTHON, "-c", "import locust"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


SCENARIO = """
users:
  - name: U
    wait: %(wait)s
    on_start: [{http: GET /warm}]
    tasks: [{steps: [{http: GET /r}]}]
"""


def relative(arrivals):
    return [t - arrivals[0] for t in arrivals]


def steps(arrivals):
    """Each start after the first, counted from the start before it."""
    return [b - a for a, b in zip(arrivals, arrivals[1:])]


def histogram_values_ms(entry):
    """Every response time an rpcload JSON entry holds, in ms (3 significant
    digits: each bucket's upper bound)."""
    out = []
    for upper_ns, count in entry["histogram_ns"]:
        out += [upper_ns / 1e6] * count
    return out


def task_starts(timings, at_once):
    """Each task's start after the first, from the event that decides it
    (see above): at_once(k) says task k+1 (0-based k) starts from the
    answer to task k, else from task k's start."""
    return [timings[k + 1][0] - (timings[k][1] if at_once(k) else timings[k][0])
            for k in range(len(timings) - 1)]


def excess_ms(times_ms, timings):
    """What each reported response time adds to the server's own time,
    slowest first on both sides (one user's requests, in any order)."""
    server = sorted(((b - a) * 1000 for a, b in timings), reverse=True)
    return [t - s for t, s in zip(sorted(times_ms, reverse=True), server)]


class LocustWaitsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl_waits_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_locust(self, wait_py, url_base, run_time="8s"):
        """Locust with one user and `wait_py` as its wait_time. Returns the
        response times it reported, in ms, in order, and when each task
        ended (monotonic s)."""
        out = os.path.join(self.tmp, "locust_requests.jsonl")
        ends = os.path.join(self.tmp, "locust_task_ends")
        for path in (out, ends):
            if os.path.exists(path):
                os.unlink(path)  # a run before this one's
        lf = os.path.join(self.tmp, "locustfile.py")
        with open(lf, "w") as f:
            f.write(LOCUSTFILE % {"out": out, "ends": ends, "wait": wait_py})
        proc = popen_bounded([PYTHON, "-m", "locust", "-f", lf, "--headless", "-u", "1",
                              "-r", "1", "-t", run_time, "--host", url_base,
                              "--only-summary"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self.fail("locust did not end")
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace")[-3000:])
        with open(out) as f:
            rows = [json.loads(l) for l in f if l.strip()]
        self.assertTrue(all(r["ok"] for r in rows), rows)
        with open(ends) as f:
            task_ends = [float(l) for l in f if l.strip()]
        return [r["rt_ms"] for r in rows], task_ends

    def run_rpcload(self, wait, url_base, run_time="8s"):
        """rpcload with one user of the same class as Locust's (`wait` as the
        scenario writes it). Returns its response times (ms) and the run's
        result."""
        scn = os.path.join(self.tmp, "scenario.yaml")
        with open(scn, "w") as f:
            f.write(SCENARIO % {"wait": wait})
        res = rpcload.run(["-f", scn, "-u", "1", "-r", "1", "-t", run_time,
                           "--json", "--only-summary", url_base], timeout_s=60)
        self.assertEqual(res.exit_code, 0, res.describe())
        rep = json.loads(res.stdout)
        entry = [e for e in rep["stats"] if e["name"] == "/r"][0]
        return histogram_values_ms(entry), res

    def compare_once(self, delay, period_s, locust_wait, rpcload_wait, n_starts):
        """Runs the same workload through both. Returns rpcload's timings,
        its times, a description, and what differs by TOLERANCE_S or more
        (see above) in the first n_starts tasks."""
        with StallServer(delay=delay) as srv:
            lrt, lends = self.run_locust(locust_wait, "http://127.0.0.1:%d" % srv.port)
            ltim = srv.timings()
        with StallServer(delay=delay) as srv:
            rrt, res = self.run_rpcload(rpcload_wait, "http://127.0.0.1:%d" % srv.port)
            rtim = srv.timings()
        t0l, t0r = ltim[0][0], rtim[0][0]
        info = ("locust starts %s\nrpcload starts %s\nlocust times %s\nrpcload times %s\n"
                "server's times (locust run) %s\nserver's times (rpcload run) %s\n%s"
                % (["%.4f" % (a - t0l) for a, _ in ltim], ["%.4f" % (a - t0r) for a, _ in rtim],
                   ["%.1f" % t for t in lrt], ["%.1f" % t for t in rrt],
                   ["%.1f" % ((b - a) * 1000) for a, b in ltim],
                   ["%.1f" % ((b - a) * 1000) for a, b in rtim], res.describe()))
        print("\n" + info.split("\ncommand:")[0], file=sys.stderr)  # the figures
        self.assertGreaterEqual(len(ltim), n_starts, info)
        self.assertGreaterEqual(len(rtim), n_starts, info)
        # Task k+1 (0-based k) starts at once when task k overran, and the
        # first wait counts from the first task's end.
        def at_once(k):
            return k == 0 or delay(k + 1) >= period_s
        apart = []
        # Locust's tasks ended when its own clock says (see above).
        lst = task_starts([(a, e) for (a, _), e in zip(ltim[:n_starts], lends)], at_once)
        rst = task_starts(rtim[:n_starts], at_once)
        self.assertEqual(len(lst), len(rst), info)
        print("task starts apart (ms): %s" % ["%.1f" % ((b - a) * 1000)
                                              for a, b in zip(lst, rst)], file=sys.stderr)
        for k, (a, b) in enumerate(zip(lst, rst)):
            if abs(a - b) >= TOLERANCE_S:
                apart.append("task %d starts %.1f ms apart" % (k + 2, (b - a) * 1000))
        lex, rex = excess_ms(lrt, ltim), excess_ms(rrt, rtim)
        for k in range(min(len(lex), len(rex))):
            if rex[k] - lex[k] >= TOLERANCE_S * 1000:
                apart.append("response time %d adds %.1f ms to the server's, Locust's %.1f"
                             % (k + 1, rex[k], lex[k]))
        return rtim, rrt, info, apart

    def compare(self, *args, **kw):
        """compare_once, again (3 runs at most) while the figures are
        apart: Locust's Python, on a machine other work loads, loses 10 to
        20 ms on its own now and then (the test process and both clients
        run at a higher priority, where allowed, for that reason).
        Behaviour that differs from Locust's (a catch-up of missed tasks:
        a second apart) fails every run."""
        for attempt in range(3):
            timings, times, info, apart = self.compare_once(*args, **kw)
            if not apart:
                return timings, times, info
            print("attempt %d: %s" % (attempt + 1, "; ".join(apart)), file=sys.stderr)
        self.fail("; ".join(apart) + "\n" + info)

    @classmethod
    def setUpClass(cls):
        try:
            os.nice(-10)  # inherited by Locust and rpcload
        except OSError:
            pass

    @unittest.skipUnless(have_locust(), "Debian's python3-locust is not installed")
    def test_constant_pacing_after_a_stall(self):
        # constant_pacing(1); the third request takes 3 s. Locust starts
        # the next task at once and the one after a second later, and
        # reports about 1 ms for the fast ones (issue #22: rpcload sent
        # the missed tasks back to back and reported 2049/1093/137 ms).
        timings, times, info = self.compare(lambda n: 3.0 if n == 3 else 0.0, 1.0,
                                            "constant_pacing(1)", "{constant_pacing: 1}",
                                            n_starts=6)
        starts = [a for a, _ in timings]
        self.assertAlmostEqual(starts[3] - timings[2][1], 0.0, delta=0.01, msg=info)
        self.assertAlmostEqual(starts[4] - starts[3], 1.0, delta=0.01, msg=info)
        self.assertEqual(len([t for t in times if t > 100]), 1, info)

    @unittest.skipUnless(have_locust(), "Debian's python3-locust is not installed")
    def test_constant_throughput_with_slow_tasks(self):
        # constant_throughput(1) with tasks of 1.5 s (all but the first:
        # after a user's first task Locust 2.12 waits the whole period,
        # whatever the task took). Each next task starts at once; Locust
        # reports 1.5 s for each, rpcload reported 1502/2045/2588, growing.
        # In 8 s: tasks at 0, 1, 2.5, 4, 5.5 answered, the one at 7 cut.
        timings, times, info = self.compare(lambda n: 0.0 if n == 1 else 1.5, 1.0,
                                            "constant_throughput(1)",
                                            "{constant_throughput: 1}", n_starts=5)
        for k in range(2, 5):
            self.assertAlmostEqual(timings[k][0] - timings[k - 1][1], 0.0, delta=0.01,
                                   msg=info)
        slow = [t for t in times if t > 100]
        self.assertGreaterEqual(len(slow), 4, info)
        self.assertLess(max(slow), max(b - a for a, b in timings) * 1000 + 10, info)


class ScheduleTest(unittest.TestCase):
    def test_schedule_catches_up_and_counts_from_the_due_time(self):
        # wrk2's model: task k is due at k seconds. The third request
        # takes 3 s, so the tasks due at 3 and 4 s go at once when it
        # ends, at 5 s, and count from when they were due: about 2000
        # and 1000 ms; the one due at 5 s is on time again.
        with StallServer(delay=lambda n: 3.0 if n == 3 else 0.0) as srv:
            res = rpcload.run(["-u", "1", "-r", "1", "-t", "7500ms", "--wait", "schedule:1",
                               "--json", "--only-summary", srv.url("/r")], timeout_s=60)
            starts = relative(srv.arrivals())
        self.assertEqual(res.exit_code, 0, res.describe())
        entry = [e for e in json.loads(res.stdout)["stats"] if e["name"] == "/r"][0]
        times = sorted(histogram_values_ms(entry), reverse=True)
        info = "starts %s\ntimes %s\n%s" % (starts, times, res.describe())
        self.assertEqual(len(starts), 8, info)  # due at 0..7 s
        for k in (3, 4, 5):
            self.assertAlmostEqual(starts[k], 5.0, delta=0.1, msg=info)
        for k in (6, 7):
            self.assertAlmostEqual(starts[k], float(k), delta=0.05, msg=info)
        self.assertAlmostEqual(times[0], 3000, delta=50, msg=info)
        self.assertAlmostEqual(times[1], 2000, delta=50, msg=info)
        self.assertAlmostEqual(times[2], 1000, delta=50, msg=info)
        self.assertLess(times[3], 100, info)


class CustomWaitsTest(unittest.TestCase):
    def starts(self, wait, run_time, yaml_wait=None):
        """Gaps between one user's task starts with --wait `wait`, or with
        a scenario whose class says `wait: yaml_wait`."""
        with StallServer() as srv, tempfile.TemporaryDirectory() as tmp:
            args = ["--wait", wait, srv.url("/r")]
            if yaml_wait:
                scn = os.path.join(tmp, "s.yaml")
                with open(scn, "w") as f:
                    f.write("users:\n  - name: U\n    wait: %s\n"
                            "    tasks: [{steps: [{http: GET /r}]}]\n" % yaml_wait)
                args = ["-f", scn, "http://127.0.0.1:%d" % srv.port]
            res = rpcload.run(["-u", "1", "-r", "1", "-t", run_time, "--seed", "7",
                               "--only-summary"] + args, timeout_s=60)
            starts = srv.arrivals()
        self.assertEqual(res.exit_code, 0, res.describe())
        return steps(starts), res

    def check_sequence(self, gaps, res):
        info = "%s\n%s" % (gaps, res.describe())
        self.assertGreaterEqual(len(gaps), 4, info)
        for k, g in enumerate(gaps):
            self.assertAlmostEqual(g, 0.2 if k % 2 == 0 else 0.6, delta=0.03, msg=info)

    def test_sequence(self):
        self.check_sequence(*self.starts("sequence:0.2,0.6", "3s"))

    def test_sequence_in_a_scenario(self):
        self.check_sequence(*self.starts(None, "3s", yaml_wait="{sequence: [0.2, 0.6]}"))

    def test_exponential(self):
        # Mean 50 ms: about 80 tasks in 4 s, with waits spread as an
        # exponential's (some far under the mean, some far over it).
        gaps, res = self.starts("exponential:0.05", "4s")
        info = "%s\n%s" % (["%.3f" % g for g in gaps], res.describe())
        self.assertGreater(len(gaps), 40, info)
        mean = sum(gaps) / len(gaps)
        self.assertTrue(0.035 < mean < 0.07, info)
        self.assertTrue(any(g < 0.02 for g in gaps), info)
        self.assertTrue(any(g > 0.1 for g in gaps), info)


class ClientLagTest(unittest.TestCase):
    def test_a_stalled_client_says_so(self):
        # The whole rpcload process is stopped for a second mid-run (as a
        # starved or paused machine would stop it): its worker loops
        # oversleep by about that much, which it says while running and
        # at the end, instead of charging it silently to the server.
        tmp = tempfile.mkdtemp(prefix="rl-lag-")
        self.addCleanup(shutil.rmtree, tmp, True)
        json_path = os.path.join(tmp, "r.json")
        with StallServer() as srv:
            started = rpcload.start(["-u", "2", "-r", "10", "-t", "4s", "--threads", "2", "--wait",
                                     "constant:0.05", "--only-summary", "--json-file", json_path,
                                     srv.url("/r")])
            proc = started[0]
            time.sleep(1.5)
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(1.0)
            os.kill(proc.pid, signal.SIGCONT)
            res = rpcload.finish(started, timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        live = re.search(r"client lag: the worker threads lost (\d+) ms to stalls of their "
                         r"loops in the last second", res.stderr)
        self.assertIsNotNone(live, res.describe())
        self.assertGreaterEqual(int(live.group(1)), 500, res.describe())
        end = re.search(r"client lag: the worker threads' loops stalled (\d+) time\(s\) for "
                        r"10 ms or more \((\d+) ms in all, the longest (\d+) ms\)", res.stderr)
        self.assertIsNotNone(end, res.describe())
        self.assertGreaterEqual(int(end.group(3)), 800, res.describe())
        self.assertGreaterEqual(int(end.group(2)), 1600, res.describe())  # both threads
        # The JSON report's run says the same, unrounded.
        with open(json_path) as f:
            lag = json.load(f)["run"]["client_lag"]
        self.assertEqual(lag["stalls"], int(end.group(1)), lag)
        self.assertEqual(lag["threshold_ms"], 10, lag)
        self.assertEqual(round(lag["lost_ms"]), int(end.group(2)), lag)
        self.assertEqual(round(lag["longest_ms"]), int(end.group(3)), lag)


if __name__ == "__main__":
    unittest.main()
