"""An rpcload master (issue #17), real processes on loopback against nginx.

- `rpcload --master --headless --expect-workers 3 -f shop.yaml -u 12 -r 12
  -t 5s --json-file M` with three `rpcload --worker -f shop.yaml
  --json-file Wi`: the master's counts per name equal nginx's access log and
  the sum of what the workers say they sent; its histogram per name is the
  workers' histograms added bucket by bucket (so its percentiles are those
  of one process that made every request); the fixed_count class has its
  count across the cluster, and the 12 users are spread 4, 4, 4; the
  master's history counts the 12 users.
- A Locust Python worker (`python3 -m locust --worker -f stub.py`, Debian's)
  joined to an rpcload master beside an rpcload worker: the requests its
  users report appear in the master's stats.
- Faults: a worker killed with SIGKILL mid-run is marked missing within
  its liveness and its users go to the other; a new worker joining then
  gets users; the run goes on and the master's counts are nginx's less at
  most the killed worker's unreported last second or so. A master killed
  with SIGKILL: its worker stops and exits 1 within its
  --master-heartbeat-timeout. Malformed frames (random bytes, cut frames,
  wrong shapes, containers claiming billions of items) sent at a running
  master and at a worker: each is logged and dropped, the run goes on and
  its counts still equal nginx's.
- The master's --stop-timeout reaches its workers in spawn and they apply
  it, as Locust's do: a worker with its own 0 lets every task that began
  finish at the master's -t (each "a, sleep 2 s, b" task's b arrives).
"""

import collections
import json
import os
import re
import signal
import time
import unittest

import rpcload
from cluster_case import PY, ClusterCase, locust_available
from servers import free_port

SCENARIO = """host: %s
users:
  - name: Browser
    weight: 3
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=browse, name: browse}]}]
  - name: Admin
    fixed_count: 2
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=admin, name: admin}]}]
"""

# Locust users with the scenario's class names, reporting requests of their
# own (no server: the events are the requests).
LOCUSTFILE = """from locust import User, task, constant


class Browser(User):
    wait_time = constant(0.1)

    @task
    def t(self):
        self.environment.events.request.fire(
            request_type="PY", name="py-browse", response_time=12.0,
            response_length=3, exception=None, context={})


class Admin(User):
    wait_time = constant(0.1)

    @task
    def t(self):
        self.environment.events.request.fire(
            request_type="PY", name="py-admin", response_time=150.0,
            response_length=3, exception=None, context={})
"""


class ShopCase(ClusterCase):
    """nginx and shop.yaml (SCENARIO) on it; rpcload masters and workers."""

    def setUp(self):
        super().setUp()
        host = self.start_nginx()
        self.scn = os.path.join(self.tmp, "shop.yaml")
        with open(self.scn, "w") as f:
            f.write(SCENARIO % host)

    def master(self, port, workers, extra=(), run_time="5s"):
        return self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", str(workers),
            "--expect-workers-max-wait", "60", "-f", self.scn, "-u", "12",
            "-r", "12", "-t", run_time, "--json-file", os.path.join(self.tmp, "master.json"),
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)] + list(extra))

    def worker(self, i, port, extra=()):
        return self.start("worker%d" % i, rpcload.base_argv() + [
            "--worker", "-f", self.scn, "--master-port", str(port),
            # a request in flight at the quit ends and counts (nginx logs it)
            "--stop-timeout", "2s",
            "--json-file", os.path.join(self.tmp, "worker%d.json" % i)] + list(extra))

    def wait_log(self, name, text, timeout_s=30):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if text in self.log(name):
                return True
            time.sleep(0.1)
        return False

    def users(self, name):
        """The worker's last user count ("ramping [down] to N users")."""
        last = re.findall(r"ramping (?:down )?to (\d+) users", self.log(name))
        return int(last[-1]) if last else 0

    def spawned(self, name):
        """The worker's last spawn: ({class: users}, total)."""
        last = re.findall(r"all users spawned: (\{.*?\}) \((\d+) total users\)", self.log(name))
        return (json.loads(last[-1][0]), int(last[-1][1])) if last else ({}, 0)

    def stats(self, path):
        with open(path) as f:
            return {(e["method"], e["name"]): e for e in json.load(f)["stats"]}


class RpcloadMasterThreeWorkers(ShopCase):
    def test_counts_histograms_and_deal(self):
        port = free_port()
        self.master(port, 3)
        for i in range(3):
            self.worker(i, port)
        rcs = self.wait_all()
        self.assertEqual(rcs, [0, 0, 0, 0], self.describe())

        master = self.stats(os.path.join(self.tmp, "master.json"))
        workers = [self.stats(os.path.join(self.tmp, "worker%d.json" % i)) for i in range(3)]
        sent = sum(int(re.search(r"sent the master (\d+) requests", self.log("worker%d" % i)).group(1))
                   for i in range(3))
        total = 0
        for name, uri in (("browse", "/hello?c=browse"), ("admin", "/hello?c=admin")):
            key = ("GET", name)
            self.assertIn(key, master, self.describe())
            got = master[key]["num_requests"]
            total += got
            self.assertGreater(got, 50, self.describe())
            self.assertEqual(got, self.nginx.count(path=uri), self.describe())
            self.assertEqual(got, sum(w[key]["num_requests"] for w in workers if key in w),
                             self.describe())
            # The master's histogram is the workers' added bucket by bucket.
            merged = collections.Counter()
            for w in workers:
                if key in w:
                    for bucket, count in w[key]["histogram_ns"]:
                        merged[bucket] += count
            self.assertEqual(dict(merged), {b: c for b, c in master[key]["histogram_ns"]},
                             "histograms differ for %s" % name)
        self.assertEqual(total, sent, self.describe())
        # The live table every 2 s while the workers run (the 5 s run's 2
        # at least), then the final one: as a single process prints them.
        live = re.findall(r"^Type +Name +# reqs", self.log("master"), re.M)
        self.assertGreaterEqual(len(live), 3, self.describe())

        # 12 users: 2 Admin (fixed, across the cluster) and 10 Browser,
        # 4 on each worker.
        # The master's history counts the workers' users.
        with open(os.path.join(self.tmp, "master.json")) as f:
            history = json.load(f)["history"]
        self.assertEqual(max(r["user_count"] for r in history), 12, history)
        spawned = [self.spawned("worker%d" % i) for i in range(3)]
        self.assertEqual([n for _, n in spawned], [4, 4, 4], self.describe())
        self.assertEqual(sum(c.get("Admin", 0) for c, _ in spawned), 2, self.describe())
        self.assertEqual(sum(c.get("Browser", 0) for c, _ in spawned), 10, self.describe())


@unittest.skipUnless(locust_available(), "Debian's python3-locust is missing")
class LocustWorkerRpcloadMaster(ShopCase):
    def test_locust_workers_requests_in_master_stats(self):
        stub = os.path.join(self.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(LOCUSTFILE)
        port = free_port()
        self.master(port, 2)
        self.worker(0, port)
        self.start("locust", [PY, "-m", "locust", "--worker", "-f", stub,
                              "--master-host", "127.0.0.1", "--master-port", str(port)])
        rcs = self.wait_all()
        self.assertEqual(rcs[:2], [0, 0], self.describe())
        master = self.stats(os.path.join(self.tmp, "master.json"))
        py = [e for (m, _), e in master.items() if m == "PY"]
        self.assertTrue(py, "no request of the Locust worker in the master's stats\n"
                        + self.describe())
        self.assertGreater(sum(e["num_requests"] for e in py), 10, self.describe())
        # Locust's rounded times (12, 150 ms) came through.
        for e in py:
            self.assertIn(e["max_response_time"], (12.0, 150.0), e)
        # The rpcload worker's requests are all there too.
        for name, uri in (("browse", "/hello?c=browse"), ("admin", "/hello?c=admin")):
            got = master.get(("GET", name), {}).get("num_requests", 0)
            self.assertEqual(got, self.nginx.count(path=uri), self.describe())
        self.assertIn("says no version", self.log("master"))


STOP_SCENARIO = """host: %s
users:
  - name: Browser
    wait: {constant: 0}
    tasks: [{steps: [{http: GET /hello?c=a, name: a}, {sleep: 2},
                     {http: GET /hello?c=b, name: b}]}]
"""


class MasterStopTimeout(ShopCase):
    def test_workers_take_the_masters_stop_timeout(self):
        with open(self.scn, "w") as f:
            f.write(STOP_SCENARIO % ("http://127.0.0.1:%d" % self.nginx.port))
        port = free_port()
        self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait",
            "60", "-f", self.scn, "-u", "2", "-r", "10", "-t", "3s", "--stop-timeout", "5s",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)])
        self.start("worker0", rpcload.base_argv() + [
            "--worker", "-f", self.scn, "--master-port", str(port), "--stop-timeout", "0"])
        rcs = self.wait_all(60)
        self.assertEqual(rcs, [0, 0], self.describe())
        self.assertIn("the master's stop timeout, 5 s, replaces this worker's 0 s",
                      self.log("worker0"))
        # Every task that began (a) finished (b) within the master's 5 s.
        a, b = self.nginx.count(path="/hello?c=a"), self.nginx.count(path="/hello?c=b")
        self.assertGreater(a, 0, self.describe())
        self.assertEqual(a, b, self.describe())

    def test_master_waits_for_a_slow_stop(self):
        # The worker's users take ~6 s to stop (its own --stop-timeout 9 s:
        # the master has none to send), longer than the master's stop
        # timeout (0) and 5 s; the worker beats while it stops, so the
        # master waits for its last stats, and its report counts every
        # request nginx served.
        with open(self.scn, "w") as f:
            f.write(STOP_SCENARIO.replace("{sleep: 2}", "{sleep: 7}")
                    % ("http://127.0.0.1:%d" % self.nginx.port))
        port = free_port()
        report = os.path.join(self.tmp, "master.json")
        self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait",
            "60", "-f", self.scn, "-u", "2", "-r", "10", "-t", "1s", "--json-file", report,
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)])
        self.start("worker0", rpcload.base_argv() + [
            "--worker", "-f", self.scn, "--master-port", str(port), "--stop-timeout", "9s"])
        rcs = self.wait_all(60)
        self.assertEqual(rcs, [0, 0], self.describe())
        self.assertNotIn("did not quit in time", self.log("master"), self.describe())
        stats = self.stats(report)
        for name in ("a", "b"):
            logged = self.nginx.count(path="/hello?c=" + name)
            self.assertEqual(logged, 2, self.describe())
            got = stats.get(("GET", name), {}).get("num_requests", 0)
            self.assertEqual(got, logged, "%s: the master's report %d, nginx %d\n%s"
                             % (name, got, logged, self.describe()))


def mp_str(t):
    """A msgpack str (fixstr or str8)."""
    b = t.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b


def garbage_frames(node):
    """Malformed frames, and well-formed ones of the wrong shape, none a
    message that should count (msgpack by hand: no library needed)."""
    import random
    rnd = random.Random(17)
    s = mp_str
    good_stats = (b"\x93" + s("stats") + b"\x81" + s("stats") + b"\x91\x82" + s("name")
                  + s("/x") + s("method") + s("GET") + s(node))
    frames = [b"", b"\xc1", b"\x93", b"\xdd\xff\xff\xff\xff",
              b"\x93" + s("stats") + b"\xdf\xff\xff\xff\xff" + s(node),
              b"\x93" + s("stats") + b"\x05" + s(node),
              b"\x93" + s("spawn") + b"\x80" + s(node),
              b"\x93" + s("heartbeat") + b"\x81" + s("state") + b"\x05" + s(node),
              b"\x91" * 2000 + b"\xc0",
              good_stats, good_stats[:-3]]
    frames += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
               for _ in range(300)]
    return frames


def zmq_available():
    import importlib.util
    return importlib.util.find_spec("zmq") is not None


class Faults(ShopCase):
    @unittest.skipUnless(zmq_available(), "python3-zmq is missing")
    def test_malformed_frames_at_master_and_worker(self):
        import zmq
        ctx = zmq.Context()
        try:
            # At a master in a run: garbage from a node of its own.
            port = free_port()
            master = self.master(port, 1, run_time="4s")
            w = self.worker(0, port)
            self.assertTrue(self.wait_log("worker0", "all users spawned"), self.describe())
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.IDENTITY, b"garbage_0")
            d.setsockopt(zmq.LINGER, 1000)
            d.connect("tcp://127.0.0.1:%d" % port)
            for f in garbage_frames("garbage_0"):
                d.send(f)
            d.close()
            self.assertEqual(master.wait(timeout=60), 0, self.describe())
            self.assertEqual(w.wait(timeout=30), 0, self.describe())
            self.assertIn("dropped a malformed message from garbage_0", self.log("master"))
            stats = self.stats(os.path.join(self.tmp, "master.json"))
            for name, uri in (("browse", "/hello?c=browse"), ("admin", "/hello?c=admin")):
                self.assertEqual(stats[("GET", name)]["num_requests"], self.nginx.count(path=uri),
                                 self.describe())

            # At a worker: a master played here acks it, sends garbage,
            # then quit.
            r = ctx.socket(zmq.ROUTER)
            rport = r.bind_to_random_port("tcp://127.0.0.1")
            w2 = self.worker(1, rport)
            self.assertTrue(r.poll(20000), self.describe())
            ident, _ = r.recv_multipart()
            node = ident.decode()
            r.send_multipart([ident, b"\x93" + mp_str("ack") + b"\x81" + mp_str("index")
                              + b"\x00" + mp_str(node)])
            for f in garbage_frames(node):
                r.send_multipart([ident, f])
            r.send_multipart([ident, b"\x93" + mp_str("quit") + b"\xc0" + mp_str(node)])
            self.assertEqual(w2.wait(timeout=30), 0, self.describe())
            self.assertIn("dropped a malformed message from the master", self.log("worker1"))
            self.assertIn("the master said quit", self.log("worker1"))
            r.close(0)
        finally:
            ctx.term()

    def test_killed_worker_missing_users_moved_and_rejoin(self):
        port = free_port()
        master = self.master(port, 2, ["--heartbeat-liveness", "2"], run_time="14s")
        w0 = self.worker(0, port, ["--worker-report-interval", "1"])
        self.worker(1, port, ["--worker-report-interval", "1"])
        self.assertTrue(self.wait_log("worker0", "all users spawned"), self.describe())
        time.sleep(2)
        w0.send_signal(signal.SIGKILL)
        # Missing within its liveness (2 beats of 1 s, and a tick), and
        # its users dealt to worker1.
        self.assertTrue(self.wait_log("master", "setting state to missing", 8), self.describe())
        self.assertTrue(self.wait_log("worker1", "(12 total users)", 5), self.describe())
        # A new worker joins and gets users again.
        self.worker(2, port, ["--worker-report-interval", "1"])
        self.assertTrue(self.wait_log("master", "3 workers connected", 10) or
                        self.wait_log("master", "2 workers connected", 1), self.describe())
        self.assertEqual(master.wait(timeout=60), 0, self.describe())
        self.assertEqual(self.procs[2].wait(timeout=30), 0, self.describe())
        self.assertEqual(self.procs[3].wait(timeout=30), 0, self.describe())
        self.assertEqual(self.users("worker1") + self.users("worker2"), 12, self.describe())
        self.assertGreater(self.users("worker2"), 0, self.describe())
        master_stats = self.stats(os.path.join(self.tmp, "master.json"))
        got = sum(e["num_requests"] for e in master_stats.values())
        logged = len(self.nginx.log_entries())
        # Lost: what worker0 made since its last report (1 s), its 6 users
        # at about 20 requests a second each.
        self.assertLessEqual(got, logged, self.describe())
        self.assertLess(logged - got, 400, self.describe())
        self.assertGreater(got, 1000, self.describe())

    def test_killed_master_stops_its_workers(self):
        port = free_port()
        master = self.master(port, 1, run_time="60s")
        w = self.worker(0, port, ["--master-heartbeat-timeout", "3"])
        self.assertTrue(self.wait_log("worker0", "all users spawned"), self.describe())
        master.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        self.assertEqual(w.wait(timeout=30), 1, self.describe())
        self.assertLess(time.monotonic() - t0, 15, self.describe())
        self.assertIn("has sent no heartbeat for", self.log("worker0"))


if __name__ == "__main__":
    unittest.main()
