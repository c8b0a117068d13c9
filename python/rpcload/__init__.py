"""rpcload as a Python library, shaped like Locust's library use
(docs/python.md):

    import rpcload
    env = rpcload.Environment(scenario="shop.yaml")
    env.create_web_ui("127.0.0.1", 8089)
    env.runner.start(100, spawn_rate=10); env.runner.greenlet_join(timeout=60); env.runner.quit()
    print(env.stats.total.num_requests, env.stats.total.get_response_time_percentile(0.95))

The load runs in C (librpcload, through ctypes); Python steers it, reads
its stats and hears its events (env.events: Locust's hooks). The library
is found on first use: $RPCLOAD_LIBRARY, else beside the installed
package, else a source checkout's build/, else the system's
(rpcload._lib explains).
"""

from . import _lib
from .env import Environment, LocalRunner, WebUI
from .errors import RequestError, RpcloadError
from .events import EventHook, Events, ReportRow
from .stats import RequestStats, StatsEntry, StatsError

API_MAJOR = _lib.API_MAJOR

__all__ = [
    "Environment", "LocalRunner", "WebUI", "RpcloadError", "RequestError", "EventHook",
    "Events", "ReportRow", "RequestStats", "StatsEntry", "StatsError", "api_version",
    "library_path", "version",
]


def api_version():
    """The loaded library's API version as (major, minor)."""
    v = _lib.load().rl_api_version()
    return (v >> 16, v & 0xFFFF)


def version():
    """The loaded library's release ("0.1.0")."""
    return _lib.text(_lib.load().rl_version())


def library_path():
    """The librpcload file in use (loading it if need be)."""
    return _lib.library_path()


def __getattr__(name):
    # __version__ is the library's release: asked for, it loads it.
    if name == "__version__":
        return version()
    raise AttributeError("module 'rpcload' has no attribute %r" % name)
