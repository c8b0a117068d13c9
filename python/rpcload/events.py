"""Locust's event hooks on an rpcload environment (env.events).

Each hook keeps Locust's shape: add_listener(fn) (usable as a decorator),
remove_listener(fn), and listeners called with keyword arguments, so a
Locust listener `def on_request(request_type, name, response_time,
response_length, exception, context, **kw)` runs unchanged.

All of an environment's Python listeners become ONE listener of the
library (<rpcload/listener.h>'s descriptor, built here in ctypes), added
when the run is set up: the first env.runner.start() or env.create_web_ui().
A hook with no listener then has no callback in the descriptor, so it
costs the run nothing; adding a listener afterwards raises RpcloadError.

Threads: `request` is called on the library's worker threads, once per
request, each call taking the GIL: this is the SLOW path (a few
microseconds of Python per request, and the workers wait on one another
for the GIL). `report` is the fast path: once a second, on the run's main
thread, with what each (method, name) row added. Every other hook is
called on the run's main thread (or, for quitting, on the thread that
calls env.runner.quit()).
"""

import collections
import ctypes
import logging
import threading
import time
import traceback
import weakref

from . import _lib
from .errors import ERR_BUSY, RequestError, RpcloadError

log = logging.getLogger("rpcload")

# Set while a library thread runs the Python listeners: the runner's
# steering calls (start, stop, quit) made from a listener hand themselves
# to a thread of their own, since the library would wait for this very
# thread to finish them.
_in_listener = threading.local()


def in_listener():
    """True inside a listener the library called."""
    return getattr(_in_listener, "active", False)

# One row of the per-second report: what the second added to an entry.
# Times in ms, lengths in bytes, named as Locust's StatsEntry names them.
ReportRow = collections.namedtuple(
    "ReportRow", "method name num_requests num_failures total_response_time total_content_length")


class EventHook:
    """One event: its listeners, called in the order they were added."""

    def __init__(self, name, events):
        self.name = name
        self._events = events
        self._handlers = []

    def add_listener(self, handler):
        """Adds `handler` (returned, so this works as a decorator). Raises
        RpcloadError once the run is set up: the library's listener is
        made then, from the listeners there are."""
        if self._events._sealed:
            raise RpcloadError(
                "events.%s.add_listener: listeners are added before the run is set up "
                "(the first runner.start() or create_web_ui())" % self.name,
                code=ERR_BUSY)
        self._handlers.append(handler)
        return handler

    def remove_listener(self, handler):
        self._handlers.remove(handler)

    def fire(self, **kwargs):
        """Calls every listener with these keyword arguments. A listener
        that raises is logged (as Locust does) and counted in
        env.events.unhandled_exceptions; the others still run."""
        for handler in list(self._handlers):
            try:
                handler(**kwargs)
            except Exception:
                self._events._unhandled(self.name)

    def __bool__(self):
        return bool(self._handlers)


class Events:
    """The environment's hooks (Locust's names; docs/python.md's table):

    init(environment, runner, web_ui)     the run is set up, before any test
    test_start(environment)               a test starts
    spawning_complete(user_count)         the spawner reached the user count
    request(request_type, name, response_time, response_length, exception,
            context, start_time, response, url)
                                          one finished request (SLOW path)
    user_error(user_instance, exception, tb, user_id, user_class,
               request_type, name)        a failed step ended a task or user
    report(environment, unix_time, user_count, rows)
                                          once a second (FAST path)
    test_stop(environment)                the test is over, every request in
    quitting(environment)                 the environment is ending
    """

    _NAMES = ("init", "test_start", "spawning_complete", "request", "user_error",
              "report", "test_stop", "quitting")

    def __init__(self):
        self._sealed = False
        self.unhandled_exceptions = 0
        for name in self._NAMES:
            setattr(self, name, EventHook(name, self))

    def _unhandled(self, name):
        self.unhandled_exceptions += 1
        log.error("Uncaught exception in event handler (%s): \n%s", name, traceback.format_exc())


class _Bridge:
    """The library's listener made of an environment's Python hooks: the
    descriptor and its ctypes callbacks, kept alive (the library borrows
    them) for as long as the environment exists."""

    def __init__(self, env):
        self._env = weakref.ref(env)
        self._events = env.events
        ev = self._events
        # A failing request listener's text must live until the next call
        # on the same worker thread: one buffer per worker.
        self._fail_text = {}
        d = _lib.Listener()
        d.abi_version = _lib.LISTENER_ABI
        d.struct_size = ctypes.sizeof(_lib.Listener)
        d.name = b"python"
        d.version = b"1.0"
        d.summary = b"the rpcload Python module's event hooks"
        keep = []

        def set_cb(field, fntype, fn):
            cb = fntype(fn)
            keep.append(cb)
            setattr(d, field, cb)

        if ev.init:
            set_cb("init", _lib.INIT_FN, self._init)
        if ev.test_start:
            set_cb("test_start", _lib.STATE_FN, self._test_start)
        if ev.spawning_complete:
            set_cb("spawning_complete", _lib.SPAWNED_FN, self._spawning_complete)
        if ev.test_stop:
            set_cb("test_stop", _lib.STATE_FN, self._test_stop)
        if ev.quitting:
            set_cb("quitting", _lib.STATE_FN, self._quitting)
        if ev.request:
            set_cb("on_request", _lib.ON_REQUEST_FN, self._on_request)
        if ev.user_error:
            set_cb("user_error", _lib.USER_ERROR_FN, self._user_error)
        if ev.report:
            set_cb("report", _lib.REPORT_FN, self._report)
        self.descriptor = d
        self._callbacks = keep
        self.empty = not keep

    # Every callback: nothing may escape into ctypes (it would print and
    # carry on with a default result); EventHook.fire catches the
    # listeners' exceptions, this guards the package's own code.

    def _init(self, host, options, n_options, state, err, errlen):
        env = self._env()
        _in_listener.active = True
        try:
            state[0] = None
            if env is not None:
                self._events.init.fire(environment=env, runner=env.runner, web_ui=env.web_ui)
        except Exception:
            self._events._unhandled("init")
        finally:
            _in_listener.active = False
        return 0

    def _main_event(self, _event, **kwargs):
        # `_event`: the hook's name; "name" is one of user_error's kwargs.
        env = self._env()
        if env is None:
            return
        _in_listener.active = True
        try:
            getattr(self._events, _event).fire(**kwargs)
        except Exception:
            self._events._unhandled(_event)
        finally:
            _in_listener.active = False

    def _test_start(self, state):
        self._main_event("test_start", environment=self._env())

    def _spawning_complete(self, state, user_count):
        self._main_event("spawning_complete", user_count=int(user_count))

    def _test_stop(self, state):
        self._main_event("test_stop", environment=self._env())

    def _quitting(self, state):
        self._main_event("quitting", environment=self._env())

    def _on_request(self, thread_ctx, evp):
        _in_listener.active = True
        try:
            e = evp.contents
            error = _lib.text(e.error)
            # The event's clock is CLOCK_MONOTONIC, as time.monotonic_ns():
            # Locust's start_time is wall-clock seconds.
            start_time = time.time() - (time.monotonic_ns() - e.start_ns) / 1e9
            context = {"user_class": _lib.text(e.user_class), "user_id": e.user_id,
                       "worker": e.worker}
            kwargs = {
                "request_type": _lib.text(e.type),
                "name": _lib.text(e.name),
                "response_time": e.response_time_ns / 1e6,
                "response_length": e.response_length,
                "exception": RequestError(error) if error is not None else None,
                "context": context,
                "start_time": start_time,
                "response": None,
                "url": None,
            }
            failed = None
            for handler in list(self._events.request._handlers):
                try:
                    out = handler(**kwargs)
                except Exception:
                    self._events._unhandled("request")
                    continue
                if isinstance(out, str) and out:
                    # rpcload's listener ABI: a text fails the request, and
                    # the listeners after this one see it failed.
                    failed = out
                    kwargs["exception"] = RequestError(out)
            if failed is None:
                return None
            buf = ctypes.create_string_buffer(failed.encode("utf-8", "replace"))
            self._fail_text[e.worker] = buf  # each worker its own key
            return ctypes.addressof(buf)
        except Exception:
            self._events._unhandled("request")
            return None
        finally:
            _in_listener.active = False

    def _user_error(self, state, ep):
        try:
            e = ep.contents
            self._main_event("user_error", user_instance=None,
                             exception=RequestError(_lib.text(e.error)), tb=None,
                             user_id=e.user_id, user_class=_lib.text(e.user_class),
                             request_type=_lib.text(e.type), name=_lib.text(e.name))
        except Exception:
            self._events._unhandled("user_error")

    def _report(self, state, rp):
        try:
            r = rp.contents
            rows = [ReportRow(_lib.text(x.type), _lib.text(x.name), x.num_requests,
                              x.num_failures, x.total_response_time_ns / 1e6, x.response_bytes)
                    for x in (r.rows[i] for i in range(r.n_rows))]
            self._main_event("report", environment=self._env(), unix_time=r.unix_time,
                             user_count=int(r.user_count), rows=rows)
        except Exception:
            self._events._unhandled("report")
