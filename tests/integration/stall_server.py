"""An HTTP/1.1 server that stalls on demand, for the wait and failure tests.

    with StallServer(delay=lambda n: 3.0 if n == 3 else 0.0) as srv:
        ... srv.url("/r") ...
        srv.arrivals()      # monotonic times the requests arrived, in order
        srv.timings()       # (arrived, answered) for each, in order

Request n to /r (1-based, counted over the server's life) is answered
after delay(n) seconds with a small 200 response; any other path at once,
neither counted nor logged (a warm-up). Keep-alive, as Locust's and
rpcload's clients use it. It runs on threads of the test process,
listens on 127.0.0.1 port 0 and is bounded by MAX_SERVER_LIFETIME.
"""

import http.server
import threading
import time

from servers import HOST, MAX_SERVER_LIFETIME


class StallServer:
    def __init__(self, delay=None, lifetime_s=MAX_SERVER_LIFETIME, port=0):
        self.delay = delay or (lambda n: 0.0)
        self.port = port  # 0: the kernel's pick
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._arrivals = []
        self._answered = {}  # request number -> when its answer was sent
        self._srv = None
        self._thread = None
        self._timer = None

    def __enter__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without this, Nagle
            # holds the body back until the client's delayed ACK (40 ms).
            disable_nagle_algorithm = True

            def do_GET(self):
                pause = 0.0
                if self.path == "/r":
                    with outer._lock:
                        outer._arrivals.append(time.monotonic())
                        n = len(outer._arrivals)
                    pause = outer.delay(n)
                if pause > 0:
                    time.sleep(pause)
                body = b"ok\n"
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # a client cut at its stop went away meanwhile
                if self.path == "/r":
                    with outer._lock:
                        outer._answered[n] = time.monotonic()

            def log_message(self, *args):
                pass

        self._srv = http.server.ThreadingHTTPServer((HOST, self.port), Handler)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime_s, self._srv.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=10)

    def url(self, path="/r"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def arrivals(self):
        with self._lock:
            return list(self._arrivals)

    def timings(self):
        """(arrived, answered) of each request to /r that was answered."""
        with self._lock:
            return [(t, self._answered[i + 1]) for i, t in enumerate(self._arrivals)
                    if i + 1 in self._answered]
