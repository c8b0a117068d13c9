"""rpcload workers under Debian's Locust master (issue #17), real processes on
loopback: `python3 -m locust --master --headless --expect-workers 2 -f stub.py
-u 20 -r 20 -t 10s --csv X` steers two `rpcload --worker -f scenario.yaml`
processes that send their requests to nginx.

- Locust's CSV request counts equal nginx's access log, per name: every
  request a worker made reached the master once, and nothing else did.
- The stub asks for a class the workers' scenario lacks ("Ghost"): each
  worker sends Locust an `exception` naming it, which Locust's own
  X_exceptions.csv lists; the other classes run.
- Both workers exit 0 after the master's quit, and say whom they joined.
- The master's --host is the workers' host: their scenario names a port
  where nothing listens, and every request still reaches nginx.
- Versions: the workers say 2.12.1 (the protocol they speak); Debian's
  Locust knows its own as "", so it warns as it does for any other version,
  and takes them.
- A Locust master lost: it sends no heartbeats, but its libzmq answers
  ZeroMQ's own (ZMTP PINGs). Killed (-9), or cut off (SIGSTOP: its kernel
  keeps the TCP connection, nothing answers the PINGs), the worker stops
  its users and exits 1 within --master-heartbeat-timeout (plus the 3 s of
  unanswered PINGs when cut off), saying why.
"""

import os
import re
import signal
import time
import unittest

import rpcload
from cluster_case import ClusterCase, LocustMasterCase, locust_available, locust_master_argv
from servers import free_port

STUB = """from locust import User, task


class Browser(User):
    weight = 2

    @task
    def t(self):
        pass


class Buyer(User):
    weight = 1

    @task
    def t(self):
        pass


class Ghost(User):
    fixed_count = 2

    @task
    def t(self):
        pass
"""

SCENARIO = """host: %s
users:
  - name: Browser
    weight: 2
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=browse, name: browse}]}]
  - name: Buyer
    weight: 1
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=buy, name: buy}]}]
"""


@unittest.skipUnless(locust_available(), "Debian's python3-locust is missing")
class LocustMasterRpcloadWorkers(LocustMasterCase):
    @classmethod
    def setUpClass(cls):
        cls.host = cls.start_nginx("rl-cluster-")
        stub = os.path.join(cls.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(STUB)
        scn = os.path.join(cls.tmp, "shop.yaml")
        # Nothing listens on the scenario's host: the master's --host wins.
        with open(scn, "w") as f:
            f.write(SCENARIO % ("http://127.0.0.1:%d" % free_port()))
        port = free_port()
        worker = rpcload.base_argv() + ["--worker", "-f", scn, "--master-port", str(port),
                                        "--allow-unreachable",
                                        # a request in flight at the quit
                                        # ends and counts (nginx logs it)
                                        "--stop-timeout", "2s"]
        cls.run_locust(stub, port, 20, "10s", [worker, worker], "--host", cls.host)

    def test_counts_equal_nginx_log(self):
        stats = {r["Name"]: r for r in self.rows("_stats.csv")}
        want = {"browse": "/hello?c=browse", "buy": "/hello?c=buy"}
        for name, uri in want.items():
            self.assertIn(name, stats, self.describe())
            got = int(stats[name]["Request Count"])
            logged = self.nginx.count(path=uri)
            self.assertGreater(logged, 100, self.describe())
            self.assertEqual(got, logged, "%s: Locust's CSV %d, nginx %d\n%s"
                             % (name, got, logged, self.describe()))
            self.assertEqual(int(stats[name]["Failure Count"]), 0, self.describe())
        self.assertEqual(int(stats["Aggregated"]["Request Count"]),
                         len(self.nginx.log_entries()), self.describe())

    def test_unknown_class_reaches_locusts_exceptions(self):
        rows = self.rows("_exceptions.csv")
        ghost = [r for r in rows if "'Ghost'" in r["Message"]]
        self.assertTrue(ghost, "no exception names Ghost: %r\n%s" % (rows, self.describe()))
        self.assertIn("does not have (it has: Browser, Buyer)", ghost[0]["Message"])

    def test_version_mismatch_is_a_warning(self):
        with open(self.logs[0], errors="replace") as f:
            text = f.read()
        warned = re.findall(r"A worker \((\S+)\) running a different version \(2\.12\.1\) connected", text)
        self.assertEqual(len(set(warned)), 2, self.describe())

    def test_workers_quit_cleanly(self):
        self.assertEqual(self.worker_rcs, [0, 0], self.describe())
        for p in self.logs[1:]:
            with open(p, errors="replace") as f:
                text = f.read()
            self.assertIn("joined the master at 127.0.0.1:", text)
            self.assertIn("the master said quit", text)
            self.assertIn("'Ghost'", text)
            self.assertIn("this test's users go to %s, the master's host" % self.host, text)


LOST_STUB = """from locust import User, constant, task


class Browser(User):
    wait_time = constant(1)

    @task
    def t(self):
        pass
"""


@unittest.skipUnless(locust_available(), "Debian's python3-locust is missing")
class LocustMasterLost(ClusterCase):
    TIMEOUT_S = 2  # the worker's --master-heartbeat-timeout
    tmp_prefix = "rl-cluster-lost-"

    def lose_masters(self, sigs):
        """A Locust master and one rpcload worker for each signal, side by
        side (one wait for all); once their users run, each master gets its
        signal. Per signal: the worker's exit code, seconds from the signal
        to its exit, and its log."""
        host = self.start_nginx()
        stub = os.path.join(self.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(LOST_STUB)
        scn = os.path.join(self.tmp, "shop.yaml")
        with open(scn, "w") as f:
            f.write("host: %s\nusers:\n  - name: Browser\n"
                    "    wait: {constant: 0.2}\n"
                    "    tasks: [{steps: [{http: GET /hello, name: hello}]}]\n" % host)
        pairs = []
        for sig in sigs:
            port = free_port()
            name = "w%d" % sig
            master = self.start(name + "_master", locust_master_argv(stub, port, 1, 2, "60s"))
            # A stopped master takes no SIGTERM: killed at cleanup, before
            # ClusterCase's stop_process (cleanups run last in, first out).
            self.addCleanup(lambda m=master: m.poll() is None and m.kill())
            worker = self.start(name, rpcload.base_argv() + [
                "--worker", "-f", scn, "--master-port", str(port),
                "--master-heartbeat-timeout", str(self.TIMEOUT_S), "--allow-unreachable"])
            pairs.append((sig, master, worker, name))
        deadline = time.monotonic() + 40
        for _, _, worker, name in pairs:
            while (time.monotonic() < deadline and worker.poll() is None
                   and "all users spawned" not in self.log(name)):
                time.sleep(0.1)
            self.assertIn("all users spawned", self.log(name), self.describe())
        sent = {}
        for sig, master, _, _ in pairs:
            master.send_signal(sig)
            sent[sig] = time.monotonic()
        out = {}
        for sig, _, worker, name in pairs:
            rc = worker.wait(timeout=30)
            out[sig] = (rc, time.monotonic() - sent[sig], self.log(name))
        return out

    def test_killed_or_cut_off_master(self):
        got = self.lose_masters([signal.SIGKILL, signal.SIGSTOP])
        rc, took, text = got[signal.SIGKILL]
        self.assertEqual(rc, 1, text)
        self.assertIn("lost the connection to the master at 127.0.0.1:", text)
        self.assertIn("heartbeats went unanswered", text)
        # the timeout, then the users stopped (bounded, loose: a busy box)
        self.assertLess(took, self.TIMEOUT_S + 8, text)
        # cut off: 3 s of unanswered PINGs, then the timeout
        rc, took, text = got[signal.SIGSTOP]
        self.assertEqual(rc, 1, text)
        self.assertIn("lost the connection to the master at 127.0.0.1:", text)
        self.assertLess(took, self.TIMEOUT_S + 3 + 8, text)


if __name__ == "__main__":
    unittest.main()
