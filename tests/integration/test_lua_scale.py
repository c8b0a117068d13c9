"""10,000 Lua users against nginx (issue #23's scale test and its memory
bar, docs/lua.md): each user makes one request on its own connection and
then waits (rl.constant(60): idle for the rest of the run). No error, the
stats equal nginx's log, and the process's resident memory (VmRSS from
/proc/PID/status, its peak over the run) grows by less than 8 KiB per idle
user over the same run with one user; the figure is printed.

The open-files hard limit here is 20000 a process: 10,000 users hold
10,000 sockets, within it (nginx is started with 20000 too).

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_scale
"""

import json
import os
import subprocess
import tempfile
import time
import unittest

from servers import NginxServer

BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR", "../../build")
RPCLOAD = os.path.join(BUILD_DIR, "rpcload")
USERS = 10000
BAR_KIB = 8

IDLE = ('Idle = rl.user { wait = rl.constant(60), tasks = { function(u)\n'
        '  u.http:get("/hello?idle") end } }\n')


def peak_rss_kib(p, limit_s):
    """The largest VmRSS of process p until it ends (bounded by limit_s)."""
    peak = 0
    end = time.monotonic() + limit_s
    while p.poll() is None and time.monotonic() < end:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.1)
    return peak


class LuaScale(unittest.TestCase):
    def run_users(self, nginx, script, users):
        env = dict(os.environ)
        env.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
        argv = [RPCLOAD, "-s", script, "--host", "http://127.0.0.1:%d" % nginx.port,
                "-u", str(users), "-r", "5000", "-t", "6s", "--threads", "2",
                "--stop-timeout", "5", "--json", "--only-summary"]
        # Files, not pipes: a full pipe would hold the process at its end.
        with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
            p = subprocess.Popen(argv, stdout=fo, stderr=fe, text=True, env=env)
            try:
                rss = peak_rss_kib(p, 60)
                p.wait(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            fo.seek(0)
            fe.seek(0)
            out, err = fo.read(), fe.read()
        self.assertEqual(p.returncode, 0, err[-2000:])
        return rss, json.loads(out), err

    def test_ten_thousand_idle_lua_users(self):
        if not os.path.exists(RPCLOAD):
            self.fail("%s is not built" % RPCLOAD)
        with tempfile.TemporaryDirectory() as tmp, NginxServer() as nginx:
            script = os.path.join(tmp, "idle.lua")
            with open(script, "w") as f:
                f.write(IDLE)
            base, rep1, _ = self.run_users(nginx, script, 1)
            self.assertEqual(nginx.count(), 1)
            nginx.clear_logs()
            rss, rep, err = self.run_users(nginx, script, USERS)
            self.assertIn('all users spawned: {"Idle": %d}' % USERS, err)
            self.assertEqual(rep["total"]["num_requests"], USERS)
            self.assertEqual(rep["total"]["num_failures"], 0, err[-2000:])
            self.assertEqual(nginx.count(), USERS)
            per_user = (rss - base) / (USERS - 1)
            print("\nVmRSS peak: %d KiB with 1 user, %d KiB with %d: %.2f KiB per idle "
                  "Lua user (bar %d)" % (base, rss, USERS, per_user, BAR_KIB))
            # Under ASan+UBSan (CI's sanitizer stage) memory is the
            # sanitizer's (shadow, quarantine): the run is checked, the bar
            # is the plain build's.
            if "ASAN_OPTIONS" not in os.environ:
                self.assertLess(per_user, BAR_KIB)


if __name__ == "__main__":
    unittest.main()
