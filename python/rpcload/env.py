"""Environment, its runner and its web UI: Locust's library use on
librpcload (rl_env_*: a steered run on the library's own threads).

    env = rpcload.Environment(scenario="shop.yaml")
    env.create_web_ui("127.0.0.1", 8089)
    env.runner.start(100, spawn_rate=10)
    env.runner.greenlet.join(timeout=60)
    env.runner.quit()
    print(env.stats.total.num_requests, env.stats.total.get_response_time_percentile(0.95))

Threads: the run goes on the library's threads; the calls here may come
from any Python thread. The ones that wait (greenlet.join, stop, quit)
let go of the GIL while they wait, so listeners run meanwhile.
"""

import atexit
import ctypes
import os
import threading
import time
import weakref

from . import _lib
from .errors import ERR_BUSY, ERR_CLOSED, ERR_IO, ERR_TIMEOUT, RpcloadError
from .events import Events, _Bridge, in_listener, log
from .stats import RequestStats

# Environments not yet closed: quit and freed at interpreter exit, while
# Python can still run their listeners (the library's threads call them).
_live = weakref.WeakSet()


def _close_all():
    for env in list(_live):
        env.close()


atexit.register(_close_all)


def _option_values(name, value):
    """What rl_options_set gets for a Python value: a list of values (None
    for a flag set), empty when the option is left out."""
    if value is None or value is False:
        return []
    if value is True:
        return [None]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_option_values(name, v))
        return out
    if isinstance(value, (str, int, float, os.PathLike)) and not isinstance(value, bool):
        return [os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    raise TypeError("option %r: expected a str, number, bool, path or list of them, got %s"
                    % (name, type(value).__name__))


class Environment:
    """A load test's environment (Locust's Environment, rl_env).

    scenario: a scenario file (rpcload -f), or None.
    host:     the target (a URL, or host:port for gRPC), rpcload --host;
              with a scenario, the host its steps are relative to.
    options:  any other option of the rpcload command, by its long name
              without dashes ("_" for "-"): users=10, run_time="30s",
              header=["a: 1", "b: 2"] (a list for a repeatable option),
              insecure=True (a flag), **{"stop-timeout": "5s"}.

    Every option is checked here, with the command line's messages: bad
    options, a bad scenario, a plugin that will not load raise
    RpcloadError with the library's text.
    """

    def __init__(self, scenario=None, host=None, user_classes=None, **options):
        self._env = None  # first: close() works on a half-made one
        lib = _lib.load()
        if user_classes:
            raise RpcloadError(
                "user_classes: Python user classes are not supported; write the users' tasks "
                "in a scenario file (Environment(scenario=...), docs/scenarios.md)")
        self._lib = lib
        self.scenario = os.fspath(scenario) if scenario is not None else None
        self.host = host
        self.options = dict(options)
        given = []
        if scenario is not None:
            given.append(("scenario", self.scenario))
        if host is not None:
            given.append(("host", str(host)))
        plugin_dir = _lib.plugin_dir()
        if plugin_dir:
            given.append(("plugin-dir", plugin_dir))
        for name, value in options.items():
            for v in _option_values(name, value):
                given.append((name, v))
        opts = lib.rl_options_new()
        if not opts:
            raise MemoryError("rl_options_new")
        handle = ctypes.c_void_p()
        err = _lib.ErrorInfo()
        try:
            for name, v in given:
                rc = lib.rl_options_set(opts, name.encode(),
                                        None if v is None else v.encode(), ctypes.byref(err))
                _lib.check(rc, err)
            _lib.check(lib.rl_env_new(opts, ctypes.byref(handle), ctypes.byref(err)), err)
        finally:
            lib.rl_options_free(opts)
        self._env = handle.value
        if lib.rl_env_command(self._env) != _lib.RL_CMD_RUN:
            self.close()
            raise RpcloadError("the options ask for a listing (--help, --version, --plugins, "
                               "--list or --show-task-ratio), not a run: use the rpcload "
                               "command for those", usage=True)
        self._sealed = False
        self._started = False
        self._bridge = None
        # start, stop, quit and close, one at a time: the library's quit
        # and free must not run twice at once.
        self._steer_lock = threading.RLock()
        self._pending_lock = threading.Lock()
        self._pending = set()
        self.events = Events()
        self.runner = LocalRunner(self)
        self.web_ui = None
        _live.add(self)

    def _handle(self):
        if not self._env:
            raise RpcloadError("this environment is closed", code=ERR_CLOSED)
        return self._env

    def _seal(self):
        """The run is about to be set up: the Python hooks become the
        library's listener now, or never."""
        if self._sealed:
            return
        bridge = _Bridge(self)
        if not bridge.empty:
            err = _lib.ErrorInfo()
            rc = self._lib.rl_env_add_listener(self._handle(), ctypes.byref(bridge.descriptor),
                                               None, 0, ctypes.byref(err))
            _lib.check(rc, err)
        self._bridge = bridge  # the library borrows it: kept until rl_env_free
        self._sealed = True
        self.events._sealed = True

    def create_local_runner(self):
        """Locust's create_local_runner: the runner, which always exists."""
        return self.runner

    def create_web_ui(self, host="127.0.0.1", port=8089):
        """Serves the web UI and Locust's HTTP API on host:port (port 0:
        the kernel picks one, web_ui.port says which; host "" for every
        interface, as Locust) until runner.quit(). Sets the run up (the
        listeners are final from here): the page's Start button, or
        runner.start(), starts a test."""
        if self.web_ui is not None:
            raise RpcloadError("the web UI is already served (port %s)" % self.web_ui.port,
                               code=ERR_BUSY)
        self._seal()
        err = _lib.ErrorInfo()
        h = "0.0.0.0" if host == "" else host
        rc = self._lib.rl_env_web_ui(self._handle(), h.encode(), int(port), ctypes.byref(err))
        _lib.check(rc, err)
        self._started = True
        self.web_ui = WebUI(self, h)
        return self.web_ui

    @property
    def stats(self):
        """A fresh snapshot (RequestStats) at each read; see stats.py."""
        ptr = self._lib.rl_env_stats(self._handle())
        if not ptr and self._started:
            raise MemoryError("rl_env_stats: no snapshot")
        return RequestStats(self._lib, ptr)

    @property
    def exit_status(self):
        """What the rpcload command would exit with for this run so far
        (after runner.quit(), the verdict): 0 all good; 1 failures
        (--exit-code-on-error) or no request finished; 2 set-up errors;
        3 a report could not be written."""
        return self._lib.rl_env_exit_status(self._handle())

    def _steer(self, what, fn, *args):
        """Runs a steering call now, or, from inside a listener, on a
        thread of its own (the library waits for the listener's thread to
        carry it out): it then happens shortly after the listener
        returns, and its error, if any, is logged."""
        if not in_listener():
            with self._steer_lock:
                return fn(*args)

        # A request listener may ask on every request until the call is
        # carried out: one thread per kind of call at a time.
        with self._pending_lock:
            if what in self._pending:
                return None
            self._pending.add(what)

        def deferred():
            try:
                with self._steer_lock:
                    with self._pending_lock:
                        self._pending.discard(what)
                    fn(*args)
            except Exception:
                log.exception("%s, called from a listener, failed", what)

        threading.Thread(target=deferred, name="rpcload-" + what, daemon=True).start()
        return None

    def close(self):
        """Quits the run if it goes and frees the environment (its stats
        too). Called at interpreter exit for environments left open."""
        if getattr(self, "_steer_lock", None) is None:  # __init__ failed before it
            if self._env:
                self._lib.rl_env_free(self._env)
                self._env = None
            return
        self._steer("close", self._close)

    def _close(self):
        with self._steer_lock:
            if not self._env:
                return
            if self._started:
                # Quit while the handle is still good: test_stop and
                # quitting listeners may read env.stats.
                self._lib.rl_env_quit(self._env)
            env, self._env = self._env, None
            self._lib.rl_env_free(env)
            _live.discard(self)
            self._bridge = None  # nothing calls it any more

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _RunGreenlet:
    """env.runner.greenlet: Locust's runner greenlet, for its join()."""

    def __init__(self, runner):
        self._runner = runner

    def join(self, timeout=None):
        return self._runner.greenlet_join(timeout)


class LocalRunner:
    """env.runner: starts, changes, stops and quits the environment's
    tests (Locust's LocalRunner)."""

    def __init__(self, env):
        self._envref = weakref.ref(env)
        self.greenlet = _RunGreenlet(self)

    @property
    def environment(self):
        return self._envref()

    def _env(self):
        env = self._envref()
        if env is None:
            raise RpcloadError("the environment is gone", code=ERR_CLOSED)
        return env

    def start(self, user_count, spawn_rate, wait=False):
        """Starts a test with `user_count` users, `spawn_rate` started a
        second, or changes a running test's user count. Returns at once;
        wait=True returns once every user is spawned (or the test ended)."""
        env = self._env()
        if isinstance(user_count, bool) or not isinstance(user_count, int) or user_count < 0:
            raise RpcloadError("runner.start: user_count must be a whole number >= 0, got %r"
                               % (user_count,))
        env._seal()
        spawn_rate = float(spawn_rate)

        def start():
            err = _lib.ErrorInfo()
            rc = env._lib.rl_env_start(env._handle(), user_count, spawn_rate, ctypes.byref(err))
            _lib.check(rc, err)
            env._started = True

        env._steer("start", start)
        if wait and not in_listener():
            # Bounded: the spawn itself, then a margin.
            end = time.monotonic() + user_count / float(spawn_rate) + 10.0
            while self.state == "spawning" and time.monotonic() < end:
                time.sleep(0.02)

    def greenlet_join(self, timeout=None):
        """Waits until the test ends (by its run time, -n, its load shape's
        end, or stop/quit), at most `timeout` seconds (None: no limit).
        True when it has ended, False on the timeout. Waits in slices of
        0.2 s, so Ctrl-C (KeyboardInterrupt) reaches the caller."""
        env = self._env()
        end = None if timeout is None else time.monotonic() + max(0.0, float(timeout))
        while True:
            left = 0.2 if end is None else min(0.2, end - time.monotonic())
            rc = env._lib.rl_env_wait(env._handle(), max(0.0, left))
            if rc == 0:
                return True
            if rc != ERR_TIMEOUT:
                _lib.check(rc, None, "rl_env_wait")
            if end is not None and time.monotonic() >= end:
                return False

    def stop(self):
        """Stops every user (--stop-timeout lets tasks in flight finish)
        and returns when the figures are final; start() may follow. A
        runner with no test running is left as it is."""
        env = self._env()

        def stop():
            rc = env._lib.rl_env_stop(env._handle())
            if rc and rc != ERR_CLOSED:
                _lib.check(rc, None, "runner.stop")

        env._steer("stop", stop)

    def quit(self):
        """Ends the run: stops the users, fires test_stop and quitting,
        stops the web UI and writes the reports the options ask for
        (csv=..., html=..., json_file=...). The stats stay readable.
        RpcloadError when a report could not be written."""
        env = self._env()

        def quit_():
            rc = env._lib.rl_env_quit(env._handle())
            if rc == ERR_IO:
                raise RpcloadError("a report could not be written (the reason is on stderr)",
                                   code=ERR_IO)
            if rc and rc != ERR_CLOSED:
                _lib.check(rc, None, "runner.quit")

        env._steer("quit", quit_)

    @property
    def user_count(self):
        """The users running now."""
        env = self._env()
        return env._lib.rl_env_user_count(env._handle())

    @property
    def state(self):
        """Locust's state names: "ready", "spawning", "running",
        "stopping", "stopped", "quitting"."""
        env = self._env()
        return _lib.text(env._lib.rl_env_state(env._handle()))

    @property
    def stats(self):
        return self._env().stats


class WebUI:
    """env.web_ui: the served web UI (Locust's WebUI)."""

    def __init__(self, env, host):
        self._envref = weakref.ref(env)
        self.host = host

    @property
    def port(self):
        """The port it listens on (the kernel's pick for port 0); None
        once it has stopped (runner.quit())."""
        env = self._envref()
        if env is None or not env._env:
            return None
        p = env._lib.rl_env_web_ui_port(env._env)
        return p if p >= 0 else None
