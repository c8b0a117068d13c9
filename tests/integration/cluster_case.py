"""What the cluster suites share (test_cluster, _messages, _errors, _netem,
_locust, test_locustfile); it has no test of its own.

- ClusterCase: a test's own temporary folder; processes started there,
  each writing a log of its own, shown by describe() when an assertion
  fails; whatever happened (a setUp that failed half-way too) the processes
  are stopped by PID, then the case's nginx if it started one, then what a
  suite holds besides (release()), then the folder is removed
  (RPCLOAD_KEEP_TMP keeps it).
- Debian's Locust as the master: its command line
  (locust_master_argv), a whole run of it with its workers
  (run_under_locust_master), and LocustMasterCase, a class whose tests
  read one such run (Locust's CSV files, the logs) made in setUpClass.
"""

import csv
import importlib.util
import os
import shutil
import tempfile
import unittest

from servers import NginxServer, popen_bounded, stop_process

PY = "/usr/bin/python3"


def locust_available():
    # Found, not imported: importing locust monkey-patches this process
    # (gevent), subprocess included.
    return all(importlib.util.find_spec(m) for m in ("locust", "zmq"))


def keep_tmp():
    return bool(os.environ.get("RPCLOAD_KEEP_TMP"))


def describe_logs(paths, tail=3000):
    """The last `tail` characters of each log, under its name."""
    out = []
    for p in paths:
        with open(p, errors="replace") as f:
            out.append("--- %s ---\n%s" % (os.path.basename(p), f.read()[-tail:]))
    return "\n".join(out)


class ClusterCase(unittest.TestCase):
    tmp_prefix = "rl-cluster-"
    log_tail = 3000  # characters of each log that describe() shows

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=self.tmp_prefix)
        self.procs, self.logs = [], []
        self.nginx = None
        # A cleanup, not tearDown: it runs when setUp fails after this too.
        self.addCleanup(self.clean_up)

    def clean_up(self):
        for p in self.procs:
            stop_process(p)
        if self.nginx is not None:
            self.nginx.stop()
        self.release()
        if not keep_tmp():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def release(self):
        """What a suite holds besides its processes and nginx, freed after
        they are stopped (test_cluster_netem: its network namespaces)."""

    def start_nginx(self):
        """Starts the case's nginx (stopped in clean_up); returns its URL."""
        self.nginx = NginxServer()
        self.nginx.start()
        return "http://127.0.0.1:%d" % self.nginx.port

    def start(self, name, argv):
        """Starts argv in the case's folder, its output in NAME.log."""
        path = os.path.join(self.tmp, name + ".log")
        self.logs.append(path)
        with open(path, "w") as log:
            p = popen_bounded(argv, cwd=self.tmp, stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
            return f.read()

    def describe(self):
        return describe_logs(self.logs, self.log_tail)

    def wait_all(self, timeout=90):
        """Every process's exit code, in the order started (None: still
        running after `timeout` seconds, a hang)."""
        rcs = []
        for p in self.procs:
            try:
                rcs.append(p.wait(timeout=timeout))
            except Exception:  # noqa: BLE001 - a hang shows in the codes
                rcs.append(None)
        return rcs


def locust_master_argv(locustfile, port, workers, users, run_time, *extra):
    """Debian's Locust as a headless master on 127.0.0.1:port, waiting for
    `workers` workers, then spawning `users` at `users` a second for
    `run_time`; extra: more of Locust's options (--csv, --host)."""
    return [PY, "-m", "locust", "--master", "--headless", "--expect-workers", str(workers),
            "-f", locustfile, "-u", str(users), "-r", str(users), "-t", run_time,
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)] + list(extra)


def run_under_locust_master(tmp, master_argv, worker_argvs):
    """Runs a Locust master (master_argv) and its workers in tmp to the end
    of the master's run, their output in tmp/master.log and tmp/worker<i>.log;
    every process is stopped by PID whatever happened. Returns the logs'
    paths (the master's first) and the workers' exit codes (None: a worker
    still running 30 s after the master ended)."""
    logs = [os.path.join(tmp, "master.log")]
    procs = []
    try:
        with open(logs[0], "w") as log:
            procs.append(popen_bounded(master_argv, cwd=tmp, stdout=log, stderr=log))
        for i, argv in enumerate(worker_argvs):
            logs.append(os.path.join(tmp, "worker%d.log" % i))
            with open(logs[-1], "w") as log:
                procs.append(popen_bounded(argv, cwd=tmp, stdout=log, stderr=log))
        procs[0].wait(timeout=90)
        rcs = []
        for w in procs[1:]:
            try:
                rcs.append(w.wait(timeout=30))
            except Exception:  # noqa: BLE001 - a hang is a failure for the caller
                rcs.append(None)
        return logs, rcs
    finally:
        for p in procs:
            stop_process(p)


class LocustMasterCase(unittest.TestCase):
    """One run under Debian's Locust master for the whole class: the
    suite's setUpClass calls start_nginx, then run_locust; its tests read
    Locust's CSV files (rows), the logs (describe) and the workers' exit
    codes (worker_rcs). nginx and the folder go when the class ends, or
    when its setUpClass fails."""

    @classmethod
    def start_nginx(cls, tmp_prefix):
        """The class's folder and nginx; returns nginx's URL."""
        cls.tmp = tempfile.mkdtemp(prefix=tmp_prefix)
        cls.addClassCleanup(lambda: keep_tmp() or shutil.rmtree(cls.tmp, ignore_errors=True))
        cls.nginx = NginxServer()
        cls.addClassCleanup(cls.nginx.stop)
        cls.nginx.start()
        return "http://127.0.0.1:%d" % cls.nginx.port

    @classmethod
    def run_locust(cls, locustfile, port, users, run_time, worker_argvs, *extra):
        """Runs the master (locust_master_argv with --csv into the class's
        folder, and extra) and worker_argvs to the end of its run."""
        cls.csv_prefix = os.path.join(cls.tmp, "X")
        argv = locust_master_argv(locustfile, port, len(worker_argvs), users, run_time,
                                  "--csv", cls.csv_prefix, *extra)
        cls.logs, cls.worker_rcs = run_under_locust_master(cls.tmp, argv, worker_argvs)

    def describe(self):
        return describe_logs(self.logs)

    def rows(self, suffix):
        """The rows of Locust's X<suffix> CSV file (_stats.csv, ...)."""
        with open(self.csv_prefix + suffix, newline="") as f:
            return list(csv.DictReader(f))
