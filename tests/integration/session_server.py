#!/usr/bin/python3
"""An HTTP/1.1 service with logins, cookies and redirects, for
test_http_session: rpcload and Debian's Locust run against it in turn, and
it counts what each sent (Python 3 stdlib only).

    /usr/bin/python3 session_server.py [--port 0] [--lifetime 600]

The first line printed is "listening on 127.0.0.1:PORT"; GET /stats answers
what was served so far as JSON (and is not counted); it ends at SIGTERM,
SIGINT or after --lifetime seconds.

  POST /login           body user=NAME (a form) -> 200 "welcome NAME",
                        Set-Cookie session=TOKEN (Path=/) and prefs=dark
                        (Path=/account, Max-Age=3600); then closes the
                        connection (the jar must outlive it)
  GET  /account/profile the session cookie must be NAME's, NAME as the
                        x-user header says: 200 "profile of NAME"; no
                        session: 401; another user's: 403. Counts the order
                        of the cookie names it got
  GET  /r/N             N > 0: 302 to r/N-1 (a relative Location); 0: 200 "end"
  POST /form            303 to /thanks; GET /thanks 200 "thanks" (another
                        method: 405)
  POST /keep            307 to /echo; POST /echo 200 with the body's length
                        (another method: 405)
  GET  /set-on-redirect 302 to /flash with Set-Cookie flash=hi (Path=/flash);
                        GET /flash 200 "flash" with that cookie, 400 without
  GET  /close-redirect  302 to /r/0, "Connection: close", then closes
  GET  /eof-redirect    302 to /r/0 whose body has no length: it ends when
                        the server closes
  GET  /eof-chain/N     N > 0: as /eof-redirect, to eof-chain/N-1; 0: 200
                        "end" (every hop but the first on a new connection)
  GET  /elsewhere       302 to http://localhost:PORT/r/0 (another origin by
                        name)
  GET  /logout          Set-Cookie session=; Max-Age=0
  GET  /visit           per user (the x-user header): the visits cookie must
                        say how many times this user came before (0: none);
                        Set-Cookie visits=N+1 (Path=/visit). Counts right and
                        wrong ones: one user's cookies in another's request
                        show here
"""

import argparse
import json
import secrets
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
tokens = {}  # session token -> user
served = {
    "requests": {},       # "METHOD /path" -> count
    "logins": 0,
    "profile_ok": 0,
    "profile_401": 0,
    "profile_403": 0,
    "cookie_orders": {},  # "prefs,session" -> count (profile requests)
    "flash_ok": 0,
    "flash_missing": 0,
    "cookie_on_login": 0, # logins that came with a cookie already
    "users": [],
    "visits_ok": 0,
    "visits_wrong": 0,
}
visits = {}  # x-user -> visits so far


def count(key, n=1):
    with lock:
        served["requests"][key] = served["requests"].get(key, 0) + n


def cookies_of(headers):
    """[(name, value)] of the Cookie headers, in order."""
    out = []
    for line in headers.get_all("Cookie") or []:
        for part in line.split(";"):
            part = part.strip()
            if "=" in part:
                k, v = part.split("=", 1)
                out.append((k.strip(), v.strip()))
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle holds the
    # body until the client's delayed ACK (40 ms a response).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", extra=(), location=None, close=False):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        if location is not None:
            self.send_header("Location", location)
        for k, v in extra:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        url = urlparse(self.path)
        path = url.path
        if path == "/stats":
            with lock:
                return self.reply(200, json.dumps(served))
        count("GET " + path)
        if path == "/account/profile":
            return self.profile()
        if path.startswith("/r/"):
            try:
                n = int(path[3:])
            except ValueError:
                return self.reply(404, "no")
            if n > 0:
                return self.reply(302, "moved", location="%d" % (n - 1))
            return self.reply(200, "end")
        if path == "/thanks":
            return self.reply(200, "thanks")
        if path == "/set-on-redirect":
            return self.reply(302, "", location="/flash",
                              extra=[("Set-Cookie", "flash=hi; Path=/flash")])
        if path == "/flash":
            ok = ("flash", "hi") in cookies_of(self.headers)
            with lock:
                served["flash_ok" if ok else "flash_missing"] += 1
            return self.reply(200 if ok else 400, "flash" if ok else "no flash")
        if path == "/close-redirect":
            return self.reply(302, "", location="/r/0", close=True)
        if path == "/eof-redirect":
            self.send_response(302)
            self.send_header("Location", "/r/0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"moved, and that is all")
            self.close_connection = True
            return None
        if path.startswith("/eof-chain/"):
            try:
                n = int(path[len("/eof-chain/"):])
            except ValueError:
                return self.reply(404, "no")
            if n == 0:
                return self.reply(200, "end")
            self.send_response(302)
            self.send_header("Location", "%d" % (n - 1))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"moved on")
            self.close_connection = True
            return None
        if path == "/elsewhere":
            return self.reply(302, "", location="http://localhost:%d/r/0"
                              % self.server.server_address[1])
        if path == "/visit":
            return self.visit()
        if path == "/logout":
            return self.reply(200, "bye",
                              extra=[("Set-Cookie", "session=; Path=/; Max-Age=0")])
        return self.reply(404, "not found")

    def do_POST(self):
        path = urlparse(self.path).path
        data = self.body()
        count("POST " + path)
        if path == "/login":
            user = parse_qs(data.decode(errors="replace")).get("user", [""])[0]
            if not user:
                return self.reply(400, "user missing")
            tok = secrets.token_hex(12)
            with lock:
                tokens[tok] = user
                served["logins"] += 1
                served["cookie_on_login"] += bool(cookies_of(self.headers))
                if len(served["users"]) < 1000:
                    served["users"].append(user)
            return self.reply(200, "welcome " + user, close=True, extra=[
                ("Set-Cookie", "session=%s; Path=/; HttpOnly" % tok),
                ("Set-Cookie", "prefs=dark; Path=/account; Max-Age=3600")])
        if path == "/form":
            return self.reply(303, "see other", location="/thanks")
        if path == "/keep":
            return self.reply(307, "", location="/echo")
        if path == "/echo":
            return self.reply(200, "%d" % len(data))
        if path == "/thanks":
            return self.reply(405, "GET only")
        return self.reply(404, "not found")

    def visit(self):
        user = self.headers.get("x-user", "")
        said = dict(cookies_of(self.headers)).get("visits", "0")
        with lock:
            before = visits.get(user, 0)
            visits[user] = before + 1
            served["visits_ok" if said == str(before) else "visits_wrong"] += 1
        return self.reply(200, "visit", extra=[
            ("Set-Cookie", "visits=%d; Path=/visit" % (before + 1))])

    def profile(self):
        jar = cookies_of(self.headers)
        names = ",".join(k for k, _ in jar)
        with lock:
            served["cookie_orders"][names] = served["cookie_orders"].get(names, 0) + 1
            user = tokens.get(dict(jar).get("session", ""))
        if user is None:
            with lock:
                served["profile_401"] += 1
            return self.reply(401, "log in first")
        if user != self.headers.get("x-user"):
            with lock:
                served["profile_403"] += 1
            return self.reply(403, "another user's session")
        with lock:
            served["profile_ok"] += 1
        return self.reply(200, "profile of " + user)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: done.set())
    signal.signal(signal.SIGINT, lambda *x: done.set())
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    done.wait(a.lifetime)
    srv.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
