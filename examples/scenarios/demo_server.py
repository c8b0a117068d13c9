#!/usr/bin/python3
"""A small HTTP service for the example scenarios (and the scenario tests):
the site http_browse.yaml browses and the login/cart flow of
mixed_login.yaml, with tokens that must be sent back.

    /usr/bin/python3 examples/scenarios/demo_server.py [--port 8080]

--port 0 lets the kernel pick a free port; the first line printed is
"listening on 127.0.0.1:PORT". Standard library only; it ends at SIGTERM,
SIGINT, or after --lifetime seconds (default 3600), printing what it served
as one JSON line "served: {...}".

  GET  /                     the index
  GET  /blog?id=N            an article
  POST /search               {"q": ...} -> {"results": [...]}
  POST /login                {"user": U, "pass": P} -> {"token": T}, and a
                             session cookie; T is the user's until /logout
  POST /cart                 Authorization: Bearer T -> {"cart_id": C}
  GET  /cart/C               Authorization: Bearer T -> {"id": C, "items": [...]}
  POST /logout               Authorization: Bearer T
  POST /restart              200
  POST /echo                 {"got": the JSON body, "types": each member's type,
                              "headers": the request's x-* headers}
  GET  /text?n=N             N letters 'a' and a '!' (text/plain), for regex checks
  GET  /stats                what was served so far (JSON)
A request with a bearer token that is not a live one gets 401.
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
tokens = {}   # token -> user
carts = {}    # cart id -> (token, items)
served = {"requests": {}, "unauthorized": 0, "logins": 0, "logouts": 0, "users": [],
          "paths": []}  # the first 2000 request paths with their queries


def count(key):
    with lock:
        served["requests"][key] = served["requests"].get(key, 0) + 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def user(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        with lock:
            return tokens.get(auth[len("Bearer "):])

    def unauthorized(self):
        with lock:
            served["unauthorized"] += 1
        self.reply(401, {"error": "bad or missing token"})

    def remember(self):
        with lock:
            if len(served["paths"]) < 2000:
                served["paths"].append(self.path)

    def do_GET(self):
        self.remember()
        url = urlparse(self.path)
        if url.path == "/":
            count("GET /")
            return self.reply(200, b"<html><body>index</body></html>", "text/html")
        if url.path == "/blog":
            count("GET /blog")
            n = parse_qs(url.query).get("id", ["0"])[0]
            return self.reply(200, ("<html>article %s</html>" % n).encode(), "text/html")
        if url.path.startswith("/cart/"):
            count("GET /cart/[id]")
            if self.user() is None:
                return self.unauthorized()
            cid = url.path[len("/cart/"):]
            with lock:
                cart = carts.get(cid)
            if cart is None:
                return self.reply(404, {"error": "no such cart"})
            return self.reply(200, {"id": cid, "items": cart[1]})
        if url.path == "/text":
            count("GET /text")
            n = min(int(parse_qs(url.query).get("n", ["10"])[0]), 1 << 24)
            return self.reply(200, b"a" * n + b"!", "text/plain")
        if url.path == "/stats":
            with lock:
                return self.reply(200, served)
        count("GET other")
        return self.reply(404, {"error": "not found"})

    def do_POST(self):
        self.remember()
        url = urlparse(self.path)
        body = self.body_json()
        if url.path == "/login":
            count("POST /login")
            if not body or not body.get("user"):
                return self.reply(400, {"error": "user missing"})
            tok = secrets.token_hex(12)
            with lock:
                tokens[tok] = body["user"]
                served["logins"] += 1
                if len(served["users"]) < 1000:
                    served["users"].append(body["user"])
            return self.reply(200, {"token": tok},
                              extra=[("Set-Cookie", "session=%s; Path=/" % tok)])
        if url.path == "/search":
            count("POST /search")
            q = (body or {}).get("q", "")
            return self.reply(200, {"results": [q + " 1", q + " 2"]})
        if url.path == "/cart":
            count("POST /cart")
            if self.user() is None:
                return self.unauthorized()
            cid = secrets.token_hex(6)
            item = {"item": (body or {}).get("item"), "qty": (body or {}).get("qty", 1)}
            with lock:
                carts[cid] = (self.headers["Authorization"], [item])
            return self.reply(200, {"cart_id": cid})
        if url.path == "/logout":
            count("POST /logout")
            u = self.user()
            if u is None:
                return self.unauthorized()
            with lock:
                tokens.pop(self.headers["Authorization"][len("Bearer "):], None)
                served["logouts"] += 1
            return self.reply(200, {"ok": True})
        if url.path == "/echo":
            count("POST /echo")
            types = ({k: type(v).__name__ for k, v in body.items()}
                     if isinstance(body, dict) else {})
            xh = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-")}
            return self.reply(200, {"got": body, "types": types, "headers": xh})
        if url.path == "/restart":
            count("POST /restart")
            return self.reply(200, {"ok": True})
        count("POST other")
        return self.reply(404, {"error": "not found"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--lifetime", type=float, default=3600)
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
    with lock:
        print("served: " + json.dumps(served), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
