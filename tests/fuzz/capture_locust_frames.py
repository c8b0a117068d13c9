#!/usr/bin/env python3
"""Captures real cluster frames from Debian's Locust (tests/fuzz/cluster_msg/):
the seeds of the fuzz_cluster_msg target and what tests/unit/cluster/
test_msg.c decodes ("frames captured from a real Locust decode as
expected"). Remake them with

  /usr/bin/python3 tests/fuzz/capture_locust_frames.py

Two conversations on loopback, ports the kernel picks:
  1. a real Locust worker (python3 -m locust --worker) against a ZeroMQ
     ROUTER played here: its client_ready, spawning, spawning_complete,
     heartbeat, stats (a task that fires request events with fixed times,
     one of them failing), client_stopped and quit;
  2. a DEALER played here against a real Locust master (--master
     --headless -t 3s): its ack, spawn and quit (at the end of its run
     time a headless master sends quit without a stop first).
Each frame is written as Locust sent it, one file per sender and message
type (locust_worker_<type>, locust_master_<type>). Bounded: each conversation gives up after 40 s.
"""
import os
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "cluster_msg")
PY = "/usr/bin/python3"

LOCUSTFILE = '''
from locust import User, task, constant


class Stub(User):
    wait_time = constant(0.2)

    @task
    def fire(self):
        ev = self.environment.events.request
        for rt, err in ((4.0, None), (147.0, None), (3432.0, None),
                        (12.5, RuntimeError("boom"))):
            ev.fire(request_type="GET", name="/x", response_time=rt,
                    response_length=10, exception=err, context={})
'''


def save(kind, frame):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "locust_" + kind), "wb") as f:
        f.write(frame)
    print("captured", kind, len(frame), "bytes")


def worker_side(tmp, f):
    """A real Locust worker, this script its master."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    proc = subprocess.Popen(
        [PY, "-m", "locust", "--worker", "-f", f, "--master-host",
         "127.0.0.1", "--master-port", str(port)],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got, deadline, sent_stop, sent_quit = {}, time.time() + 40, 0, 0
    try:
        while time.time() < deadline and "quit" not in got:
            if not router.poll(500):
                continue
            ident, frame = router.recv_multipart()
            kind, data, _node = msgpack.loads(frame, raw=False,
                                              strict_map_key=False)
            if kind == "stats" and not data.get("stats"):
                continue  # the empty ones before the spawn
            if kind not in got:
                got[kind] = frame
                save("worker_" + kind, frame)
            if kind == "client_ready" and "spawn" not in got:
                got["spawn"] = b""
                for m in (["ack", {"index": 0}, ident.decode()],
                          ["spawn", {"timestamp": time.time(),
                                     "user_classes_count": {"Stub": 2},
                                     "host": "http://127.0.0.1:1",
                                     "stop_timeout": None,
                                     "parsed_options": {}}, ident.decode()]):
                    router.send_multipart([ident, msgpack.dumps(m)])
            if kind == "stats" and not sent_stop:
                sent_stop = 1
                router.send_multipart(
                    [ident, msgpack.dumps(["stop", None, ident.decode()])])
            if kind == "client_stopped" and not sent_quit:
                sent_quit = 1
                router.send_multipart(
                    [ident, msgpack.dumps(["quit", None, ident.decode()])])
    finally:
        proc.kill()
        proc.wait()
        router.close(0)
        ctx.term()


def master_side(tmp, f):
    """A real Locust master, this script its worker."""
    probe = zmq.Context().socket(zmq.ROUTER)
    port = probe.bind_to_random_port("tcp://127.0.0.1")
    probe.close(0)
    proc = subprocess.Popen(
        [PY, "-m", "locust", "--master", "--headless", "--expect-workers", "1",
         "-f", f, "-u", "3", "-r", "3", "-t", "3s", "--master-bind-host",
         "127.0.0.1", "--master-bind-port", str(port)],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    node = "capture_" + "0" * 32
    dealer.setsockopt(zmq.IDENTITY, node.encode())
    dealer.connect("tcp://127.0.0.1:%d" % port)
    got, deadline, last_beat, state = {}, time.time() + 40, 0, "ready"
    # Debian's Locust says its version is "" and refuses a worker that
    # says so ("pre 2.0"): say the version it is.
    dealer.send(msgpack.dumps(["client_ready", "2.12.1", node]))
    try:
        while time.time() < deadline and "quit" not in got:
            if time.time() - last_beat > 1:
                last_beat = time.time()
                dealer.send(msgpack.dumps(
                    ["heartbeat", {"state": state,
                                   "current_cpu_usage": 1.0,
                                   "current_memory_usage": 1}, node]))
            if not dealer.poll(200):
                continue
            frame = dealer.recv()
            kind, data, _ = msgpack.loads(frame, raw=False,
                                          strict_map_key=False)
            if kind not in got:
                got[kind] = frame
                save("master_" + kind, frame)
            if kind == "spawn":
                state = "running"
                cls = data["user_classes_count"]
                dealer.send(msgpack.dumps(
                    ["spawning_complete", {"user_classes_count": cls,
                                           "user_count": sum(cls.values())},
                     node]))
            if kind == "stop":
                state = "ready"
                dealer.send(msgpack.dumps(["client_stopped", None, node]))
    finally:
        dealer.close(0)
        ctx.term()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "stub.py")
        with open(f, "w") as fh:
            fh.write(LOCUSTFILE)
        worker_side(tmp, f)
        master_side(tmp, f)
    want = {"worker_" + k for k in (
        "client_ready", "spawning", "spawning_complete", "heartbeat", "stats",
        "client_stopped", "quit")} | {"master_ack", "master_spawn",
                                       "master_quit"}
    have = {n[len("locust_"):] for n in os.listdir(OUT)}
    missing = want - have
    if missing:
        print("missing:", sorted(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
