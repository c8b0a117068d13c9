"""Test servers for rpcload's integration tests (Python 3 stdlib only).

Everything here listens on 127.0.0.1 only, on ports the kernel hands out, is
bounded in time and is always stopped by the context manager that started it:

    with NginxServer(tls=True) as ng:
        ... ng.url("/hello"), ng.url("/hello", tls=True) ...
        ng.count(path="/hello", status=200)

    with BlackHoleServer() as bh:      # accepts, reads, never answers
        ... bh.port ...

    with closed_port() as port:        # bound but not listening: refused
        ...
"""

import contextlib
import ctypes
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"

# How long any server may live, at most, whatever the test does.
MAX_SERVER_LIFETIME = 900.0


def free_port():
    """A loopback TCP port nothing listens on right now (bind 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def closed_port():
    """Yield a loopback port with nothing listening on it.

    The socket stays bound (but never listens) for the duration, so no one
    else can take the port, and a connect() to it is refused (RST)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        yield s.getsockname()[1]
    finally:
        s.close()


def wait_for_port(port, deadline_s=10.0, proc=None, host=HOST):
    """Wait until host:port accepts a TCP connection. Raises on timeout or if
    proc (a Popen) exits first."""
    end = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with status %s before %s:%d accepted"
                               % (proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= end:
            raise TimeoutError("%s:%d did not accept within %.1fs" % (host, port, deadline_s))
        time.sleep(0.05)


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM if the test process dies first."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def popen_bounded(argv, **kw):
    """subprocess.Popen that dies with this process, in its own process group
    (so a stubborn child can be killed with everything it forked)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(argv, preexec_fn=_die_with_parent, start_new_session=True, **kw)


def stop_process(proc, term_timeout_s=10.0):
    """Stop a Popen we started: SIGTERM to its PID, then SIGKILL to its process
    group (it is its own group leader, see popen_bounded) after a bound."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=term_timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def make_self_signed_cert(directory):
    """Generate a self-signed certificate for 127.0.0.1 and localhost with the
    openssl CLI. Returns (cert_path, key_path)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=60)
    return cert, key


# One access-log line: status method uri connection_serial connection_requests
# content_length "x-rl-test header" "request line"
LOG_FORMAT = ('$status $request_method $request_uri $connection $connection_requests '
              '$content_length "$http_x_rl_test" "$request"')
_LOG_RE = re.compile(r'^(?P<status>\d{3}) (?P<method>\S+) (?P<uri>\S+) (?P<conn>\d+) '
                     r'(?P<conn_reqs>\d+) (?P<content_length>\S+) "(?P<x_rl_test>[^"]*)" '
                     r'"(?P<request>.*)"$')

_LOCATIONS = r'''
        location = /hello {
            return 200 "hello world\n";
        }
        location = /missing {
            return 404;
        }
        location = /error {
            return 500;
        }
        location = /close {
            keepalive_timeout 0;
            return 200 "hello world\n";
        }
'''

_CONF = r'''
worker_processes 1;
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{
    worker_connections 20000;
}}
http {{
    default_type text/plain;
    log_format rl '{log_format}';
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    server {{
        listen {host}:{port};
        server_name localhost;
        access_log {prefix}/access.log rl;
{locations}
    }}
{tls_server}
}}
'''

_TLS_SERVER = r'''
    server {{
        listen {host}:{tls_port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        access_log {prefix}/access-tls.log rl;
{locations}
    }}
'''


class NginxServer:
    """nginx as a non-daemon child in its own temp prefix, on free loopback
    ports, stopped by PID. Use as a context manager."""

    def __init__(self, tls=False, start_timeout_s=10.0, lifetime_s=MAX_SERVER_LIFETIME):
        self.tls = tls
        self.start_timeout_s = start_timeout_s
        self.lifetime_s = lifetime_s
        self.prefix = None
        self.port = None
        self.tls_port = None
        self.cert = None
        self.key = None
        self.proc = None
        self._watchdog = None

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix = tempfile.mkdtemp(prefix="rpcload-nginx-")
        self.port = free_port()
        tls_server = ""
        if self.tls:
            self.cert, self.key = make_self_signed_cert(self.prefix)
            self.tls_port = free_port()
            while self.tls_port == self.port:
                self.tls_port = free_port()
            tls_server = _TLS_SERVER.format(host=HOST, tls_port=self.tls_port, cert=self.cert,
                                            key=self.key, prefix=self.prefix,
                                            locations=_LOCATIONS)
        # As root, nginx's workers would run as "nobody"; keep them as the
        # invoking user so they can use files in our 0700 prefix.
        user = "user root;" if os.geteuid() == 0 else ""
        conf = _CONF.format(prefix=self.prefix, host=HOST, port=self.port, user=user,
                            log_format=LOG_FORMAT, locations=_LOCATIONS, tls_server=tls_server)
        self.conf_path = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        for name in ("access.log", "access-tls.log"):
            open(os.path.join(self.prefix, name), "w").close()
        self._stderr = open(os.path.join(self.prefix, "stderr.log"), "wb")
        self.proc = popen_bounded(
            [nginx, "-p", self.prefix, "-e", os.path.join(self.prefix, "error.log"),
             "-c", self.conf_path, "-g", "daemon off;"],
            stdout=self._stderr, stderr=subprocess.STDOUT)
        self._watchdog = threading.Timer(self.lifetime_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            wait_for_port(self.port, self.start_timeout_s, self.proc)
            if self.tls:
                wait_for_port(self.tls_port, self.start_timeout_s, self.proc)
        except Exception as e:
            raise RuntimeError("nginx failed to start: %s\n--- stderr ---\n%s\n--- error.log ---\n%s"
                               % (e, self._read("stderr.log"), self._read("error.log"))) from e

    def _expire(self):
        stop_process(self.proc)

    def stop(self):
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        stop_process(self.proc)
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
            self._stderr = None
        if self.prefix and not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(self.prefix, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- addresses -------------------------------------------------------------
    def url(self, path="/hello", tls=False, host=HOST):
        if tls:
            if not self.tls:
                raise ValueError("this NginxServer was started without tls=True")
            return "https://%s:%d%s" % (host, self.tls_port, path)
        return "http://%s:%d%s" % (host, self.port, path)

    # -- access log ------------------------------------------------------------
    def _read(self, name):
        try:
            with open(os.path.join(self.prefix, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_entries(self, tls=False):
        """Parsed access-log lines (dicts; see LOG_FORMAT) of the plain or TLS server."""
        entries = []
        for line in self._read("access-tls.log" if tls else "access.log").splitlines():
            m = _LOG_RE.match(line)
            if not m:
                raise AssertionError("unparsable access-log line: %r" % line)
            e = m.groupdict()
            e["status"] = int(e["status"])
            e["conn_reqs"] = int(e["conn_reqs"])
            entries.append(e)
        return entries

    def count(self, path=None, status=None, method=None, tls=False, settle_s=2.0):
        """Number of access-log lines matching path (request URI), status and method.

        nginx writes a log line right after it sends the response, so wait
        (bounded by settle_s) until two reads 100 ms apart agree."""
        def once():
            n = 0
            for e in self.log_entries(tls):
                if path is not None and e["uri"] != path:
                    continue
                if status is not None and e["status"] != status:
                    continue
                if method is not None and e["method"] != method:
                    continue
                n += 1
            return n
        end = time.monotonic() + settle_s
        prev = once()
        while time.monotonic() < end:
            time.sleep(0.1)
            cur = once()
            if cur == prev:
                return cur
            prev = cur
        return prev

    def clear_logs(self):
        """Truncate the access logs (nginx opened them O_APPEND, so writes
        continue at the new end)."""
        for name in ("access.log", "access-tls.log"):
            with open(os.path.join(self.prefix, name), "w"):
                pass


class BlackHoleServer:
    """Accepts TCP connections on 127.0.0.1, reads and discards whatever
    arrives, and never answers. Connections are held until the peer closes or
    the server stops. Bounded lifetime; use as a context manager."""

    def __init__(self, lifetime_s=MAX_SERVER_LIFETIME):
        self.lifetime_s = lifetime_s
        self.port = None
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = None
        self._sock = None

    def __enter__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="blackhole", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return False

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        conns = []
        end = time.monotonic() + self.lifetime_s
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                for key, _ in sel.select(timeout=0.1):
                    if key.fileobj is self._sock:
                        try:
                            c, _ = self._sock.accept()
                        except (BlockingIOError, InterruptedError):
                            continue
                        c.setblocking(False)
                        self.accepted += 1
                        conns.append(c)
                        sel.register(c, selectors.EVENT_READ)
                    else:
                        c = key.fileobj
                        try:
                            data = c.recv(65536)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            sel.unregister(c)
                            c.close()
                            conns.remove(c)
        finally:
            for c in conns:
                c.close()
            sel.close()
            self._sock.close()
