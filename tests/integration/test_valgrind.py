"""rpcload under valgrind memcheck against nginx: no memory errors, no
definite or indirect leaks."""

import re
import shutil
import unittest

import rpcload
from servers import NginxServer

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--num-callers=30"]


class ValgrindTest(unittest.TestCase):
    def test_no_leaks_or_memory_errors(self):
        self.assertIsNotNone(shutil.which("valgrind"), "valgrind is not installed "
                             "(scripts/setup.sh installs it)")
        with NginxServer() as ng:
            res = rpcload.run(["-u", "5", "-r", "5", "-t", "5s", "--stop-timeout", "5",
                               ng.url("/hello")], wrapper=VALGRIND, timeout_s=240)
            log_count = ng.count(path="/hello")
        self.assertFalse(res.timed_out, res.describe())
        self.assertNotEqual(res.exit_code, 99, "valgrind found errors or leaks\n"
                            + res.describe(limit=20000))
        self.assertRegex(res.stderr, r"ERROR SUMMARY: 0 errors", res.describe(limit=20000))
        if "All heap blocks were freed" not in res.stderr:
            self.assertRegex(res.stderr, r"definitely lost: 0 bytes", res.describe(limit=20000))
            self.assertRegex(res.stderr, r"indirectly lost: 0 bytes", res.describe(limit=20000))
        # and it did its job while under valgrind
        self.assertEqual(res.exit_code, 0, res.describe())
        rep = res.report()
        self.assertIsNotNone(rep.aggregated, res.describe())
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())
        self.assertEqual(rep.aggregated.fails, 0, res.describe())
        self.assertEqual(rep.aggregated.reqs, log_count, res.describe())


if __name__ == "__main__":
    unittest.main()
