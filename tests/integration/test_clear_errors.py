"""What a careless user meets (issue #13): listings that need no target,
--connections past what the users can use, and errors that say what is
wrong and how to put it right (exit codes as docs/reliability.md has them).

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_clear_errors
"""

import os
import subprocess
import unittest

import rpcload
from servers import NginxServer, popen_bounded

SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or rpcload.REPO_ROOT
HELLO_PROTO = os.path.join(SOURCE_DIR, "examples", "hello", "hello.proto")


def no_signal(test, res):
    """The process ended by itself (a crash is a negative return code)."""
    test.assertFalse(res.timed_out, res.describe())
    test.assertGreaterEqual(res.exit_code, 0, "killed by a signal:\n" + res.describe())


class ListingNeedsNoTarget(unittest.TestCase):
    """#13 defect 1: --list and --show-task-ratio with no target; every
    bundled plugin is handed a step without a host there."""

    # Each bundled plugin with what makes a request of it.
    STEPS = [
        ("http1", ["--plugin", "http1"]),
        ("http2", ["--http2"]),
        ("grpc", ["--proto", HELLO_PROTO, "--call", "SayHello", "-d", '{"name":"x"}']),
        ("redis", ["--plugin", "redis", "--call", "GET k"]),
        ("udp", ["--plugin", "udp", "-d", "ping {{seq}}"]),
        ("lineproto", ["--plugin", "lineproto", "-d", "ping"]),
    ]

    def test_grpc_list_with_call(self):
        """The report's crash: --call given with --list and no target."""
        res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "--list"],
                          timeout_s=30)
        no_signal(self, res)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertIn("SayHello(locust.hello.HelloRequest)", res.stdout)

    def test_show_task_ratio_for_every_plugin(self):
        for plugin, args in self.STEPS:
            with self.subTest(plugin=plugin):
                res = rpcload.run(args + ["--show-task-ratio"], timeout_s=30)
                no_signal(self, res)
                self.assertEqual(res.exit_code, 0, res.describe())
                self.assertIn("100.0% User", res.stdout, res.describe())

    def test_list_for_every_plugin(self):
        """A plugin with nothing to list says so (exit 2), none crashes."""
        for plugin, args in self.STEPS:
            with self.subTest(plugin=plugin):
                res = rpcload.run(args + ["--list"], timeout_s=30)
                no_signal(self, res)
                if plugin == "grpc":
                    self.assertEqual(res.exit_code, 0, res.describe())
                    continue
                self.assertEqual(res.exit_code, 2, res.describe())
                self.assertIn("has nothing to list", res.stderr, res.describe())

    def test_show_task_ratio_with_nothing_to_run(self):
        res = rpcload.run(["--show-task-ratio"], timeout_s=30)
        no_signal(self, res)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("--show-task-ratio", res.stderr)


class ConnectionsCap(unittest.TestCase):
    """#13 defect 9: --connections past what the users can use is not
    allocated; said once."""

    def run_rss(self, args):
        """(stderr, exit code, peak RSS in KiB) of one run, by wait4."""
        proc = popen_bounded(rpcload.base_argv() + args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            err = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            proc.returncode = 0 if proc.returncode is None else proc.returncode
            proc.stderr.close()
        return err.decode(errors="replace"), os.waitstatus_to_exitcode(status), usage.ru_maxrss

    def test_a_million_connections_for_two_users(self):
        with NginxServer() as ng:
            base = ["-u", "2", "-r", "100", "-t", "1s", ng.url("/hello")]
            _, rc0, plain = self.run_rss(base)
            err, rc, capped = self.run_rss(["--connections", "1000000"] + base)
        self.assertEqual(rc0, 0)
        self.assertEqual(rc, 0, err)
        self.assertEqual(err.count("--connections 1000000"), 1, err)
        self.assertIn("2 connections", err)
        # A million connection slots took 280 MB; two take nothing to see.
        self.assertLess(capped, plain + 20 * 1024,
                        "peak RSS %d KiB with --connections 1000000, %d without"
                        % (capped, plain))


if __name__ == "__main__":
    unittest.main()
