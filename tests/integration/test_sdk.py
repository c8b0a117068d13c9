"""The installed plugin SDK, used the way a plugin author outside this tree
uses it: `cmake --install` the build into a temporary prefix, then build the
example plugins (examples/plugins/*) out of tree with nothing but
PKG_CONFIG_PATH pointing at that prefix, and run them with the installed
rpcload. Also checks that the C snippets of docs/plugins.md are cut from the
example plugins, so the tutorial's code is the code that is built and run.

Needs RPCLOAD_BUILD_DIR (a configured and built tree) and RPCLOAD_SOURCE_DIR,
which tests/CMakeLists.txt sets. Run from this folder:

    RPCLOAD_BUILD_DIR=../../build RPCLOAD_SOURCE_DIR=../.. \
        /usr/bin/python3 -m unittest -v test_sdk
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

import rpcload
from servers import LineEchoServer, UdpEchoServer, popen_bounded

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
EXAMPLES = os.path.join(SOURCE_DIR, "examples", "plugins")
# Strict flags for the one-line builds: what a careful author would use.
STRICT = "-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror"


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(rpcload VERSION (\S+)", f.read())
    return m.group(1)


def normalize(code):
    """C text with every run of blanks made one space, for excerpt matching."""
    return re.sub(r"\s+", " ", code).strip()


class SdkTest(unittest.TestCase):
    """One installed prefix for the whole class (installing takes a while)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rpcload-sdk-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        cls.install_log = cls.run_cmd(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix])
        # Only the installed SDK: no plugin path or build tree from the
        # environment may leak into the author's world.
        cls.env = {k: v for k, v in os.environ.items()
                   if k not in ("RPCLOAD_PLUGIN_PATH", "PKG_CONFIG_PATH", "CPATH",
                                "C_INCLUDE_PATH", "RPCLOAD_BIN", "RPCLOAD_PLUGIN_DIR")}
        cls.env["PKG_CONFIG_PATH"] = os.path.join(cls.prefix, "lib", "pkgconfig")
        cls.built = {}

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def run_cmd(argv, env=None, cwd=None, timeout=300, check=True, shell=False):
        p = subprocess.run(argv, env=env, cwd=cwd, timeout=timeout, shell=shell,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError("command failed (exit %d): %s\n%s"
                                 % (p.returncode, argv if shell else shlex.join(argv), out))
        return out

    def pkg(self, *args):
        return self.run_cmd(["pkg-config"] + list(args) + ["rpcload-plugin"],
                            env=self.env).strip()

    def bin(self, name):
        return os.path.join(self.prefix, "bin", name)

    def run_installed(self, args, timeout_s=60, env=None):
        """The INSTALLED rpcload, with no --plugin-dir from the test environment."""
        e = dict(self.env)
        e.update(env or {})
        argv = [self.bin("rpcload")] + list(args)
        t0 = time.monotonic()
        proc = popen_bounded(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        return rpcload.finish((proc, argv, t0), timeout_s=timeout_s)

    def build_example(self, name):
        """Copies examples/plugins/NAME out of the tree and builds it with its
        own CMakeLists.txt against the installed SDK. Returns the .so path."""
        if name in self.built:
            return self.built[name]
        src = os.path.join(self.tmp, "src-" + name)
        shutil.copytree(os.path.join(EXAMPLES, name), src,
                        ignore=shutil.ignore_patterns("build*"))
        build = os.path.join(src, "build")
        self.run_cmd(["cmake", "-S", src, "-B", build], env=self.env)
        self.run_cmd(["cmake", "--build", build], env=self.env)
        so = os.path.join(build, name + ".so")
        self.assertTrue(os.path.isfile(so), "%s was not built" % so)
        self.built[name] = so
        return so

    # ---- the installed tree ----------------------------------------------------
    def test_install_layout(self):
        for rel in ("bin/rpcload", "lib/rpcload/plugins/http1.so",
                    "include/rpcload/plugin.h", "lib/pkgconfig/rpcload-plugin.pc",
                    "include/rpcload/fake_host.h", "lib/librpcload-testhost.a"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, rel)),
                            "%s not installed\n%s" % (rel, self.install_log))
        # Examples are built in the tree for the tests, not shipped.
        self.assertFalse(os.path.exists(os.path.join(self.prefix, "lib/rpcload/plugins/udp.so")))

    def test_pkg_config(self):
        self.assertEqual(self.pkg("--modversion"), project_version())
        self.assertEqual(self.pkg("--cflags"), "-I" + os.path.join(self.prefix, "include"))
        self.assertEqual(self.pkg("--libs"), "")
        self.assertEqual(self.pkg("--variable=plugindir"),
                         os.path.join(self.prefix, "lib", "rpcload", "plugins"))

    def test_installed_rpcload_lists_installed_plugins(self):
        res = self.run_installed(["--plugins"])
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertRegex(res.stdout, r"(?m)^http1\s.*\s%s$"
                         % re.escape(os.path.join(self.prefix, "lib/rpcload/plugins/http1.so")),
                         res.describe())

    # ---- out-of-tree builds ----------------------------------------------------
    def test_udp_example_builds_and_runs(self):
        so = self.build_example("udp")
        self.assertExportsOnlyEntry(so)
        with UdpEchoServer() as us:
            res = self.run_installed(["--plugin", so, "--only-summary", "-u", "4", "-r", "10",
                                      "-t", "2s", "--stop-timeout", "5", "-d", "hi {{seq}}",
                                      "-O", "expect=hi", us.url()], timeout_s=40)
            seen = us.count()
        rep = res.report()
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertIsNotNone(rep.aggregated, res.describe())
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())
        self.assertEqual(rep.aggregated.fails, 0, res.describe())
        self.assertEqual(rep.aggregated.reqs, seen, res.describe())

    def test_plugin_found_through_plugin_path_and_plugin_dir(self):
        so = self.build_example("udp")
        drop = os.path.join(self.tmp, "dropin")
        os.makedirs(drop, exist_ok=True)
        shutil.copy(so, drop)
        with UdpEchoServer() as us:
            for args, env in ((["--plugin-dir", drop], None),
                              ([], {"RPCLOAD_PLUGIN_PATH": "/nonexistent:" + drop})):
                with self.subTest(args=args, env=env):
                    # No --plugin: the udp:// scheme finds it.
                    res = self.run_installed(args + ["--only-summary", "-t", "1s", "-d", "x",
                                                     us.url()], env=env, timeout_s=30)
                    self.assertEqual(res.exit_code, 0, res.describe())
                    self.assertGreater(res.report().aggregated.reqs, 0, res.describe())

    def test_lineproto_example_builds_and_runs(self):
        so = self.build_example("lineproto")
        self.assertExportsOnlyEntry(so)
        with LineEchoServer() as ls:
            res = self.run_installed(["--plugin", so, "--only-summary", "-u", "4", "-r", "10",
                                      "-t", "2s", "--stop-timeout", "5", "-d", "ping {{seq}}",
                                      ls.url()], timeout_s=40)
        # Read once the server's thread is joined: it counts a line after
        # sending its answer, so rpcload can have it and exit first (CI
        # under load: 116570 != 116569).
        lines = ls.lines
        rep = res.report()
        self.assertEqual(res.exit_code, 0, res.describe())
        row = rep.row("line", "ping {{seq}}")
        self.assertIsNotNone(row, res.describe())
        self.assertGreater(row.reqs, 0, res.describe())
        self.assertEqual(row.fails, 0, res.describe())
        self.assertEqual(row.reqs, lines, res.describe())

    def test_redis_example_builds(self):
        if not os.path.isfile(os.path.join(EXAMPLES, "redis", "CMakeLists.txt")):
            self.skipTest("no examples/plugins/redis/CMakeLists.txt")
        self.assertExportsOnlyEntry(self.build_example("redis"))

    def test_codec_unit_tested_with_the_installed_test_host(self):
        """The redis example's out-of-tree unit test (tests/test_redis_sdk.c),
        built with nothing but the installed SDK: <rpcload/fake_host.h> and
        librpcload-testhost.a through pkg-config, strict warnings on. It
        checks the ABI 1.6 step in session_new (AUTH + SELECT) and a refusal
        with the plugin's own text."""
        src = os.path.join(self.tmp, "src-redis-sdk")
        shutil.copytree(os.path.join(EXAMPLES, "redis"), src,
                        ignore=shutil.ignore_patterns("build*"))
        exe = os.path.join(src, "test_redis_sdk")
        cmd = ("cc %s tests/test_redis_sdk.c redis.c $(pkg-config --cflags rpcload-plugin) "
               "$(pkg-config --variable=testhost_libs rpcload-plugin) -o %s"
               % (STRICT, shlex.quote(exe)))
        self.run_cmd(cmd, env=self.env, cwd=src, shell=True)
        out = self.run_cmd([exe], env=self.env, timeout=30)
        self.assertEqual(out.strip(), "ok", out)

    def test_sdk_only_needs_no_web_assets(self):
        """-DRPCLOAD_SDK_ONLY=ON on a copy of the tree without node_modules:
        it configures, builds and installs the SDK alone, and a plugin and
        its unit test build against it."""
        src = os.path.join(self.tmp, "sdk-only-src")
        shutil.copytree(SOURCE_DIR, src, symlinks=True,
                        ignore=shutil.ignore_patterns("build*", "node_modules", ".git"))
        self.assertFalse(os.path.exists(os.path.join(src, "node_modules")))
        build = os.path.join(self.tmp, "sdk-only-build")
        prefix = os.path.join(self.tmp, "sdk-only-prefix")
        out = self.run_cmd(["cmake", "-S", src, "-B", build, "-DRPCLOAD_SDK_ONLY=ON"],
                           env=self.env)
        self.assertIn("RPCLOAD_SDK_ONLY: the plugin SDK alone", out)
        self.run_cmd(["cmake", "--build", build], env=self.env)
        self.run_cmd(["cmake", "--install", build, "--prefix", prefix], env=self.env)
        for rel in ("include/rpcload/plugin.h", "include/rpcload/fake_host.h",
                    "lib/librpcload-testhost.a", "lib/pkgconfig/rpcload-plugin.pc"):
            self.assertTrue(os.path.exists(os.path.join(prefix, rel)), rel)
        self.assertFalse(os.path.exists(os.path.join(prefix, "bin", "rpcload")))
        env = dict(self.env)
        env["PKG_CONFIG_PATH"] = os.path.join(prefix, "lib", "pkgconfig")
        exe = os.path.join(self.tmp, "sdk-only-test")
        self.run_cmd("cc %s tests/test_redis_sdk.c redis.c $(pkg-config --cflags rpcload-plugin) "
                     "$(pkg-config --variable=testhost_libs rpcload-plugin) -o %s"
                     % (STRICT, shlex.quote(exe)),
                     env=env, cwd=os.path.join(src, "examples", "plugins", "redis"), shell=True)
        self.assertEqual(self.run_cmd([exe], timeout=30).strip(), "ok")
        # Without the option, the missing assets stop the configure with
        # a notice that names the way out.
        full = self.run_cmd(["cmake", "-S", src, "-B", build + "-full"], env=self.env,
                            check=False)
        full = " ".join(full.split())  # cmake wraps its messages
        self.assertIn("node_modules/uplot is missing", full)
        self.assertIn("configure with -DRPCLOAD_SDK_ONLY=ON", full)

    def test_one_line_builds(self):
        """`cc -shared -fPIC $(pkg-config --cflags rpcload-plugin) X.c -o X.so`,
        as the tutorial says, then once more with strict warnings."""
        names = ["udp", "lineproto"]
        if os.path.isfile(os.path.join(EXAMPLES, "redis", "redis.c")):
            names.append("redis")
        for name in names:
            src = os.path.join(EXAMPLES, name, name + ".c")
            for variant, flags in (("plain", ""), ("strict", STRICT)):
                with self.subTest(plugin=name, flags=flags):
                    # One directory per build: two files of one plugin name
                    # in one directory would hide each other.
                    out = os.path.join(self.tmp, "oneline", name, variant)
                    os.makedirs(out, exist_ok=True)
                    so = os.path.join(out, name + ".so")
                    cmd = ("cc -shared -fPIC %s $(pkg-config --cflags rpcload-plugin) %s -o %s"
                           % (flags, shlex.quote(src), shlex.quote(so)))
                    self.run_cmd(cmd, env=self.env, shell=True)
                    # rpcload loads it (dlopen RTLD_NOW, ABI checks) and lists it.
                    res = self.run_installed(["--plugin-dir", out, "--plugins"])
                    self.assertEqual(res.exit_code, 0, res.describe())
                    self.assertRegex(res.stdout, r"(?m)^%s\s.*\s%s$" % (name, re.escape(so)),
                                     res.describe())
                    self.assertNotIn("warning", res.stderr, res.describe())

    # ---- the tutorial ------------------------------------------------------------
    def test_tutorial_snippets_are_in_the_examples(self):
        """Every ```c block of docs/plugins.md is an excerpt of lineproto.c,
        udp.c, redis.c or redis's out-of-tree test (blanks aside), so the
        tutorial shows code that compiles."""
        with open(os.path.join(SOURCE_DIR, "docs", "plugins.md")) as f:
            doc = f.read()
        blocks = re.findall(r"^```c\n(.*?)^```", doc, re.S | re.M)
        self.assertGreater(len(blocks), 5, "no C snippets found in docs/plugins.md")
        sources = {}
        for name in ("lineproto", "udp", "redis"):
            with open(os.path.join(EXAMPLES, name, name + ".c")) as f:
                sources[name] = normalize(f.read())
        with open(os.path.join(EXAMPLES, "redis", "tests", "test_redis_sdk.c")) as f:
            sources["test_redis_sdk"] = normalize(f.read())
        for block in blocks:
            with self.subTest(snippet=block.strip().splitlines()[0]):
                code = normalize(block)
                self.assertTrue(any(code in s for s in sources.values()),
                                "this docs/plugins.md snippet is in none of lineproto.c, "
                                "udp.c, redis.c, test_redis_sdk.c:\n%s" % block)

    # ---- helpers ---------------------------------------------------------------
    def assertExportsOnlyEntry(self, so):
        out = self.run_cmd(["nm", "-D", "--defined-only", so])
        syms = [l.split()[-1] for l in out.splitlines() if re.search(r"\s[TtDdBbRr]\s", l)]
        self.assertEqual([s for s in syms if not s.startswith("_")], ["rl_plugin_entry"],
                         "%s exports more than rl_plugin_entry:\n%s" % (so, out))


if __name__ == "__main__":
    unittest.main()
