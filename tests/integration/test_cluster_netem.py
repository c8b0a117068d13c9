"""The cluster over a bad network (issue #17): two network namespaces joined
by a veth pair, `tc qdisc ... netem delay 50ms loss 2%` on both ends.

- Namespace A holds nginx and an rpcload worker (the users' requests go
  over A's loopback, so nginx's log counts exactly what the worker did);
  namespace B holds the master, bound to B's end of the veth. Every cluster
  message (client_ready, ack, spawn, heartbeats, stats, quit) crosses the
  delayed, lossy link.
- The run completes (master and worker exit 0), the worker is never taken
  for missing, and the master's counts per name equal nginx's log, less
  the requests in flight that the worker says it cut at the stop.

Needs root and `ip netns` (skipped otherwise, with the reason). Where the
kernel has no netem qdisc (this machine's is built without any qdisc but
the default), the same impairment is made with netfilter: on each end,
`iptables ... -m statistic --mode random --probability 0.02 -j DROP` on
what arrives (2% loss) and `-j NFQUEUE` on what leaves, each packet held
50 ms by nfq_delay.py before its verdict (the delay); the test says which
it used. The namespaces and the veth have names unique to the run and are
deleted in cleanup, whatever happened; every process is stopped by PID.
"""

import ctypes
import json
import os
import re
import shutil
import sys
import subprocess
import time
import unittest
import uuid

import rpcload
from cluster_case import PY, ClusterCase

CLONE_NEWNET = 0x40000000

# The shortest of 3 refused connects to argv[1]:9, in seconds.
RTT = """import socket, sys, time
best = None
for _ in range(3):
    t0 = time.monotonic()
    try:
        socket.create_connection((sys.argv[1], 9), timeout=5).close()
    except OSError:
        pass
    took = time.monotonic() - t0
    best = took if best is None else min(best, took)
print(best)
"""

SCENARIO = """host: %s
users:
  - name: Browser
    weight: 3
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=browse, name: browse}]}]
  - name: Admin
    fixed_count: 1
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=admin, name: admin}]}]
"""


HERE = os.path.dirname(os.path.abspath(__file__))


def probe():
    """(why this suite cannot run here or None, "netem" or "netfilter")."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, tc)", None
    if shutil.which("ip") is None:
        return "`ip` is missing (iproute2)", None
    ns = "rlprobe%s" % uuid.uuid4().hex[:8]
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return "`ip netns add` fails here: %s" % r.stderr.strip(), None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], capture_output=True, timeout=10)
        if shutil.which("tc") is not None and subprocess.run(
                ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                 "delay", "1ms"], capture_output=True, timeout=10).returncode == 0:
            return None, "netem"
        if shutil.which("iptables") is None:
            return "no netem qdisc in this kernel and no iptables for the fallback", None
        r = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-o", "lo",
                            "-m", "statistic", "--mode", "random", "--probability", "0.02",
                            "-j", "NFQUEUE", "--queue-num", "0"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return "no netem qdisc, and iptables' statistic/NFQUEUE fail: %s" % r.stderr.strip(), None
        return None, "netfilter"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def sh(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))


class _Netns:
    """Enter a namespace in this thread (processes started meanwhile are in
    it), and come back."""

    def __init__(self, name):
        self.name = name
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/%s" % self.name, os.O_RDONLY)
        try:
            if self.libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns %s" % self.name)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            if self.libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(self.home)
        return False


SKIP_REASON, IMPAIRMENT = probe()


@unittest.skipIf(SKIP_REASON, SKIP_REASON)
class ClusterOverNetem(ClusterCase):
    tmp_prefix = "rl-netem-"
    log_tail = 4000

    def setUp(self):
        super().setUp()  # its cleanup deletes the namespaces too (release)
        tag = uuid.uuid4().hex[:6]
        self.ns_a, self.ns_b = "rlA%s" % tag, "rlB%s" % tag
        self.veth_a, self.veth_b = "rla%s" % tag, "rlb%s" % tag
        # A /30 from 10.200/16 unlikely to clash with anything routed here.
        octet = int(tag[:2], 16)
        self.ip_a, self.ip_b = "10.200.%d.1" % octet, "10.200.%d.2" % octet
        sh("ip", "netns", "add", self.ns_a)
        sh("ip", "netns", "add", self.ns_b)
        sh("ip", "link", "add", self.veth_a, "type", "veth", "peer", "name", self.veth_b)
        for ns, dev, ip in ((self.ns_a, self.veth_a, self.ip_a), (self.ns_b, self.veth_b, self.ip_b)):
            sh("ip", "link", "set", dev, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", ip + "/30", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            if IMPAIRMENT == "netem":
                sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
                   "netem", "delay", "50ms", "loss", "2%")
            else:
                self.netfilter(ns, dev)

    def netfilter(self, ns, dev):
        """netem's delay 50ms loss 2% on dev, with netfilter (see the top)."""
        sh("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", dev, "-m", "statistic",
           "--mode", "random", "--probability", "0.02", "-j", "DROP")
        sh("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-o", dev, "-j", "NFQUEUE",
           "--queue-num", "0")
        name = "delay-%s" % ns
        p = self.start(name, ["ip", "netns", "exec", ns, PY, os.path.join(HERE, "nfq_delay.py"),
                              "0", "50", "150"])
        end = time.monotonic() + 10
        while "ready" not in self.log(name):
            if p.poll() is not None or time.monotonic() > end:
                raise RuntimeError("nfq_delay.py did not start in %s:\n%s" % (ns, self.log(name)))
            time.sleep(0.05)

    def release(self):
        # Deleting a namespace deletes the veth end in it, and so the pair.
        for ns in (self.ns_a, self.ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)

    def test_run_completes_and_counts_agree(self):
        # The link is really slow: a TCP connect across it (refused: nothing
        # listens on port 9) takes a round trip of 100 ms or more.
        rtt = subprocess.run(["ip", "netns", "exec", self.ns_a, PY, "-c", RTT, self.ip_b],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(rtt.returncode, 0, rtt.stderr)
        self.assertGreaterEqual(float(rtt.stdout), 0.095, "impairment: %s" % IMPAIRMENT)
        print("impairment: %s, connect round trip %.0f ms"
              % (IMPAIRMENT, float(rtt.stdout) * 1000), file=sys.stderr)

        port = 5557  # namespace B has nothing else in it
        master_json = os.path.join(self.tmp, "master.json")
        scn = os.path.join(self.tmp, "shop.yaml")
        with _Netns(self.ns_a):
            host = self.start_nginx()
            with open(scn, "w") as f:
                f.write(SCENARIO % host)
            worker = self.start("worker", rpcload.base_argv() + [
                "--worker", "-f", scn, "--master-host", self.ip_b, "--master-port", str(port),
                # a request in flight at the quit ends and counts (nginx logs it)
                "--stop-timeout", "2s"])
        # The master reads the scenario only for its classes: its host (A's
        # loopback) is not its to reach.
        master = self.start("master", ["ip", "netns", "exec", self.ns_b] + rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait", "60",
            "-f", scn, "-u", "8", "-r", "8", "-t", "6s", "--allow-unreachable",
            "--json-file", master_json, "--master-bind-host", self.ip_b,
            "--master-bind-port", str(port)])
        rcs = []
        for p in (master, worker):
            try:
                rcs.append(p.wait(timeout=90))
            except subprocess.TimeoutExpired:
                rcs.append(None)
        self.assertEqual(rcs, [0, 0], self.describe())

        mlog, wlog = self.log("master"), self.log("worker")
        self.assertIn("joined the master at %s:%d" % (self.ip_b, port), wlog)
        self.assertNotIn("missing", mlog, self.describe())
        with open(master_json) as f:
            stats = {e["name"]: e["num_requests"] for e in json.load(f)["stats"]}
        cut = sum(int(c) for c in re.findall(r"(\d+) request\(s\) in flight were cut", wlog))
        self.assertLessEqual(cut, 8, self.describe())
        total = 0
        for name, uri in (("browse", "/hello?c=browse"), ("admin", "/hello?c=admin")):
            logged = self.nginx.count(path=uri)
            self.assertIn(name, stats, self.describe())
            self.assertGreater(stats[name], 20, self.describe())
            self.assertTrue(0 <= logged - stats[name] <= cut,
                            "%s: master %d, nginx %d, cut %d\n%s"
                            % (name, stats[name], logged, cut, self.describe()))
            total += stats[name]
        self.assertEqual(total + cut, len(self.nginx.log_entries()), self.describe())


if __name__ == "__main__":
    unittest.main()
