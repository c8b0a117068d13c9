"""Stats snapshots shaped like Locust's RequestStats and StatsEntry.

Every read of env.stats takes a fresh snapshot (rl_env_stats: a copy of
the run's merged stats, within the last second while a test runs, final
after runner.stop() or runner.quit()). One RequestStats object is one
snapshot: its total, entries, errors and history agree with each other,
and its figures never change. Keep the object to read several figures of
the same moment:

    s = env.stats
    s.total.num_requests, s.entries[("/hello", "GET")].num_failures

The snapshot's memory is the library's, freed when the last object that
reads it (the RequestStats or one of its entries) is gone.
"""

import collections

from . import _lib

# An error row (Locust's StatsError): method, name, error text, count.
StatsError = collections.namedtuple("StatsError", "method name error occurrences")


class _Snapshot:
    """Owns one rl_stats copy (NULL before any run: every figure 0)."""

    def __init__(self, lib, ptr):
        self.lib = lib
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            self.lib.rl_stats_free(self.ptr)
            self.ptr = None


class StatsEntry:
    """One (method, name) row, or the "Aggregated" total; Locust's
    StatsEntry figures, times in milliseconds."""

    def __init__(self, snap, ptr, name=None, method=None):
        self._snap = snap  # keeps the snapshot alive
        self._p = ptr
        lib = snap.lib
        self.name = _lib.text(lib.rl_entry_name(ptr)) if ptr else name
        self.method = _lib.text(lib.rl_entry_type(ptr)) if ptr else method

    def _f(self, fn, default=0):
        return getattr(self._snap.lib, fn)(self._p) if self._p else default

    @property
    def num_requests(self):
        return self._f("rl_entry_num_requests")

    @property
    def num_failures(self):
        return self._f("rl_entry_num_failures")

    @property
    def fail_ratio(self):
        n = self.num_requests
        return self.num_failures / n if n else 0.0

    @property
    def avg_response_time(self):
        return self._f("rl_entry_avg_ms", 0.0)

    @property
    def min_response_time(self):
        """None before the first request, as Locust has it."""
        return self._f("rl_entry_min_ms") if self.num_requests else None

    @property
    def max_response_time(self):
        return self._f("rl_entry_max_ms", 0.0)

    @property
    def median_response_time(self):
        return self._f("rl_entry_median_ms", 0.0)

    def get_response_time_percentile(self, percent):
        """The response time (ms) under which `percent` (0..1, e.g. 0.95) of
        the requests fall: 3 significant digits, never above the max."""
        if not self._p:
            return 0.0
        return self._snap.lib.rl_entry_percentile_ms(self._p, float(percent))

    @property
    def total_response_time(self):
        """The sum of the response times (ms), from the average."""
        return self.avg_response_time * self.num_requests

    @property
    def avg_content_length(self):
        return self._f("rl_entry_avg_content_length", 0.0)

    @property
    def total_content_length(self):
        return round(self.avg_content_length * self.num_requests)

    @property
    def total_rps(self):
        """Requests per second over the test (Locust's total_rps)."""
        return self._f("rl_entry_rps", 0.0)

    @property
    def total_fail_per_sec(self):
        return self._f("rl_entry_fail_per_s", 0.0)

    def __repr__(self):
        return "<StatsEntry %s %s requests=%d failures=%d>" % (
            self.method, self.name, self.num_requests, self.num_failures)


class RequestStats:
    """One snapshot of an environment's stats (Locust's RequestStats)."""

    def __init__(self, lib, ptr):
        self._snap = _Snapshot(lib, ptr)
        if ptr:
            self.total = StatsEntry(self._snap, lib.rl_stats_total(ptr))
            self.total.method = ""  # Locust's total has no method
        else:
            self.total = StatsEntry(self._snap, None, "Aggregated", "")
        self._entries = None
        self._errors = None
        self._history = None

    @property
    def entries(self):
        """{(name, method): StatsEntry}, as Locust keys them, in Locust's
        order (by name, then method)."""
        if self._entries is None:
            out = {}
            p = self._snap.ptr
            if p:
                lib = self._snap.lib
                for i in range(lib.rl_stats_count(p)):
                    e = StatsEntry(self._snap, lib.rl_stats_at(p, i))
                    out[(e.name, e.method)] = e
            self._entries = out
        return self._entries

    def get(self, name, method):
        """The entry for (name, method); an empty one (every figure 0) when
        there is none yet, as Locust's get makes one."""
        return self.entries.get((name, method)) or StatsEntry(self._snap, None, name, method)

    @property
    def num_requests(self):
        return self.total.num_requests

    @property
    def num_failures(self):
        return self.total.num_failures

    @property
    def errors(self):
        """{(method, name, error): StatsError}, Locust's failures table
        (Locust keys it by a hash of the three; the tuple is the same key,
        readable)."""
        if self._errors is None:
            out = {}
            p = self._snap.ptr
            if p:
                lib = self._snap.lib
                t, n, e = _lib.c_char_p(), _lib.c_char_p(), _lib.c_char_p()
                occ = _lib.c_u64()
                for i in range(lib.rl_stats_error_count(p)):
                    if lib.rl_stats_error_at(p, i, _lib.ctypes.byref(t), _lib.ctypes.byref(n),
                                             _lib.ctypes.byref(e), _lib.ctypes.byref(occ)):
                        continue
                    row = StatsError(_lib.text(t.value), _lib.text(n.value),
                                     _lib.text(e.value), occ.value)
                    out[(row.method, row.name, row.error)] = row
            self._errors = out
        return self._errors

    @property
    def history(self):
        """A row a second (the --csv history's Aggregated rows), as dicts
        with Locust's stats_history keys (current_rps, current_fail_per_sec,
        response_time_percentile_50/_95, user_count) plus time (Unix
        seconds: Locust has "HH:MM:SS"), total_avg_response_time and the
        running num_requests and num_failures."""
        if self._history is None:
            out = []
            p = self._snap.ptr
            if p:
                lib = self._snap.lib
                row = _lib.HistoryRow()
                for i in range(lib.rl_stats_history_count(p)):
                    if lib.rl_stats_history_at(p, i, _lib.ctypes.byref(row)):
                        continue
                    out.append({
                        "time": row.unix_time,
                        "user_count": row.users,
                        "current_rps": row.rps,
                        "current_fail_per_sec": row.fail_per_s,
                        "response_time_percentile_50": row.p50_ms,
                        "response_time_percentile_95": row.p95_ms,
                        "total_avg_response_time": row.avg_ms,
                        "num_requests": row.num_requests,
                        "num_failures": row.num_failures,
                    })
            self._history = out
        return self._history
