"""--source-address (#17): connections come from the given local addresses
in turn (nginx's $remote_addr shows each), the counts still equal nginx's
log, and an address that is no address, or not this machine's, is a clear
start-up error.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_source_address
"""

import collections
import unittest

import rpcload
from servers import NginxServer

# Every 127/8 address is this machine's on Linux's loopback.
SOURCES = "127.0.0.2-127.0.0.4,127.0.0.7"
EXPECTED = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.7"}


class SourceAddress(unittest.TestCase):
    def test_connections_rotate_over_the_addresses(self):
        with NginxServer() as ng:
            # --stop-timeout: a request in flight at the stop is finished and
            # counted, as nginx counts it, not cut (CI under load: 310 != 309).
            res = rpcload.run(["--source-address", SOURCES, "-u", "8", "-r", "100", "-t", "2s",
                               "--stop-timeout", "5", "--wait", "constant:0.05",
                               ng.url("/hello")], timeout_s=60)
            self.assertEqual(res.exit_code, 0, res.describe())
            reqs = res.report().aggregated.reqs
            self.assertGreater(reqs, 0, res.describe())
            self.assertEqual(ng.count("/hello"), reqs)
            by_conn = collections.defaultdict(set)
            per_addr = collections.Counter()
            for e in ng.log_entries():
                by_conn[e["conn"]].add(e["remote_addr"])
                per_addr[e["remote_addr"]] += 1
            # 8 users, a connection each, dealt over 4 addresses: all used.
            self.assertEqual(set(per_addr), EXPECTED, per_addr)
            for conn, addrs in by_conn.items():
                self.assertEqual(len(addrs), 1, "connection %s came from %s" % (conn, addrs))

    def test_without_it_the_kernel_picks_127_0_0_1(self):
        with NginxServer() as ng:
            res = rpcload.run(["-u", "2", "-t", "1s", "--wait", "constant:0.1",
                               ng.url("/hello")], timeout_s=60)
            self.assertEqual(res.exit_code, 0, res.describe())
            ng.count("/hello")
            self.assertEqual({e["remote_addr"] for e in ng.log_entries()}, {"127.0.0.1"})

    def test_bad_addresses_are_clear_errors(self):
        cases = [
            ("127.0.0.300", "'127.0.0.300' is not an IPv4 or IPv6 address"),
            ("127.0.0.2,nope", "'nope' is not an IPv4 or IPv6 address"),
            ("127.0.0.9-127.0.0.2", "the range '127.0.0.9-127.0.0.2' ends before it starts"),
            ("::1-::2", "'::1-::2' is not a range of IPv4 addresses"),
            # TEST-NET-2: no machine here has it.
            ("198.51.100.7", "--source-address 198.51.100.7: cannot use it as a source"),
            ("::1", "--source-address has no IPv4 address"),
        ]
        for spec, said in cases:
            with self.subTest(spec=spec):
                res = rpcload.run(["--source-address", spec, "-u", "1", "-t", "1s",
                                   "http://127.0.0.1:9/hello"], timeout_s=30)
                self.assertEqual(res.exit_code, 2, res.describe())
                self.assertIn(said, res.stderr)


if __name__ == "__main__":
    unittest.main()
