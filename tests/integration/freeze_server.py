"""An HTTP/1.1 server that answers in about 1 ms but freezes on a schedule,
for the open model's latency test (issue #15): from its first request on,
it stops answering for `freeze_s` seconds every `period_s` seconds,
starting `first_s` after that first request. A request that comes in
during a freeze (or is in progress when one starts) is answered when the
freeze ends. Threads of the test process; 127.0.0.1, port 0; bounded by
MAX_SERVER_LIFETIME.

    with FreezeServer(period_s=10, freeze_s=2, first_s=1) as srv:
        ... srv.url("/f") ...  srv.served  (requests answered)
"""

import http.server
import threading
import time

from servers import HOST, MAX_SERVER_LIFETIME


class FreezeServer:
    def __init__(self, period_s=10.0, freeze_s=2.0, first_s=1.0, answer_s=0.001,
                 lifetime_s=MAX_SERVER_LIFETIME):
        self.period_s, self.freeze_s, self.first_s = period_s, freeze_s, first_s
        self.answer_s = answer_s
        self.lifetime_s = lifetime_s
        self.t0 = None  # monotonic time of the first request
        self.served = 0
        self._lock = threading.Lock()
        self._srv = None
        self._timer = None

    def frozen_until(self, now):
        """When the freeze `now` falls in ends (monotonic), or None."""
        with self._lock:
            if self.t0 is None:
                self.t0 = now
            t = now - self.t0 - self.first_s
        if t < 0:
            return None
        phase = t % self.period_s
        if phase < self.freeze_s:
            return now + (self.freeze_s - phase)
        return None

    def __enter__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                now = time.monotonic()
                until = outer.frozen_until(now)
                time.sleep(outer.answer_s)
                if until is not None:
                    time.sleep(max(0.0, until - time.monotonic()))
                # One write: headers and body apart would wait for the
                # client's delayed ACK (Nagle), 40 ms a response.
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                     b"Content-Type: text/plain\r\n\r\nok\n")
                except OSError:
                    return  # the client cut it at its stop
                with outer._lock:
                    outer.served += 1

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self._srv = Server((HOST, 0), Handler)
        self.port = self._srv.server_address[1]
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self._srv.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self._srv.shutdown()
        self._srv.server_close()

    def url(self, path="/f"):
        return "http://%s:%d%s" % (HOST, self.port, path)
