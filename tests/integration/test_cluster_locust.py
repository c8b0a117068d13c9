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

import csv
import os
import re
import shutil
import signal
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer, free_port, popen_bounded, stop_process

PY = "/usr/bin/python3"

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


def locust_available():
    # Found, not imported: importing locust monkey-patches this process
    # (gevent), subprocess included.
    import importlib.util
    return all(importlib.util.find_spec(m) for m in ("locust", "zmq"))


@unittest.skipUnless(locust_available(), "Debian's python3-locust is missing")
class LocustMasterRpcloadWorkers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-cluster-")
        cls.nginx = NginxServer()
        cls.nginx.start()
        stub = os.path.join(cls.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(STUB)
        scn = os.path.join(cls.tmp, "shop.yaml")
        # Nothing listens on the scenario's host: the master's --host wins.
        with open(scn, "w") as f:
            f.write(SCENARIO % ("http://127.0.0.1:%d" % free_port()))
        cls.host = "http://127.0.0.1:%d" % cls.nginx.port
        port = free_port()
        cls.csv_prefix = os.path.join(cls.tmp, "X")
        cls.master_log = os.path.join(cls.tmp, "master.log")
        with open(cls.master_log, "w") as log:
            master = popen_bounded(
                [PY, "-m", "locust", "--master", "--headless", "--expect-workers",
                 "2", "-f", stub, "-u", "20", "-r", "20", "-t", "10s",
                 "--host", cls.host, "--csv",
                 cls.csv_prefix, "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(port)],
                cwd=cls.tmp, stdout=log, stderr=log)
        cls.workers, cls.worker_logs = [], []
        for i in range(2):
            path = os.path.join(cls.tmp, "worker%d.log" % i)
            cls.worker_logs.append(path)
            with open(path, "w") as log:
                cls.workers.append(popen_bounded(
                    rpcload.base_argv() + ["--worker", "-f", scn, "--master-port",
                                           str(port), "--allow-unreachable",
                                           # a request in flight at the quit
                                           # ends and counts (nginx logs it)
                                           "--stop-timeout", "2s"],
                    cwd=cls.tmp, stdout=log, stderr=log))
        try:
            master.wait(timeout=90)
            cls.worker_rcs = []
            for w in cls.workers:
                try:
                    cls.worker_rcs.append(w.wait(timeout=30))
                except Exception:  # noqa: BLE001 - a hang is a failure below
                    cls.worker_rcs.append(None)
        finally:
            stop_process(master)
            for w in cls.workers:
                stop_process(w)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def describe(self):
        out = []
        for p in [self.master_log] + self.worker_logs:
            with open(p, errors="replace") as f:
                out.append("--- %s ---\n%s" % (os.path.basename(p), f.read()[-3000:]))
        return "\n".join(out)

    def rows(self, suffix):
        with open(self.csv_prefix + suffix, newline="") as f:
            return list(csv.DictReader(f))

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
        with open(self.master_log, errors="replace") as f:
            text = f.read()
        warned = re.findall(r"A worker \((\S+)\) running a different version \(2\.12\.1\) connected", text)
        self.assertEqual(len(set(warned)), 2, self.describe())

    def test_workers_quit_cleanly(self):
        self.assertEqual(self.worker_rcs, [0, 0], self.describe())
        for p in self.worker_logs:
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
class LocustMasterLost(unittest.TestCase):
    TIMEOUT_S = 2  # the worker's --master-heartbeat-timeout

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-cluster-lost-")
        cls.nginx = NginxServer()
        cls.nginx.start()
        cls.stub = os.path.join(cls.tmp, "stub.py")
        with open(cls.stub, "w") as f:
            f.write(LOST_STUB)
        cls.scn = os.path.join(cls.tmp, "shop.yaml")
        with open(cls.scn, "w") as f:
            f.write("host: http://127.0.0.1:%d\nusers:\n  - name: Browser\n"
                    "    wait: {constant: 0.2}\n"
                    "    tasks: [{steps: [{http: GET /hello, name: hello}]}]\n"
                    % cls.nginx.port)

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def lose_masters(self, sigs):
        """A Locust master and one rpcload worker for each signal, side by
        side (one wait for all); once their users run, each master gets its
        signal. Per signal: the worker's exit code, seconds from the signal
        to its exit, and its log."""
        pairs = []
        try:
            for sig in sigs:
                port = free_port()
                name = "w%d" % sig
                with open(os.path.join(self.tmp, name + "_master.log"), "w") as mlog:
                    master = popen_bounded(
                        [PY, "-m", "locust", "--master", "--headless", "--expect-workers",
                         "1", "-f", self.stub, "-u", "2", "-r", "2", "-t", "60s",
                         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                        cwd=self.tmp, stdout=mlog, stderr=mlog)
                log_path = os.path.join(self.tmp, name + ".log")
                pairs.append([sig, master, None, log_path])
                with open(log_path, "w") as log:
                    pairs[-1][2] = popen_bounded(
                        rpcload.base_argv() + ["--worker", "-f", self.scn, "--master-port",
                                               str(port), "--master-heartbeat-timeout",
                                               str(self.TIMEOUT_S), "--allow-unreachable"],
                        cwd=self.tmp, stdout=log, stderr=log)
            deadline = time.monotonic() + 40
            for sig, master, worker, log_path in pairs:
                while time.monotonic() < deadline and worker.poll() is None:
                    with open(log_path, errors="replace") as f:
                        if "all users spawned" in f.read():
                            break
                    time.sleep(0.1)
                with open(log_path, errors="replace") as f:
                    self.assertIn("all users spawned", f.read())
            sent = {}
            for sig, master, _, _ in pairs:
                master.send_signal(sig)
                sent[sig] = time.monotonic()
            out = {}
            for sig, _, worker, log_path in pairs:
                rc = worker.wait(timeout=30)
                took = time.monotonic() - sent[sig]
                with open(log_path, errors="replace") as f:
                    out[sig] = (rc, took, f.read())
            return out
        finally:
            for _, master, worker, _ in pairs:
                master.kill()  # a stopped one too
                master.wait(timeout=10)
                stop_process(worker)

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
