"""User classes written in C (include/rpcload/user.h) end to end: the
build's tests/cuser_run builds one plan of two C classes (scenario/cclass.c)
and runs it through the engine's runner for about 2 s against nginx:

- Shopper logs in (GET /hello?page=login, capturing "world" from the body)
  and, only when that says 200, GETs /hello?page=cart&w={{word}}&n={{visit}}
  (`visit` set by the code from a counter in the user's data); its other
  task GETs /missing (404) and sends no cart after it;
- Pair sends /hello?page=a and /hello?page=b at once and ends its task when
  both are done.

What the callbacks counted, rpcload's stats and nginx's access log must
tell the same story, in the closed model and in the open one (--rate).

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_cusers
"""

import json
import os
import re
import subprocess
import unittest
from urllib.parse import parse_qs, urlsplit

from servers import NginxServer

BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR", "../../build")
CUSER_RUN = os.path.join(BUILD_DIR, "tests", "cuser_run")


def run(nginx, *args):
    """cuser_run against nginx: its JSON, with the rows by name."""
    env = dict(os.environ)
    env.setdefault("RPCLOAD_PLUGIN_DIR", os.path.join(BUILD_DIR, "plugins"))
    p = subprocess.run([CUSER_RUN, "http://127.0.0.1:%d" % nginx.port] + list(args),
                       capture_output=True, text=True, timeout=60, env=env)
    if p.returncode != 0:
        raise AssertionError("cuser_run failed (%d): %s" % (p.returncode, p.stderr))
    out = json.loads(p.stdout)
    out["by_name"] = {r["name"]: r for r in out["rows"]}
    return out


def logged(nginx):
    """nginx's access log: (path, page, query, status) per request, once
    the log has settled."""
    nginx.count()  # waits until two reads agree
    out = []
    for e in nginx.log_entries():
        u = urlsplit(e["uri"])
        q = parse_qs(u.query)
        out.append((u.path, q.get("page", [""])[0], q, e["status"]))
    return out


class CUsersAgainstNginx(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(CUSER_RUN):
            self.fail("%s is not built" % CUSER_RUN)
        self.nginx = NginxServer()
        self.nginx.start()
        self.addCleanup(self.nginx.stop)

    def check(self, out):
        rows, seen = out["by_name"], out["seen"]
        self.assertEqual(set(rows), {"login", "cart", "login-missing", "a", "b"},
                         out["rows"])
        login, cart, missing = rows["login"], rows["cart"], rows["login-missing"]
        a, b = rows["a"], rows["b"]
        # Nothing was cut: tasks in flight at the end finished (stop timeout).
        self.assertEqual(out["cut"], 0)
        self.assertEqual(seen["send_errors"], 0)
        # Every request ended in one done call, after it was counted.
        self.assertEqual(seen["done_login"], login["requests"])
        self.assertEqual(seen["done_cart"], cart["requests"])
        self.assertEqual(seen["done_missing"], missing["requests"])
        self.assertEqual(seen["done_a"], a["requests"])
        self.assertEqual(seen["done_b"], b["requests"])
        # The branch: a cart after each 200 login, none after a 404.
        self.assertGreater(login["requests"], 0)
        self.assertEqual(login["failures"], 0)
        self.assertEqual(seen["login_ok"], login["requests"])
        self.assertEqual(seen["login_other"], 0)
        self.assertEqual(cart["requests"], login["requests"])
        self.assertEqual(seen["cart_sent"], cart["requests"])
        self.assertEqual(cart["failures"], 0)
        self.assertGreater(missing["requests"], 0)
        self.assertEqual(missing["failures"], missing["requests"])  # 404
        self.assertEqual(seen["missing_404"], missing["requests"])
        self.assertEqual(seen["missing_other"], 0)
        self.assertEqual(seen["bad_word"], 0)  # the capture was there
        # Two at once, one task: as many of each.
        self.assertGreater(a["requests"], 0)
        self.assertEqual(a["requests"], b["requests"])
        self.assertEqual(seen["pair_tasks"], a["requests"])
        self.assertEqual(a["failures"] + b["failures"], 0)
        # Every user's data went to free_data once it stopped.
        self.assertGreater(seen["users_started"], 0)
        self.assertGreaterEqual(seen["data_freed"], seen["users_started"])

        # nginx saw exactly what rpcload counted, with the templates
        # expanded: the captured word and the visit the code set.
        log = logged(self.nginx)
        total = sum(r["requests"] for r in out["rows"])
        self.assertEqual(len(log), total)
        by_page = {}
        for path, page, _, status in log:
            by_page.setdefault((path, page, status), 0)
            by_page[(path, page, status)] += 1
        self.assertEqual(by_page.get(("/hello", "login", 200), 0), login["requests"])
        self.assertEqual(by_page.get(("/hello", "cart", 200), 0), cart["requests"])
        self.assertEqual(by_page.get(("/missing", "login", 404), 0), missing["requests"])
        self.assertEqual(by_page.get(("/hello", "a", 200), 0), a["requests"])
        self.assertEqual(by_page.get(("/hello", "b", 200), 0), b["requests"])
        carts = [q for path, page, q, _ in log if page == "cart"]
        self.assertTrue(all(q.get("w") == ["world"] for q in carts), carts[:3])
        visits = [q.get("n", [""])[0] for q in carts]
        self.assertTrue(all(v.isdigit() and int(v) >= 1 for v in visits),
                        "carts without the visit the code set: %r" % visits[:10])
        visits = [int(v) for v in visits]
        # Each user counts its own visits: some went past 1.
        self.assertGreater(max(visits), 1)
        # Logins carry the user's id: the users of both threads ran.
        ids = {q["u"][0] for path, page, q, _ in log if page == "login" and path == "/hello"}
        self.assertGreater(len(ids), 1)
        return out

    def test_closed_model(self):
        out = self.check(run(self.nginx, "--seconds", "2", "--users", "8",
                             "--threads", "2"))
        # Shopper weighs 3, Pair 1: 6 and 2 of 8 users; Shopper's "shop"
        # task 3 times as often as "lost". Loose bounds: the mix, not
        # timings.
        logins = out["by_name"]["login"]["requests"]
        missing = out["by_name"]["login-missing"]["requests"]
        self.assertGreater(logins, missing)

    def test_open_model(self):
        # Arrivals at 200/s drawn over both classes by weight.
        self.check(run(self.nginx, "--seconds", "2", "--users", "16",
                       "--threads", "2", "--rate", "200"))

    def test_a_cut_leaves_no_done_behind(self):
        # No stop timeout: what is in flight at the end is cut. The cut
        # requests get no done and no row; those nginx answered before the
        # cut are in its log but not in the stats.
        out = run(self.nginx, "--seconds", "1", "--users", "16", "--threads", "2",
                  "--stop-timeout", "0", "--no-wait")
        rows, seen = out["by_name"], out["seen"]
        for name, done in (("login", "done_login"), ("cart", "done_cart"),
                           ("login-missing", "done_missing"), ("a", "done_a"),
                           ("b", "done_b")):
            self.assertEqual(seen[done], rows[name]["requests"] if name in rows else 0, name)
        counted = sum(r["requests"] for r in out["rows"])
        self.assertGreater(counted, 0)
        log = logged(self.nginx)
        self.assertGreaterEqual(len(log), counted)
        self.assertLessEqual(len(log), counted + out["cut"])
        # Every user's data was still freed (free_data at the cut).
        self.assertGreaterEqual(seen["data_freed"], seen["users_started"])


if __name__ == "__main__":
    unittest.main()
