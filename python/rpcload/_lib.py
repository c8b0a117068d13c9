"""ctypes bindings of librpcload: where the library is, its structs and its
functions' prototypes (<rpcload/rpcload.h>, API 1.0, and the listener
descriptor of <rpcload/listener.h>, ABI 1.0). Internal to the package.

Where the library is looked for, first found wins:
  1. $RPCLOAD_LIBRARY, a path to librpcload.so(.1): used or refused, never
     skipped;
  2. beside the package when it was installed by `cmake --install` (the
     generated _installed.py says where the library directory is, from the
     package's own folder, so any prefix works);
  3. the build tree of a source checkout (python/rpcload -> build/src/),
     whose plugins are then passed as --plugin-dir (PLUGIN_DIR);
  4. ctypes.util.find_library("rpcload") (ldconfig's cache).
The library's API major must be this module's (API_MAJOR): another is
refused, naming the file and both versions.

Every function is bound through CDLL, which lets go of the GIL for the
call: a call that waits (rl_env_wait, rl_env_stop, rl_env_quit) lets the
library's threads run Python listeners meanwhile.
"""

import ctypes
import ctypes.util
import os
import threading

from .errors import CODES, RpcloadError

API_MAJOR = 1  # RL_API_MAJOR this module is written for
API_MINOR = 0  # the newest minor whose functions it binds
LISTENER_ABI = (1 << 16) | 1  # RL_LISTENER_ABI_VERSION 1.1
RL_CMD_RUN = 0

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_SONAME = "librpcload.so.1"

c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
c_double = ctypes.c_double
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int
POINTER = ctypes.POINTER


# ---- structs (field for field as the headers declare them) ---------------


class ErrorInfo(ctypes.Structure):
    _fields_ = [("code", c_int), ("usage", c_int), ("text", ctypes.c_char * 1024)]


class Kv(ctypes.Structure):
    _fields_ = [("key", c_char_p), ("value", c_char_p)]


class RequestEvent(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_u32),
        ("type", c_char_p),
        ("name", c_char_p),
        ("response_time_ns", c_u64),
        ("response_length", c_u64),
        ("error", c_char_p),
        ("user_id", c_u64),
        ("user_class", c_char_p),
        ("worker", c_u32),
        ("start_ns", c_u64),
        # listener ABI 1.1: the response, for a listener that asks for it
        ("has_response", c_int),
        ("status", c_int),
        ("body", ctypes.c_void_p),
        ("body_len", ctypes.c_size_t),
        ("body_cut", c_int),
        ("headers", ctypes.c_void_p),
        ("n_headers", ctypes.c_size_t),
    ]


class UserError(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_u32),
        ("user_id", c_u64),
        ("user_class", c_char_p),
        ("type", c_char_p),
        ("name", c_char_p),
        ("error", c_char_p),
    ]


class ReportRow(ctypes.Structure):
    _fields_ = [
        ("type", c_char_p),
        ("name", c_char_p),
        ("num_requests", c_u64),
        ("num_failures", c_u64),
        ("total_response_time_ns", c_u64),
        ("response_bytes", c_u64),
    ]


class Report(ctypes.Structure):
    _fields_ = [
        ("struct_size", c_u32),
        ("unix_time", c_double),
        ("user_count", c_u32),
        ("rows", POINTER(ReportRow)),
        ("n_rows", c_size_t),
    ]


class HistoryRow(ctypes.Structure):
    _fields_ = [
        ("unix_time", c_double),
        ("users", c_u32),
        ("rps", c_double),
        ("fail_per_s", c_double),
        ("p50_ms", c_double),
        ("p95_ms", c_double),
        ("avg_ms", c_double),
        ("num_requests", c_u64),
        ("num_failures", c_u64),
    ]


# The listener's callbacks. Pointers the package does not read (the host
# table, options, the error buffer) stay void *.
INIT_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, POINTER(c_void_p),
                           c_void_p, c_size_t)
STATE_FN = ctypes.CFUNCTYPE(None, c_void_p)
SPAWNED_FN = ctypes.CFUNCTYPE(None, c_void_p, c_u32)
THREAD_NEW_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_u32)
THREAD_DEL_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
# Returns a char * (an error text to fail the request, or NULL): declared
# void * so that ctypes hands back the address of a buffer the package
# keeps alive, not a temporary copy.
ON_REQUEST_FN = ctypes.CFUNCTYPE(c_void_p, c_void_p, POINTER(RequestEvent))
USER_ERROR_FN = ctypes.CFUNCTYPE(None, c_void_p, POINTER(UserError))
REPORT_FN = ctypes.CFUNCTYPE(None, c_void_p, POINTER(Report))


class Listener(ctypes.Structure):
    _fields_ = [
        ("abi_version", c_u32),
        ("struct_size", c_u32),
        ("name", c_char_p),
        ("version", c_char_p),
        ("summary", c_char_p),
        ("init", INIT_FN),
        ("fini", STATE_FN),
        ("test_start", STATE_FN),
        ("spawning_complete", SPAWNED_FN),
        ("test_stop", STATE_FN),
        ("quitting", STATE_FN),
        ("thread_new", THREAD_NEW_FN),
        ("thread_del", THREAD_DEL_FN),
        ("on_request", ON_REQUEST_FN),
        ("user_error", USER_ERROR_FN),
        ("report", REPORT_FN),
        # listener ABI 1.1
        ("wants_response", c_int),
    ]


# ---- functions: name -> (restype, argtypes) ------------------------------

_ERR = POINTER(ErrorInfo)
_FUNCTIONS = {
    "rl_api_version": (c_u32, []),
    "rl_version": (c_char_p, []),
    "rl_options_new": (c_void_p, []),
    "rl_options_free": (None, [c_void_p]),
    "rl_options_set": (c_int, [c_void_p, c_char_p, c_char_p, _ERR]),
    "rl_env_new": (c_int, [c_void_p, POINTER(c_void_p), _ERR]),
    "rl_env_command": (c_int, [c_void_p]),
    "rl_env_start": (c_int, [c_void_p, c_u32, c_double, _ERR]),
    "rl_env_wait": (c_int, [c_void_p, c_double]),
    "rl_env_stop": (c_int, [c_void_p]),
    "rl_env_quit": (c_int, [c_void_p]),
    "rl_env_exit_status": (c_int, [c_void_p]),
    "rl_env_free": (None, [c_void_p]),
    "rl_env_add_listener": (c_int, [c_void_p, POINTER(Listener), POINTER(Kv), c_size_t, _ERR]),
    "rl_env_web_ui": (c_int, [c_void_p, c_char_p, c_int, _ERR]),
    "rl_env_web_ui_port": (c_int, [c_void_p]),
    "rl_env_user_count": (c_u32, [c_void_p]),
    "rl_env_state": (c_char_p, [c_void_p]),
    "rl_env_stats": (c_void_p, [c_void_p]),
    "rl_stats_free": (None, [c_void_p]),
    "rl_stats_total": (c_void_p, [c_void_p]),
    "rl_stats_count": (c_size_t, [c_void_p]),
    "rl_stats_at": (c_void_p, [c_void_p, c_size_t]),
    "rl_entry_type": (c_char_p, [c_void_p]),
    "rl_entry_name": (c_char_p, [c_void_p]),
    "rl_entry_num_requests": (c_u64, [c_void_p]),
    "rl_entry_num_failures": (c_u64, [c_void_p]),
    "rl_entry_avg_ms": (c_double, [c_void_p]),
    "rl_entry_min_ms": (c_double, [c_void_p]),
    "rl_entry_max_ms": (c_double, [c_void_p]),
    "rl_entry_median_ms": (c_double, [c_void_p]),
    "rl_entry_percentile_ms": (c_double, [c_void_p, c_double]),
    "rl_entry_avg_content_length": (c_double, [c_void_p]),
    "rl_entry_rps": (c_double, [c_void_p]),
    "rl_entry_fail_per_s": (c_double, [c_void_p]),
    "rl_stats_error_count": (c_size_t, [c_void_p]),
    "rl_stats_error_at": (c_int, [c_void_p, c_size_t, POINTER(c_char_p), POINTER(c_char_p),
                                  POINTER(c_char_p), POINTER(c_u64)]),
    "rl_stats_history_count": (c_size_t, [c_void_p]),
    "rl_stats_history_at": (c_int, [c_void_p, c_size_t, POINTER(HistoryRow)]),
}

# The library once loaded: (CDLL, path, plugin dir or None).
_loaded = None
_load_lock = threading.Lock()


def _candidates():
    """(path, how it was found, plugin dir) in the order they are tried."""
    env = os.environ.get("RPCLOAD_LIBRARY")
    if env:
        return [(env, "$RPCLOAD_LIBRARY", None)], True
    out = []
    try:
        from . import _installed  # written by cmake --install (cmake/python.cmake)
        libdir = os.path.normpath(os.path.join(_PKG_DIR, _installed.LIBDIR_FROM_PACKAGE))
        out.append((os.path.join(libdir, _SONAME), "installed beside the package", None))
    except ImportError:
        pass
    build = os.path.normpath(os.path.join(_PKG_DIR, "..", "..", "build"))
    out.append((os.path.join(build, "src", _SONAME), "the source tree's build/",
                os.path.join(build, "plugins")))
    found = ctypes.util.find_library("rpcload")
    if found:
        out.append((found, 'ctypes.util.find_library("rpcload")', None))
    return out, False


def _bind(cdll, path):
    for name, (restype, argtypes) in _FUNCTIONS.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            raise RpcloadError("%s has no %s: not a librpcload of API %d" % (path, name, API_MAJOR))
        fn.restype = restype
        fn.argtypes = argtypes


def load():
    """The library (a CDLL with every function bound), loaded on first use.
    Raises RpcloadError naming every place tried, or the version refused."""
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded[0]
        candidates, explicit = _candidates()
        tried = []
        for path, how, plugin_dir in candidates:
            if not explicit and os.path.sep in path and not os.path.exists(path):
                tried.append("%s (%s): no such file" % (path, how))
                continue
            try:
                cdll = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s): %s" % (path, how, e))
                if explicit:
                    break
                continue
            version = cdll.rl_api_version
            version.restype = c_u32
            version.argtypes = []
            v = version()
            if v >> 16 != API_MAJOR:
                raise RpcloadError(
                    "%s (%s) is librpcload API %d.%d; this rpcload module needs API %d.x "
                    "(install the module and the library from the same build)"
                    % (path, how, v >> 16, v & 0xFFFF, API_MAJOR), code=-12)
            _bind(cdll, path)
            if plugin_dir is not None and not os.path.isdir(plugin_dir):
                plugin_dir = None
            _loaded = (cdll, path, plugin_dir)
            return cdll
        raise RpcloadError("librpcload not found; tried: " + "; ".join(tried)
                           + " (set RPCLOAD_LIBRARY to the library's path)", code=-13)


def library_path():
    """The file the library was loaded from (loading it first)."""
    load()
    return _loaded[1]


def plugin_dir():
    """The build tree's plugin folder when the library came from there,
    else None (an installed library finds its plugins itself)."""
    load()
    return _loaded[2]


def text(b):
    """A C string as str (None stays None). Names come from URLs and
    scenario files: bytes that are not UTF-8 are replaced, never fatal."""
    return None if b is None else b.decode("utf-8", "replace")


def check(rc, err, what=None):
    """Raises the library's error for a non-zero rc: err's text (an
    ErrorInfo the call filled), else "WHAT: the code's text"."""
    if rc:
        reason = text(err.text) if err is not None and err.text else None
        if not reason:
            reason = "%s: %s" % (what or "librpcload", CODES.get(rc, ("", "error %d" % rc))[1])
        raise RpcloadError(reason, code=rc, usage=bool(err.usage) if err is not None else False)
