"""librpcload used as an embedding program uses it (#16 part 1): the build
installed into a temporary prefix, examples/library built out of tree with
nothing but `pkg-config rpcload`, run against nginx with no plugin path
from the test environment (the library finds the plugins installed beside
it). The program's stats, its request listener's count and nginx's access
log must agree.

Needs RPCLOAD_BUILD_DIR and RPCLOAD_SOURCE_DIR (tests/CMakeLists.txt sets
them). Run from this folder:

    RPCLOAD_BUILD_DIR=../../build RPCLOAD_SOURCE_DIR=../.. \\
        /usr/bin/python3 -m unittest -v test_library
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from servers import NginxServer

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")


def run(argv, env=None, timeout=300, check=True):
    p = subprocess.run(argv, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (exit %d)\n%s\n%s"
                             % (argv, p.returncode, p.stdout, p.stderr))
    return p


def check_embed_run(test, argv, env, ng):
    """Runs embed (4 users, 2 s) against nginx; its stats, its request
    listener and nginx's access log must agree."""
    p = run(argv + [ng.url("/hello"), "4", "2"], env=env, timeout=60, check=False)
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
    total = int(re.search(r"^total requests=(\d+) failures=(\d+)", p.stdout,
                          re.M).group(1))
    heard = int(re.search(r"^listener requests=(\d+)", p.stdout, re.M).group(1))
    test.assertGreater(total, 100, p.stdout)
    test.assertEqual(heard, total, "the request listener heard every request")
    test.assertEqual(ng.count(path="/hello"), total,
                     "stats after rl_env_stop equal nginx's access log")
    test.assertRegex(p.stdout, r"(?m)^row GET /hello requests=%d failures=0 " % total)
    test.assertRegex(p.stdout, r"(?m)^state running users 4$")
    # A steered run prints no console table: the program reads the stats.
    test.assertNotIn("Aggregated", p.stdout)


def check_shop_run(test, argv, env, ng):
    """Runs shop (a C user class, 4 users, 2 s): the callbacks, the stats
    and nginx's log agree; carts only after a 200 login, each carrying the
    user's visit count the code set."""
    base = ng.url("/").rstrip("/")
    p = run(argv + [base, "4", "2"], env=env, timeout=60, check=False)
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
    rows = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in
            re.finditer(r"^row (\S+) requests=(\d+) failures=(\d+)$", p.stdout, re.M)}
    cb = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)",
                                                 re.search(r"^callbacks .*$", p.stdout,
                                                           re.M).group(0)))
    test.assertGreater(rows["login"][0], 20, p.stdout)
    test.assertEqual(rows["cart"], (cb["carts"], 0))
    test.assertEqual(rows["login"], (cb["logins_ok"], 0))
    test.assertEqual(rows["lost"], (cb["lost_404"], cb["lost_404"]))
    ng.count(settle_s=2.0)
    entries = ng.log_entries()
    carts = [e["uri"] for e in entries if e["uri"].startswith("/hello?cart=")]
    test.assertEqual(len(carts), rows["cart"][0])
    test.assertEqual(sum(1 for e in entries if e["uri"] == "/hello"), rows["login"][0])
    test.assertEqual(sum(1 for e in entries if e["uri"] == "/no-such-page"),
                     rows["lost"][0])
    # Each of the 4 users' first cart is visit 1, and the visits count up.
    test.assertEqual(carts.count("/hello?cart=1"), 4)
    test.assertIn("/hello?cart=2", carts)


class InTreeEmbedTest(unittest.TestCase):
    """The same program linked in the tree with the static library (under
    ASan+UBSan in CI's sanitizer stage)."""

    def test_embedded_run_counts_what_nginx_logged(self):
        exe = os.path.join(BUILD_DIR, "tests", "embed_intree")
        with NginxServer() as ng:
            env = dict(os.environ)
            env["RPCLOAD_PLUGIN_PATH"] = os.environ.get(
                "RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
            check_embed_run(self, [exe], env, ng)

    def test_c_user_class_counts_what_nginx_logged(self):
        exe = os.path.join(BUILD_DIR, "tests", "shop_intree")
        env = dict(os.environ)
        env["RPCLOAD_PLUGIN_PATH"] = os.environ.get(
            "RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
        with NginxServer() as ng:
            check_shop_run(self, [exe], env, ng)


@unittest.skipIf("ASAN_OPTIONS" in os.environ,
                 "a sanitized librpcload.so cannot be loaded by a program built "
                 "without the sanitizer (InTreeEmbedTest covers the library)")
class LibraryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rpcload-lib-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run(["cmake", "--install", BUILD_DIR, "--prefix", cls.prefix])
        cls.env = {k: v for k, v in os.environ.items()
                   if k not in ("RPCLOAD_PLUGIN_PATH", "PKG_CONFIG_PATH", "CPATH",
                                "C_INCLUDE_PATH", "LIBRARY_PATH", "LD_LIBRARY_PATH")}
        cls.env["PKG_CONFIG_PATH"] = os.path.join(cls.prefix, "lib", "pkgconfig")
        src = os.path.join(cls.tmp, "embed-src")
        shutil.copytree(os.path.join(SOURCE_DIR, "examples", "library"), src,
                        ignore=shutil.ignore_patterns("build*"))
        build = os.path.join(src, "build")
        run(["cmake", "-S", src, "-B", build], env=cls.env)
        run(["cmake", "--build", build], env=cls.env)
        cls.embed = os.path.join(build, "embed")
        cls.shop = os.path.join(build, "shop")
        # The program runs with the installed library only.
        cls.run_env = dict(cls.env, LD_LIBRARY_PATH=os.path.join(cls.prefix, "lib"))

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_embedded_run_counts_what_nginx_logged(self):
        with NginxServer() as ng:
            check_embed_run(self, [self.embed], self.run_env, ng)

    def test_c_user_class_through_the_installed_library(self):
        with NginxServer() as ng:
            check_shop_run(self, [self.shop], self.run_env, ng)

    def test_bad_options_are_refused_with_the_reason(self):
        p = run([self.embed, "notascheme://x"], env=self.run_env, timeout=30, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("embed: ", p.stderr)
        self.assertIn("notascheme", p.stderr)

    def test_shared_library_exports_the_public_api_alone(self):
        lib = os.path.join(self.prefix, "lib", "librpcload.so.1")
        out = run(["nm", "-D", "--defined-only", lib]).stdout
        names = [l.split()[-1].split("@")[0] for l in out.splitlines() if l.strip()]
        exported = [n for n in names if not n.startswith("RPCLOAD_")]
        self.assertIn("rl_env_new", exported)
        self.assertIn("rl_env_stats", exported)
        self.assertEqual([n for n in exported if not re.match(r"rl_[a-z]", n)], [],
                         "only rl_ names are exported (no rl__ internals, no libraries')")

    def test_pkg_config_names_the_installed_prefix(self):
        cflags = run(["pkg-config", "--cflags", "rpcload"], env=self.env).stdout
        libs = run(["pkg-config", "--libs", "rpcload"], env=self.env).stdout
        self.assertIn(os.path.join(self.prefix, "include"), cflags)
        self.assertIn("-lrpcload", libs)
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "include", "rpcload",
                                                    "rpcload.h")))


if __name__ == "__main__":
    unittest.main()
