"""--cluster-key (#17): ZeroMQ's CURVE between the cluster's nodes.

- Against pyzmq (an independent CURVE implementation) as the master,
  holding the key: `rpcload --worker --cluster-key KEY` (the key as a
  string, or a file in ZeroMQ's certificate format) gets through, says
  client_ready and quits at the master's quit; a worker with another key
  fails the handshake (the master's socket monitor says so) and nothing of
  it arrives.
- An rpcload master and workers with the key run a test whose counts equal
  nginx's log; a worker with another key is not admitted (the master logs
  the refusal, and with no other worker gives up: exit 2, nginx saw
  nothing). A master bound beyond loopback without a key warns; with a key
  it does not. (ZAP's refusal of a client that knows only the public key:
  tests/unit/cluster/test_curve.c.)

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_cluster_key
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import rpcload
from cluster_case import ClusterCase
from servers import NginxServer, free_port, popen_bounded, stop_process

try:
    import msgpack
    import zmq
    from zmq.utils.monitor import recv_monitor_message
    HAVE_ZMQ = zmq.has("curve")
except ImportError:
    HAVE_ZMQ = False

SCENARIO = """host: %s
users:
  - name: Browser
    wait: {constant: 0.1}
    tasks: [{steps: [{http: GET /hello}]}]
"""
HANDSHAKE_FAILED = 0
if HAVE_ZMQ:
    HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                        | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


@unittest.skipUnless(HAVE_ZMQ, "pyzmq with CURVE (Debian's python3-zmq) is missing")
class ClusterKey(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rl-cluster-key-")
        cls.nginx = NginxServer()
        cls.nginx.start()
        cls.scenario = os.path.join(cls.tmp, "shop.yaml")
        with open(cls.scenario, "w") as f:
            f.write(SCENARIO % cls.nginx.url("").rstrip("/"))
        cls.public, cls.secret = zmq.curve_keypair()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.ctx = zmq.Context()
        self.master = self.ctx.socket(zmq.ROUTER)
        self.master.linger = 0
        self.master.curve_secretkey = self.secret
        self.master.curve_publickey = self.public
        self.master.curve_server = True
        self.monitor = self.master.get_monitor_socket(HANDSHAKE_FAILED)
        self.port = self.master.bind_to_random_port("tcp://127.0.0.1")
        self.worker = None
        self.log = os.path.join(self.tmp, "worker-%s.log" % self._testMethodName)

    def tearDown(self):
        if self.worker is not None:
            stop_process(self.worker)
        self.master.disable_monitor()
        self.monitor.close(0)
        self.master.close(0)
        self.ctx.term()

    def start_worker(self, key):
        with open(self.log, "w") as log:
            self.worker = popen_bounded(
                rpcload.base_argv() + ["--worker", "-f", self.scenario, "--master-port",
                                       str(self.port), "--cluster-key", key],
                stdout=log, stderr=subprocess.STDOUT)

    def worker_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def recv(self, timeout_s):
        """[identity, [type, data, node_id]] from the worker, or None."""
        if not self.master.poll(int(timeout_s * 1000)):
            return None
        ident, frame = self.master.recv_multipart()
        return ident, msgpack.unpackb(frame, raw=False)

    def send(self, ident, msg_type, data):
        self.master.send_multipart([ident, msgpack.packb([msg_type, data, "master"])])

    def joins_and_quits(self, key):
        self.start_worker(key)
        got = self.recv(30)
        self.assertIsNotNone(got, "nothing from the worker\n" + self.worker_log())
        ident, (msg_type, data, node_id) = got
        self.assertEqual((msg_type, data), ("client_ready", "2.12.1"))
        self.assertEqual(ident.decode(), node_id)
        self.send(ident, "ack", {"index": 0})
        self.send(ident, "quit", None)
        self.assertEqual(self.worker.wait(timeout=30), 0, self.worker_log())
        self.worker = None

    def test_the_key_gets_in(self):
        self.joins_and_quits(self.secret.decode())

    def test_the_key_from_a_certificate_file(self):
        path = os.path.join(self.tmp, "cluster.key_secret")
        with open(path, "w") as f:
            f.write('metadata\ncurve\n    public-key = "%s"\n    secret-key = "%s"\n'
                    % (self.public.decode(), self.secret.decode()))
        self.joins_and_quits(path)

    def test_another_key_is_refused(self):
        _, other = zmq.curve_keypair()
        self.start_worker(other.decode())
        deadline = time.monotonic() + 30
        failed = None
        while failed is None and time.monotonic() < deadline:
            if self.monitor.poll(1000):
                event = recv_monitor_message(self.monitor)
                if event["event"] & HANDSHAKE_FAILED:
                    failed = event
        self.assertIsNotNone(failed, "no failed handshake seen\n" + self.worker_log())
        self.assertIsNone(self.recv(0.5), "a frame got through without the key")
        self.assertIsNone(self.worker.poll(), "the worker should keep trying (until its timeout)")

    def test_a_bad_key_is_a_usage_error(self):
        res = rpcload.run(["--worker", "-f", self.scenario, "--cluster-key", "not-a-key"],
                          timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("--cluster-key: 'not-a-key' is neither a key", res.stderr)


@unittest.skipUnless(HAVE_ZMQ, "pyzmq with CURVE (Debian's python3-zmq) is missing")
class RpcloadMasterWithKey(ClusterCase):
    tmp_prefix = "rl-cluster-key-"

    def setUp(self):
        super().setUp()
        self.scenario = os.path.join(self.tmp, "shop.yaml")
        with open(self.scenario, "w") as f:
            f.write(SCENARIO % self.start_nginx())
        self.key = zmq.curve_keypair()[1].decode()

    def start(self, name, args):
        return super().start(name, rpcload.base_argv() + args)

    def master(self, port, key, extra=()):
        return self.start("master", [
            "--master", "--headless", "--expect-workers", "1", "-f", self.scenario,
            "-u", "2", "-r", "2", "-t", "3s", "--master-bind-port", str(port),
            "--json-file", os.path.join(self.tmp, "master.json")]
            + (["--cluster-key", key] if key else []) + list(extra))

    def worker(self, name, port, key):
        return self.start(name, ["--worker", "-f", self.scenario, "--master-port", str(port),
                                 "--cluster-key", key])

    def test_keyed_cluster_runs(self):
        port = free_port()
        m = self.master(port, self.key, ["--master-bind-host", "127.0.0.1",
                                         "--expect-workers-max-wait", "60"])
        w = self.worker("worker", port, self.key)
        self.assertEqual(m.wait(timeout=90), 0, self.describe())
        self.assertEqual(w.wait(timeout=30), 0, self.describe())
        with open(os.path.join(self.tmp, "master.json")) as f:
            total = json.load(f)["total"]["num_requests"]
        self.assertGreater(total, 0, self.describe())
        self.assertEqual(total, self.nginx.count(path="/hello"), self.describe())
        self.assertNotIn("beyond this machine", self.log("master"))

    def test_another_key_is_not_admitted(self):
        port = free_port()
        m = self.master(port, self.key, ["--master-bind-host", "127.0.0.1",
                                         "--expect-workers-max-wait", "5"])
        self.worker("stranger", port, zmq.curve_keypair()[1].decode())
        self.assertEqual(m.wait(timeout=60), 2, self.describe())
        self.assertIn("failed the CURVE handshake", self.log("master"), self.describe())
        self.assertEqual(self.nginx.count(path="/hello", settle_s=0.5), 0)

    def test_beyond_loopback_warns_without_a_key(self):
        for key, warned in ((None, True), (self.key, False)):
            with self.subTest(key=bool(key)):
                # Nobody comes: the master gives up after a second (exit 2).
                m = self.master(free_port(), key, ["--master-bind-host", "*",
                                                   "--expect-workers-max-wait", "1"])
                self.assertEqual(m.wait(timeout=60), 2, self.describe())
                said = "beyond this machine: anyone who reaches that port can join"
                self.assertEqual(said in self.log("master"), warned, self.describe())

    def test_key_needs_a_role(self):
        res = rpcload.run(["-f", self.scenario, "--cluster-key", self.key], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("--cluster-key is for a cluster's nodes: add --master or --worker",
                      res.stderr)
        self.assertNotIn(self.key, res.stderr)


if __name__ == "__main__":
    unittest.main()
