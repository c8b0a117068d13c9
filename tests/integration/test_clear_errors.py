"""What a careless user meets (issue #13): listings that need no target,
--connections past what the users can use, and errors that say what is
wrong and how to put it right (exit codes as docs/reliability.md has them).

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_clear_errors
"""

import os
import shutil
import subprocess
import tempfile
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


class ClearErrors(unittest.TestCase):
    """#13, "clear errors where they are unclear today", as a user meets
    them."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-errors-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def proto(self):
        self.write("dep.proto", 'syntax = "proto3";\npackage dep;\nmessage D { int32 x = 1; }\n')
        return self.write("warn.proto", 'syntax = "proto3";\npackage w;\nimport "dep.proto";\n'
                          'message Req { string name = 1; }\n'
                          'service S { rpc Call(Req) returns (Req); }\n')

    def test_protoc_warnings_are_warnings(self):
        """An unused import: protoc warns and succeeds; rpcload shows the
        warning as one, and lists."""
        res = rpcload.run(["--proto", self.proto(), "--list"], timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertIn("rpcload: warning: grpc: ", res.stderr, res.describe())
        self.assertIn("warn.proto:3:1: Import dep.proto is unused", res.stderr)
        self.assertIn("Call(w.Req)", res.stdout)

    def test_protoc_warnings_apart_from_its_errors(self):
        """A proto without a syntax line (a warning) and an error: the
        error is the error, the warning a warning."""
        bad = self.write("bad.proto", 'package b;\nmessage Req { strin name = 1; }\n')
        res = rpcload.run(["--proto", bad, "--list"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        err_lines = [l for l in res.stderr.splitlines() if l.startswith("rpcload: error:")]
        self.assertEqual(len(err_lines), 1, res.stderr)
        self.assertNotIn("WARNING", err_lines[0])
        self.assertIn("bad.proto:2:15: Expected", err_lines[0])
        self.assertIn("rpcload: warning: grpc: No syntax specified", res.stderr)

    def test_list_a_proto_without_services(self):
        path = self.write("nosvc.proto", 'syntax = "proto3";\npackage n;\n'
                          'message Req { string name = 1; }\n')
        res = rpcload.run(["--proto", path, "--list"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("defines no service", res.stderr, res.describe())
        res = rpcload.run(["--proto", path, "--call", "Req", "-t", "1s", "127.0.0.1:1"],
                          timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("defines no service", res.stderr, res.describe())

    def test_utf8_bom(self):
        """A BOM at the start of JSON given to gRPC (-d @file, -D, -M) and of
        rpcload.conf is skipped; YAML and protos take it already."""
        bom = b"\xef\xbb\xbf"
        msg = self.write("m.json", bom + b'{"name":"x"}')
        arr = self.write("a.json", bom + b'[{"name":"x"}]')
        md = self.write("md.json", bom + b'{"k":"v"}')
        for args in (["-d", "@" + msg], ["-D", arr], ["-d", "{}", "-M", md]):
            with self.subTest(args=args):
                res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello",
                                   "--show-task-ratio"] + args, timeout_s=30)
                self.assertEqual(res.exit_code, 0, res.describe())
        with open(os.path.join(self.tmp, "rpcload.conf"), "wb") as f:
            f.write(bom + b"users = 3\n")
        argv = [os.path.abspath(a) if os.path.exists(a) else a for a in rpcload.base_argv()]
        proc = subprocess.run(argv + ["--plugin", "http1", "--show-task-ratio"],
                              cwd=self.tmp, capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_binary_data_is_not_json(self):
        """-d @file with binary content for gRPC says it is not JSON text
        and points at -B."""
        path = self.write("bin.dat", bytes(range(256)) * 4)
        res = rpcload.run(["--proto", HELLO_PROTO, "--call", "SayHello", "-d", "@" + path,
                           "--show-task-ratio"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("not JSON text", res.stderr, res.describe())
        self.assertIn("-B", res.stderr)

    def test_data_raw_sends_bytes_untemplated(self):
        """--data-raw @file sends the file's bytes as they are: '{{' in them
        is no template."""
        body = b"raw {{user_id}} \x00\x01\xff {{ and }} end"
        path = self.write("raw.bin", body)
        res = rpcload.run(["--plugin", "http1", "-d", "@" + path, "--show-task-ratio"],
                          timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())  # -d templates it
        with NginxServer() as ng:
            res = rpcload.run(["-u", "1", "-t", "1s", "--data-raw", "@" + path,
                               "-X", "POST", ng.url("/hello")], timeout_s=30)
            entries = ng.log_entries()
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertTrue(entries)
        self.assertTrue(all(e["content_length"] == str(len(body)) for e in entries), entries[:2])
        res = rpcload.run(["-u", "1", "-t", "1s", "--data-raw", "x", "-d", "y",
                           "http://127.0.0.1:1/"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())

    def test_listing_failures_exit_2(self):
        """--list that cannot list is exit 2, as any configuration error
        (docs/reliability.md): a server without reflection, a plugin with
        nothing to list. (--plugins finding none is exit 2 too; the build
        tree's own plugin folder is always searched, so not here.)"""
        res = rpcload.run(["--list", "127.0.0.1:1"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        res = rpcload.run(["--plugin", "redis", "--call", "GET k", "--list",
                           "redis://127.0.0.1:1"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("has nothing to list", res.stderr)

if __name__ == "__main__":
    unittest.main()
