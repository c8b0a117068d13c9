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

    with UdpEchoServer(drop_every=10) as us:   # UDP echo, counts datagrams
        ... us.url(), us.count(), us.dropped, us.payloads ...

    with LineEchoServer() as ls:       # TCP: answers each line with itself
        ... ls.url(), ls.lines ...

    with NginxH2Server() as ng:        # HTTP/2 only: h2c and TLS h2
        ... ng.url("/hello"), ng.url("/hello", tls=True), ng.protocols() ...

    with NghttpdServer(files={"big": 10 << 20}) as nd:  # nghttpd, a docroot
        ... nd.url("/big") ...

    with RedisServer(tls=True) as rs:  # redis-server, no persistence
        ... rs.url(), rs.url(tls=True), rs.command("SET", "k", "v") ...
        rs.calls("set")                # Redis's own count (INFO commandstats)
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
import sys
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
    (so a stubborn child can be killed with everything it forked).

    Once this process has loaded grpcio, the child is started without fork():
    the fork handler of Debian's grpcio (1.51) waits for its thread pool to
    go idle, which it never does if a pool thread waits for the GIL the
    forking thread holds (integration/hello hung 10 min in CI, logging
    "Waiting for thread pool to idle before forking"; grpc/grpc#31885).
    preexec_fn forces a fork(); without it Python uses vfork(), which runs
    no fork handler, and setpriv sets the death signal before the exec."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    if "grpc" in sys.modules and shutil.which("setpriv"):
        return subprocess.Popen(["setpriv", "--pdeathsig", "TERM", "--"] + list(argv),
                                start_new_session=True, **kw)
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


# One access-log line: remote_addr status method uri connection_serial connection_requests
# content_length "x-rl-test header" "request line" "authorization header"
# msec (Unix time of the log write, ms resolution: when the response was
# sent); an absent header is logged as "-"
LOG_FORMAT = ('$remote_addr $status $request_method $request_uri $connection $connection_requests '
              '$content_length "$http_x_rl_test" "$request" "$http_authorization" $msec')
_LOG_RE = re.compile(r'^(?P<remote_addr>\S+) (?P<status>\d{3}) (?P<method>\S+) (?P<uri>\S+) (?P<conn>\d+) '
                     r'(?P<conn_reqs>\d+) (?P<content_length>\S+) "(?P<x_rl_test>[^"]*)" '
                     r'"(?P<request>.*)" "(?P<authorization>[^"]*)" (?P<msec>\d+\.\d+)$')

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
{client_auth}
{locations}
    }}
'''


class NginxServer:
    """nginx as a non-daemon child in its own temp prefix, on free loopback
    ports, stopped by PID. Use as a context manager."""

    def __init__(self, tls=False, start_timeout_s=10.0, lifetime_s=MAX_SERVER_LIFETIME,
                 client_auth=False):
        self.tls = tls
        # client_auth: the TLS server demands a client certificate, the one
        # in self.client_cert / self.client_key.
        self.client_auth = client_auth
        self.client_cert = None
        self.client_key = None
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
            client_auth = ""
            if self.client_auth:
                client_dir = os.path.join(self.prefix, "client")
                os.mkdir(client_dir)
                self.client_cert, self.client_key = make_self_signed_cert(client_dir)
                client_auth = ("        ssl_client_certificate %s;\n"
                               "        ssl_verify_client on;" % self.client_cert)
            tls_server = _TLS_SERVER.format(host=HOST, tls_port=self.tls_port, cert=self.cert,
                                            key=self.key, prefix=self.prefix,
                                            locations=_LOCATIONS, client_auth=client_auth)
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


class _SelectorTcpServer:
    """A TCP server on 127.0.0.1 run by one thread with a selector, for at
    most lifetime_s; what it does with the bytes it reads is the subclass's
    on_data(conn, data) (on_accept/on_close for per-connection state).
    `accepted` counts connections. Use as a context manager."""

    thread_name = "tcp-server"

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
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return False

    def on_accept(self, conn):
        pass

    def on_data(self, conn, data):
        pass

    def on_close(self, conn):
        pass

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        conns = set()
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
                        conns.add(c)
                        self.on_accept(c)
                        sel.register(c, selectors.EVENT_READ)
                        continue
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
                        conns.discard(c)
                        self.on_close(c)
                        continue
                    self.on_data(c, data)
        finally:
            for c in conns:
                c.close()
            sel.close()
            self._sock.close()


class BlackHoleServer(_SelectorTcpServer):
    """Accepts TCP connections on 127.0.0.1, reads and discards whatever
    arrives, and never answers. Connections are held until the peer closes or
    the server stops. Bounded lifetime; use as a context manager."""

    thread_name = "blackhole"


def resp_encode(*args):
    """A Redis command as RESP2 bytes: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RedisError(Exception):
    """An error reply ("-ERR ...") from Redis; str() is its message."""


def resp_read(f):
    """Read one RESP2 reply from a binary file object (socket.makefile('rb')).
    Returns bytes, int, None (null bulk or array), a list, or a RedisError
    instance (an error reply; returned, not raised, so that arrays keep
    their errors)."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection or sent %r" % line)
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        if len(data) != n + 2:
            raise ConnectionError("Redis closed the connection inside a bulk string")
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise ValueError("not a RESP2 reply: %r" % line)


def redis_command(port, *args, host=HOST, timeout_s=5.0, password=None, db=None):
    """Send one command to Redis on host:port over a fresh connection and
    return its reply (see resp_read); an error reply raises RedisError.
    password: AUTH first; db: SELECT it first (their errors raise too)."""
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        first = []
        if password is not None:
            first.append(("AUTH", password))
        if db is not None:
            first.append(("SELECT", str(db)))
        s.sendall(b"".join(resp_encode(*c) for c in first) + resp_encode(*args))
        with s.makefile("rb") as f:
            for _ in first:
                pre = resp_read(f)
                if isinstance(pre, RedisError):
                    raise pre
            reply = resp_read(f)
    if isinstance(reply, RedisError):
        raise reply
    return reply


class RedisServer:
    """redis-server as a non-daemon child in its own temp dir, on a free
    loopback port, with no persistence, stopped by PID. Use as a context
    manager:

        with RedisServer(tls=True) as rs:
            ... rs.url(), rs.url(tls=True), rs.command("SET", "k", "v"),
            rs.calls("set") ...

    password: started with --requirepass; command() then AUTHs first.
    """

    def __init__(self, tls=False, start_timeout_s=10.0, lifetime_s=MAX_SERVER_LIFETIME,
                 password=None):
        self.tls = tls
        self.password = password
        self.start_timeout_s = start_timeout_s
        self.lifetime_s = lifetime_s
        self.dir = None
        self.port = None
        self.tls_port = None
        self.proc = None
        self._watchdog = None

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

    def _argv(self):
        redis = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [redis, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", self.dir,
                "--logfile", os.path.join(self.dir, "redis.log"), "--daemonize", "no"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        if self.tls:
            cert, key = make_self_signed_cert(self.dir)
            argv += ["--tls-port", str(self.tls_port), "--tls-cert-file", cert,
                     "--tls-key-file", key, "--tls-auth-clients", "no"]
        return argv

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="rpcload-redis-")
        # The kernel's free port may be taken between our probe and Redis's
        # bind: try a few times.
        for attempt in range(3):
            self.port = free_port()
            if self.tls:
                self.tls_port = free_port()
                while self.tls_port == self.port:
                    self.tls_port = free_port()
            self.proc = popen_bounded(self._argv(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                self._wait_ready()
                break
            except Exception as e:
                stop_process(self.proc)
                if attempt == 2:
                    raise RuntimeError("redis-server failed to start: %s\n--- redis.log ---\n%s"
                                       % (e, self.log())) from e
        self._watchdog = threading.Timer(self.lifetime_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _wait_ready(self):
        """Until Redis answers PING (it accepts before it has loaded)."""
        end = time.monotonic() + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with status %s" % self.proc.returncode)
            try:
                if redis_command(self.port, "PING", timeout_s=1.0,
                                 password=self.password) == b"PONG":
                    if self.tls:
                        wait_for_port(self.tls_port, max(0.1, end - time.monotonic()),
                                      self.proc)
                    return
            except (OSError, ConnectionError, RedisError):
                pass
            if time.monotonic() >= end:
                raise TimeoutError("no PONG within %.1fs" % self.start_timeout_s)
            time.sleep(0.05)

    def _expire(self):
        stop_process(self.proc)

    def stop(self):
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        stop_process(self.proc)
        if self.dir and not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def url(self, tls=False, host=HOST):
        if tls:
            if not self.tls:
                raise ValueError("this RedisServer was started without tls=True")
            return "rediss://%s:%d" % (host, self.tls_port)
        return "redis://%s:%d" % (host, self.port)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def command(self, *args, db=None):
        """One command on a fresh plain connection (in database db); see
        redis_command."""
        return redis_command(self.port, *args, password=self.password, db=db)

    def commandstats(self):
        """INFO commandstats as {"set": {"calls": 12, "failed_calls": 0, ...}}."""
        stats = {}
        for line in self.command("INFO", "commandstats").decode().splitlines():
            if not line.startswith("cmdstat_"):
                continue
            name, _, fields = line[len("cmdstat_"):].partition(":")
            stats[name] = {k: float(v) if "." in v else int(v)
                           for k, v in (kv.split("=", 1) for kv in fields.split(","))}
        return stats

    def calls(self, command):
        """How many times Redis ran `command` (lower case, e.g. "set"):
        Redis's own count, the ground truth for rpcload's."""
        return self.commandstats().get(command, {}).get("calls", 0)

    def errors(self, code):
        """How many error replies starting with `code` ("ERR", "WRONGTYPE")
        Redis sent (INFO errorstats)."""
        for line in self.command("INFO", "errorstats").decode().splitlines():
            if line.startswith("errorstat_%s:" % code):
                return int(line.split("count=", 1)[1].split(",")[0])
        return 0


# ---- UDP and line-protocol servers (examples/plugins/udp, lineproto) ---------

def free_udp_port():
    """A loopback UDP port nothing is bound to right now (bind 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def closed_udp_port():
    """Yield a loopback UDP port nothing is bound to: a datagram sent there
    gets ICMP port unreachable (ECONNREFUSED on a connected socket). The port
    is free again after a bind/close, so another process could take it in
    the meantime; on a test machine that is unlikely within a test."""
    yield free_udp_port()


class UdpEchoServer:
    """Answers each UDP datagram on 127.0.0.1 with the same bytes (or with
    `reply`), from one thread, for at most lifetime_s. Counts what it saw:

        with UdpEchoServer(drop_every=10) as us:   # every 10th: no answer
            ... "udp://127.0.0.1:%d" % us.port ...
            us.count()      # datagrams received (waits until it settles)
            us.dropped, us.answered, us.payloads (the first max_payloads), us.sources

    Use as a context manager."""

    def __init__(self, drop_every=0, reply=None, lifetime_s=MAX_SERVER_LIFETIME,
                 max_payloads=100000):
        self.drop_every = drop_every
        self.reply = reply
        self.lifetime_s = lifetime_s
        self.max_payloads = max_payloads
        self.port = None
        self.received = 0
        self.answered = 0
        self.dropped = 0
        self.payloads = []
        self.sources = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._sock = None

    def __enter__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.bind((HOST, 0))
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="udp-echo", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def url(self):
        return "udp://%s:%d" % (HOST, self.port)

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        end = time.monotonic() + self.lifetime_s
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                if not sel.select(timeout=0.1):
                    continue
                while True:
                    try:
                        data, addr = self._sock.recvfrom(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # e.g. an ICMP error for an earlier answer
                    with self._lock:
                        self.received += 1
                        n = self.received
                        if len(self.payloads) < self.max_payloads:
                            self.payloads.append(data)
                        self.sources.add(addr)
                        drop = self.drop_every and n % self.drop_every == 0
                        if drop:
                            self.dropped += 1
                    if drop:
                        continue
                    try:
                        self._sock.sendto(self.reply if self.reply is not None else data, addr)
                        with self._lock:
                            self.answered += 1
                    except OSError:
                        pass
        finally:
            sel.close()
            self._sock.close()

    def count(self, settle_s=2.0):
        """Datagrams received, once two reads 100 ms apart agree (bounded)."""
        end = time.monotonic() + settle_s
        with self._lock:
            prev = self.received
        while time.monotonic() < end:
            time.sleep(0.1)
            with self._lock:
                cur = self.received
            if cur == prev:
                return cur
            prev = cur
        return prev


class LineEchoServer(_SelectorTcpServer):
    """A TCP server on 127.0.0.1 that answers every line ("...\\n") it reads
    with the same line, from one thread, for at most lifetime_s. `lines`
    counts the lines answered. Use as a context manager."""

    thread_name = "line-echo"

    def __init__(self, lifetime_s=MAX_SERVER_LIFETIME):
        super().__init__(lifetime_s)
        self.lines = 0
        self._pending = {}

    def url(self):
        return "line://%s:%d" % (HOST, self.port)

    def on_accept(self, conn):
        self._pending[conn] = b""

    def on_close(self, conn):
        del self._pending[conn]

    def on_data(self, conn, data):
        *lines, rest = (self._pending[conn] + data).split(b"\n")
        self._pending[conn] = rest
        if lines:
            out = b"".join(line + b"\n" for line in lines)
            try:
                conn.settimeout(5.0)  # answers are small: bounded anyway
                conn.sendall(out)
                conn.setblocking(False)
                self.lines += len(lines)
            except OSError:
                pass


# ---- HTTP/2 servers: nginx (h2c and TLS h2) and nghttpd ----------------------

# The access-log line of NginxH2Server: LOG_FORMAT plus the protocol, so a
# test sees that requests really came as HTTP/2.0.
H2_LOG_FORMAT = LOG_FORMAT + ' $server_protocol'
_H2_LOG_RE = re.compile(_LOG_RE.pattern[:-1] + r' (?P<protocol>\S+)$')

_H2_CONF = r'''
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
    keepalive_requests {max_requests};
    keepalive_timeout 75s;
    {http2_settings}
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    server {{
        listen {host}:{port} http2;
        server_name localhost;
        access_log {prefix}/access.log rl;
{locations}
    }}
    server {{
        listen {host}:{tls_port} ssl http2;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        access_log {prefix}/access-tls.log rl;
{locations}
    }}
}}
'''


class NginxH2Server(NginxServer):
    """nginx speaking HTTP/2 only: h2c with prior knowledge on `port` (nginx
    1.22's `listen PORT http2` on a plain listener) and h2 over TLS (ALPN) on
    `tls_port`, with NginxServer's locations (/hello, /missing, /error,
    /close) and access logs that also record the protocol ("HTTP/2.0"):

        with NginxH2Server() as ng:
            ... ng.url("/hello"), ng.url("/hello", tls=True) ...
            ng.count(path="/hello", status=200), ng.protocols() ...

    max_requests sets keepalive_requests (which nginx >= 1.19.7 applies to
    HTTP/2 instead of the obsolete http2_max_requests): after that many
    requests on a connection nginx sends GOAWAY and closes it. Default
    1000000, as NginxServer. max_streams sets http2_max_concurrent_streams
    (nginx's default is 128)."""

    def __init__(self, max_requests=None, max_streams=None, stuck_port=None,
                 extra_locations="", **kw):
        kw["tls"] = True
        super().__init__(**kw)
        self.max_requests = max_requests
        self.max_streams = max_streams
        # extra_locations: nginx location blocks added to both servers.
        self.extra_locations = extra_locations
        # stuck_port: /stuck is proxied there (a BlackHoleServer), so its
        # requests never get an answer while the connection stays healthy.
        self.stuck_port = stuck_port

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.prefix = tempfile.mkdtemp(prefix="rpcload-nginx-h2-")
        self.port = free_port()
        self.tls_port = free_port()
        while self.tls_port == self.port:
            self.tls_port = free_port()
        self.cert, self.key = make_self_signed_cert(self.prefix)
        settings = []
        if self.max_streams is not None:
            settings.append("http2_max_concurrent_streams %d;" % self.max_streams)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = _H2_CONF.format(prefix=self.prefix, host=HOST, port=self.port,
                               tls_port=self.tls_port, cert=self.cert, key=self.key,
                               user=user, log_format=H2_LOG_FORMAT,
                               max_requests=(1000000 if self.max_requests is None
                                             else self.max_requests),
                               http2_settings="\n    ".join(settings),
                               locations=_LOCATIONS + self.extra_locations + (
                                   "\n        location /stuck { proxy_pass http://%s:%d; "
                                   "proxy_read_timeout 300s; }" % (HOST, self.stuck_port)
                                   if self.stuck_port else ""))
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
            wait_for_port(self.tls_port, self.start_timeout_s, self.proc)
        except Exception as e:
            raise RuntimeError("nginx failed to start: %s\n--- stderr ---\n%s\n--- error.log ---\n%s"
                               % (e, self._read("stderr.log"), self._read("error.log"))) from e

    def log_entries(self, tls=False):
        """Parsed access-log lines: NginxServer's keys plus "protocol"."""
        entries = []
        for line in self._read("access-tls.log" if tls else "access.log").splitlines():
            m = _H2_LOG_RE.match(line)
            if not m:
                raise AssertionError("unparsable access-log line: %r" % line)
            e = m.groupdict()
            e["status"] = int(e["status"])
            e["conn_reqs"] = int(e["conn_reqs"])
            entries.append(e)
        return entries

    def protocols(self, tls=False):
        """{protocol: number of access-log lines}, e.g. {"HTTP/2.0": 1234}."""
        out = {}
        for e in self.log_entries(tls):
            out[e["protocol"]] = out.get(e["protocol"], 0) + 1
        return out


class NghttpdServer:
    """nghttpd (nghttp2's HTTP/2 server) serving files from its own temp
    docroot, h2c with prior knowledge (--no-tls) or h2 over TLS, on a free
    loopback port, stopped by PID. `files` maps a name to its content
    (bytes) or to a size (int: that many bytes of 'x'); /missing is always
    missing (404):

        with NghttpdServer(files={"big": 10 << 20}) as nd:
            ... nd.url("/big"), nd.url("/big", tls=True) with tls=True ...
    """

    def __init__(self, tls=False, files=None, max_streams=None,
                 start_timeout_s=10.0, lifetime_s=MAX_SERVER_LIFETIME):
        self.tls = tls
        self.files = dict(files or {})
        self.max_streams = max_streams
        self.start_timeout_s = start_timeout_s
        self.lifetime_s = lifetime_s
        self.dir = None
        self.port = None
        self.proc = None
        self._stderr = None
        self._watchdog = None

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
        nghttpd = shutil.which("nghttpd") or "/usr/bin/nghttpd"
        self.dir = tempfile.mkdtemp(prefix="rpcload-nghttpd-")
        docroot = os.path.join(self.dir, "htdocs")
        os.mkdir(docroot)
        for name, content in self.files.items():
            with open(os.path.join(docroot, name), "wb") as f:
                if isinstance(content, int):
                    chunk = b"x" * 65536
                    left = content
                    while left > 0:
                        f.write(chunk[:min(left, len(chunk))])
                        left -= len(chunk)
                else:
                    f.write(content)
        tls_args = []
        if self.tls:
            cert, key = make_self_signed_cert(self.dir)
            tls_args = [key, cert]
        # The kernel's free port may be taken between our probe and
        # nghttpd's bind: try a few times.
        last = None
        for attempt in range(3):
            self.port = free_port()
            argv = [nghttpd, "-a", HOST, "-d", docroot]
            if self.max_streams is not None:
                argv += ["-m", str(self.max_streams)]
            if not self.tls:
                argv.append("--no-tls")
            argv += [str(self.port)] + tls_args
            self._stderr = open(os.path.join(self.dir, "stderr-%d.log" % attempt), "wb")
            self.proc = popen_bounded(argv, stdout=self._stderr, stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.port, self.start_timeout_s, self.proc)
                break
            except Exception as e:  # exited (port taken?) or never listened
                last = e
                stop_process(self.proc)
                self._stderr.close()
                self._stderr = None
                self.proc = None
        else:
            raise RuntimeError("nghttpd failed to start: %s" % last)
        self._watchdog = threading.Timer(self.lifetime_s, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self):
        stop_process(self.proc)

    def stop(self):
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        stop_process(self.proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self.dir and not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def url(self, path="/", tls=None):
        tls = self.tls if tls is None else tls
        if tls and not self.tls:
            raise ValueError("this NghttpdServer was started without tls=True")
        return "%s://%s:%d%s" % ("https" if tls else "http", HOST, self.port, path)


# ---- Fault injection: servers that misbehave on purpose ---------------------
# (tests/integration/test_faults.py, tests/soak/)

def kill_server(server):
    """kill -9 an NginxServer or NginxH2Server (its master and worker: the
    process group popen_bounded made), as a crash would: no connection is
    closed gracefully. Its prefix, config and access logs stay, for
    restart_server()."""
    proc = server.proc
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def restart_server(server, start_timeout_s=10.0):
    """Start a killed NginxServer or NginxH2Server again on the same ports
    with the same config; it appends to the same access logs, so count()
    covers both lives. Call it from the test's own thread: the server dies
    with the thread that started it (PR_SET_PDEATHSIG is per thread)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    pid_file = os.path.join(server.prefix, "nginx.pid")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)
    server.proc = popen_bounded(
        [nginx, "-p", server.prefix, "-e", os.path.join(server.prefix, "error.log"),
         "-c", server.conf_path, "-g", "daemon off;"],
        stdout=server._stderr, stderr=subprocess.STDOUT)
    # The old listener may linger a moment after the kill (bind: EADDRINUSE
    # makes nginx retry for a while by itself).
    wait_for_port(server.port, start_timeout_s, server.proc)
    if getattr(server, "tls_port", None):
        wait_for_port(server.tls_port, start_timeout_s, server.proc)


def _http_requests(buf):
    """Split whole HTTP/1.1 requests (no bodies: GETs) off buf. Returns
    (count, rest)."""
    n = 0
    while True:
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return n, buf
        buf = buf[i + 4:]
        n += 1


class ResetServer(_SelectorTcpServer):
    """HTTP/1.1 on a selector: answers requests 200 "ok", but every
    `every`-th request it reads (counted over the server's life) is answered
    with a TCP reset instead (SO_LINGER 0, then close). `answered` and
    `reset` count them."""

    thread_name = "reset-server"

    def __init__(self, every=3, lifetime_s=MAX_SERVER_LIFETIME):
        super().__init__(lifetime_s)
        self.every = every
        self.answered = 0
        self.reset = 0
        self._bufs = {}

    def url(self, path="/r"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def on_close(self, conn):
        self._bufs.pop(conn, None)

    def on_data(self, conn, data):
        n, self._bufs[conn] = _http_requests(self._bufs.get(conn, b"") + data)
        for _ in range(n):
            if (self.answered + self.reset + 1) % self.every == 0:
                self.reset += 1
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                b"\x01\x00\x00\x00\x00\x00\x00\x00")
                # shutdown(RD): the selector loop reads EOF and closes the
                # socket itself, and that close (linger 0) is the reset.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RD)
                self._bufs[conn] = b""
                return
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                self.answered += 1
            except OSError:
                return


class _ThreadedTcpServer:
    """A TCP server on 127.0.0.1 with a thread per connection, for servers
    that take their time (handle(conn) in a subclass, returning when done);
    every thread is bounded by the server's lifetime and stop()."""

    thread_name = "threaded-tcp"

    def __init__(self, lifetime_s=MAX_SERVER_LIFETIME):
        self.lifetime_s = lifetime_s
        self.port = None
        self.accepted = 0
        self.stopping = threading.Event()
        self._sock = None
        self._thread = None
        self._lock = threading.Lock()
        self._deadline = None

    def __enter__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self._sock.listen(1024)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._deadline = time.monotonic() + self.lifetime_s
        self._thread = threading.Thread(target=self._accept, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return False

    def alive(self):
        return not self.stopping.is_set() and time.monotonic() < self._deadline

    def _accept(self):
        try:
            while self.alive():
                try:
                    c, _ = self._sock.accept()
                except (socket.timeout, BlockingIOError, InterruptedError):
                    continue
                with self._lock:
                    self.accepted += 1
                threading.Thread(target=self._serve, args=(c,), daemon=True).start()
        finally:
            self._sock.close()

    def _serve(self, conn):
        try:
            conn.settimeout(0.2)
            self.handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def recv_request(self, conn, buf=b""):
        """Read until one whole request head is in (bounded by stop()).
        Returns (True, rest) or (False, b"") when the peer left."""
        while self.alive():
            n, rest = _http_requests(buf)
            if n:
                return True, rest
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return False, b""
            buf += data
        return False, b""

    def handle(self, conn):
        raise NotImplementedError


class SlowlorisServer(_ThreadedTcpServer):
    """HTTP/1.1 that answers each request one byte a second (`interval_s`):
    a 200 with a 20-byte body, some 60 bytes in all. `requests` counts the
    requests read, `completed` the answers sent whole."""

    thread_name = "slowloris"
    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"s" * 20

    def __init__(self, interval_s=1.0, lifetime_s=MAX_SERVER_LIFETIME):
        super().__init__(lifetime_s)
        self.interval_s = interval_s
        self.requests = 0
        self.completed = 0

    def url(self, path="/slow"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def handle(self, conn):
        buf = b""
        while self.alive():
            ok, buf = self.recv_request(conn, buf)
            if not ok:
                return
            with self._lock:
                self.requests += 1
            for i in range(len(self.ANSWER)):
                if not self.alive():
                    return
                conn.sendall(self.ANSWER[i:i + 1])
                # Waits on the stop event: a stop ends it at once.
                self.stopping.wait(self.interval_s)
            with self._lock:
                self.completed += 1


def h2_skip_reason():
    """Why GoawayH2Server cannot run here, or None."""
    try:
        import h2.connection  # noqa: F401  (Debian's python3-h2)
    except ImportError:
        return "python3-h2 is missing (scripts/setup.sh installs it)"
    return None


class GoawayH2Server(_ThreadedTcpServer):
    """HTTP/2 with prior knowledge (h2c), by Debian's python3-h2: answers the
    first request of each connection 200 "ok", then sends GOAWAY naming it
    as the last stream processed and closes the connection. Streams the
    client opened after it are never processed (the client must send them
    again elsewhere). `answered` counts the 200s, `goaways` the GOAWAYs,
    `ignored` the streams GOAWAY refused."""

    thread_name = "goaway-h2"

    def __init__(self, lifetime_s=MAX_SERVER_LIFETIME):
        super().__init__(lifetime_s)
        self.answered = 0
        self.goaways = 0
        self.ignored = 0

    def url(self, path="/g"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def handle(self, conn):
        import h2.config
        import h2.connection
        import h2.events
        h2c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2c.initiate_connection()
        conn.sendall(h2c.data_to_send())
        answered = None
        while self.alive():
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            for ev in h2c.receive_data(data):
                if not isinstance(ev, h2.events.RequestReceived):
                    continue
                if answered is not None:
                    with self._lock:
                        self.ignored += 1
                    continue
                answered = ev.stream_id
                h2c.send_headers(ev.stream_id, [(":status", "200"), ("content-length", "2")])
                h2c.send_data(ev.stream_id, b"ok", end_stream=True)
                h2c.close_connection(last_stream_id=ev.stream_id)
                with self._lock:
                    self.answered += 1
                    self.goaways += 1
            out = h2c.data_to_send()
            if out:
                conn.sendall(out)
            if answered is not None:
                # Let the client read the answer and the GOAWAY, then go.
                self.stopping.wait(0.05)
                return


class TruncatedTlsServer(_ThreadedTcpServer):
    """TLS cut short. mode "handshake": reads the ClientHello and answers
    with the start of a TLS handshake record (its header promises 512 bytes,
    16 come), then closes. mode "body": a real TLS server (a self-signed
    certificate in `directory`) that answers each request with a
    Content-Length of 1000 and 10 bytes of body, then closes the TCP
    connection without TLS's close_notify. `requests` counts the requests
    (mode body) or ClientHellos (mode handshake) read."""

    thread_name = "truncated-tls"

    def __init__(self, directory, mode="body", lifetime_s=MAX_SERVER_LIFETIME):
        super().__init__(lifetime_s)
        if mode not in ("body", "handshake"):
            raise ValueError("mode is body or handshake")
        self.mode = mode
        self.requests = 0
        self.cert, self.key = make_self_signed_cert(directory)
        import ssl
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(self.cert, self.key)

    def url(self, path="/t"):
        return "https://%s:%d%s" % (HOST, self.port, path)

    def handle(self, conn):
        if self.mode == "handshake":
            conn.settimeout(5.0)
            if conn.recv(65536):
                with self._lock:
                    self.requests += 1
                # handshake record, TLS 1.2, 512 bytes promised; 16 sent.
                conn.sendall(b"\x16\x03\x03\x02\x00" + b"\x02" + b"\x00" * 15)
            return
        conn.settimeout(5.0)
        tls = self._ctx.wrap_socket(conn, server_side=True)
        try:
            tls.settimeout(0.2)
            ok, _ = self.recv_request(tls)
            if not ok:
                return
            with self._lock:
                self.requests += 1
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            # Close the TCP connection under TLS: no close_notify.
            conn.shutdown(socket.SHUT_RDWR)
        finally:
            tls.close()
