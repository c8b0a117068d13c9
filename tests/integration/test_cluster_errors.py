"""The cluster's clear errors (issue #17), real processes on loopback.

- No master: a worker pointed at a port where nothing listens says where it
  tried (host:port), gives up once --master-heartbeat-timeout has passed
  without an answer, and exits non-zero.
- The master's port in use: the master names the address, says it is in
  use, and exits 2.
- A class the worker's scenario lacks: the master deals users to it; the
  worker names the class in its log and reports it to the master as
  Locust's workers do (an `exception` message), which the master logs; the
  other class runs.
- Another version: a worker (pyzmq, Locust's frames) saying 9.9.9 is
  warned about in Locust's words and still acked; one saying "" (Debian's
  Locust) is warned about too (test_cluster.py runs a real one), and a
  Locust master warns about rpcload's 2.12.1 (test_cluster_locust.py).
"""

import importlib.util
import os
import socket
import subprocess
import time
import unittest

import rpcload
from cluster_case import PY, ClusterCase
from servers import free_port

SCENARIO = """host: %s
users:
%s"""

CLASS = """  - name: %s
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=%s, name: %s}]}]
"""

# A worker speaking Locust's frames with a version of its own: it waits for
# the master's ack and says quit.
FAKE_WORKER = r"""
import sys, msgpack, zmq
port, version = int(sys.argv[1]), sys.argv[2]
ident = "fake_" + "0" * 32
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.IDENTITY, ident.encode())
s.setsockopt(zmq.LINGER, 1000)
s.connect("tcp://127.0.0.1:%d" % port)
s.send(msgpack.packb(["client_ready", version, ident], use_bin_type=True))
if not s.poll(20000):
    sys.exit("no ack in 20 s")
print("got", msgpack.unpackb(s.recv(), raw=False)[0], flush=True)
s.send(msgpack.packb(["quit", None, ident], use_bin_type=True))
s.close()
"""


class ClusterErrors(ClusterCase):
    tmp_prefix = "rl-cluster-err-"

    def scenario(self, name, host, classes):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(SCENARIO % (host, "".join(CLASS % (c, c.lower(), c.lower()) for c in classes)))
        return path

    def test_no_master_reachable(self):
        port = free_port()  # nothing listens there
        scn = self.scenario("w.yaml", "http://127.0.0.1:9", ["Browser"])
        t0 = time.monotonic()
        w = self.start("worker", rpcload.base_argv() + [
            "--worker", "-f", scn, "--master-port", str(port),
            "--master-heartbeat-timeout", "3", "--allow-unreachable"])
        rc = w.wait(timeout=60)
        took = time.monotonic() - t0
        text = self.log("worker")
        self.assertNotEqual(rc, 0, text)
        self.assertIn("127.0.0.1:%d" % port, text)
        self.assertIn("no master answered at 127.0.0.1:%d within" % port, text)
        # Bounded by the timeout given, not the 60 s default (a generous
        # bound: the machine is shared).
        self.assertLess(took, 40, text)

    def test_master_port_in_use(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            scn = self.scenario("m.yaml", "http://127.0.0.1:9", ["Browser"])
            m = self.start("master", rpcload.base_argv() + [
                "--master", "--headless", "--expect-workers", "1", "-f", scn,
                "-u", "1", "-r", "1", "-t", "2s", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--allow-unreachable"])
            rc = m.wait(timeout=30)
        finally:
            holder.close()
        text = self.log("master")
        self.assertEqual(rc, 2, text)
        self.assertIn("127.0.0.1:%d" % port, text)
        self.assertIn("in use", text)

    def test_class_the_worker_lacks(self):
        host = self.start_nginx()
        mscn = self.scenario("m.yaml", host, ["Browser", "Ghost"])
        wscn = self.scenario("w.yaml", host, ["Browser"])
        port = free_port()
        m = self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "1",
            "--expect-workers-max-wait", "30", "-f", mscn, "-u", "4", "-r", "4",
            "-t", "3s", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(port)])
        w = self.start("worker", rpcload.base_argv() + [
            "--worker", "-f", wscn, "--master-port", str(port), "--stop-timeout", "2s"])
        m.wait(timeout=60)
        wrc = w.wait(timeout=30)
        self.assertEqual(wrc, 0, self.describe())
        wlog, mlog = self.log("worker"), self.log("master")
        self.assertIn("'Ghost'", wlog, self.describe())
        # The master logs the worker's exception, naming the class.
        ghost = [line for line in mlog.splitlines() if "cluster: worker " in line and "'Ghost'" in line]
        self.assertTrue(ghost, self.describe())
        self.assertGreater(self.nginx.count(path="/hello?c=browser"), 0, self.describe())
        self.assertEqual(self.nginx.count(path="/hello?c=ghost"), 0, self.describe())

    @unittest.skipUnless(all(importlib.util.find_spec(m) for m in ("zmq", "msgpack")),
                         "python3-zmq or python3-msgpack is missing")
    def test_other_version_is_a_warning(self):
        scn = self.scenario("m.yaml", "http://127.0.0.1:9", ["Browser"])
        port = free_port()
        self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "2",
            "--expect-workers-max-wait", "20", "-f", scn, "-u", "1", "-r", "1",
            "-t", "2s", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--allow-unreachable"])
        for version in ("9.9.9", ""):
            out = subprocess.run([PY, "-c", FAKE_WORKER, str(port), version],
                                 capture_output=True, text=True, timeout=40)
            self.assertEqual(out.returncode, 0, out.stderr + self.describe())
            self.assertIn("got ack", out.stdout)
        text = self.log("master")
        self.assertIn("cluster: a worker (fake_%s) running a different version (9.9.9) connected, "
                      "master version is" % ("0" * 32), text)
        self.assertIn("says no version", text)


if __name__ == "__main__":
    unittest.main()
