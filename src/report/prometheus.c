/* The Prometheus text exposition (see prometheus.h for the contract). */
#include "report/prometheus.h"

#include <string.h>

#include <rpcload/plugin.h>

#include "engine/runner.h"
#include "stats/histogram.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

/* 1-2.5-5 steps: fine enough where loopback and LAN latencies live (tens
 * of microseconds to milliseconds), coarse where only timeouts are. */
const uint64_t rl__report_prometheus_bounds_ns[RL__REPORT_PROMETHEUS_NBOUNDS] =
    {100 * US, 250 * US,  500 * US, 1 * MS,   2500 * US, 5 * MS,
     10 * MS,  25 * MS,   50 * MS,  100 * MS, 250 * MS,  500 * MS,
     1 * SEC,  2500 * MS, 5 * SEC,  10 * SEC, 30 * SEC,  60 * SEC};
const char
    *const rl__report_prometheus_bounds_text[RL__REPORT_PROMETHEUS_NBOUNDS] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
        "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
        "1",      "2.5",     "5",      "10",    "30",     "60"};

/* Length of the valid UTF-8 sequence at `p` (at most `n` bytes), or 0 when
 * it is not one (overlong forms, surrogates and values past U+10FFFF are
 * not). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  unsigned cp = c & (0x3fu >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

void rl__report_prometheus_label_value(FILE *out, const char *s) {
  if (!s)
    return;
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  while (n > 0) {
    if (*p == '\\' || *p == '"' || *p == '\n') {
      fputc('\\', out);
      fputc(*p == '\n' ? 'n' : *p, out);
      p++;
      n--;
      continue;
    }
    size_t len = utf8_seq(p, n);
    if (len == 0) {
      fputs("\xef\xbf\xbd", out); /* U+FFFD for the one bad byte */
      len = 1;
    } else {
      fwrite(p, 1, len, out);
    }
    p += len;
    n -= len;
  }
}

/* {method="...",name="..."} without the braces. */
static void entry_labels(FILE *out, const char *type, const char *name) {
  fputs("method=\"", out);
  rl__report_prometheus_label_value(out, type);
  fputs("\",name=\"", out);
  rl__report_prometheus_label_value(out, name);
  fputc('"', out);
}

static void header(FILE *out, const char *metric, const char *type,
                   const char *help) {
  fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

typedef void (*entry_value_fn)(FILE *out, const rl__stats_entry *e,
                               rl__stats_window w);

static void v_requests(FILE *out, const rl__stats_entry *e,
                       rl__stats_window w) {
  (void)w;
  fprintf(out, "%llu", (unsigned long long)e->num_requests);
}
static void v_failures(FILE *out, const rl__stats_entry *e,
                       rl__stats_window w) {
  (void)w;
  fprintf(out, "%llu", (unsigned long long)e->num_failures);
}
static void v_bytes(FILE *out, const rl__stats_entry *e, rl__stats_window w) {
  (void)w;
  fprintf(out, "%llu", (unsigned long long)e->bytes);
}
static void v_rps(FILE *out, const rl__stats_entry *e, rl__stats_window w) {
  fprintf(out, "%.17g", rl__stats_entry_current_rps(e, w));
}
static void v_fps(FILE *out, const rl__stats_entry *e, rl__stats_window w) {
  fprintf(out, "%.17g", rl__stats_entry_current_fps(e, w));
}

/* One metric family with one sample per entry. */
static void per_entry(FILE *out, const rl__stats_entry *const *entries,
                      size_t n, rl__stats_window w, const char *metric,
                      const char *type, const char *help, entry_value_fn v) {
  header(out, metric, type, help);
  for (size_t i = 0; i < n; i++) {
    fprintf(out, "%s{", metric);
    entry_labels(out, entries[i]->type, entries[i]->name);
    fputs("} ", out);
    v(out, entries[i], w);
    fputc('\n', out);
  }
}

/* Counts per bound (not yet cumulative); the last slot is +Inf's. */
typedef struct bucket_counts {
  uint64_t n[RL__REPORT_PROMETHEUS_NBOUNDS + 1];
} bucket_counts;

static int add_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)lo;
  bucket_counts *b = arg;
  size_t i = 0;
  while (i < RL__REPORT_PROMETHEUS_NBOUNDS &&
         hi > rl__report_prometheus_bounds_ns[i])
    i++;
  b->n[i] += count;
  return 0;
}

static void histogram(FILE *out, const rl__stats_entry *e) {
  static const char metric[] = "rpcload_response_time_seconds";
  bucket_counts b;
  memset(&b, 0, sizeof b);
  rl__histogram_foreach(&e->hist, add_bucket, &b);
  uint64_t cum = 0;
  for (size_t i = 0; i <= RL__REPORT_PROMETHEUS_NBOUNDS; i++) {
    cum += b.n[i];
    fprintf(out, "%s_bucket{", metric);
    entry_labels(out, e->type, e->name);
    fprintf(out, ",le=\"%s\"} %llu\n",
            i < RL__REPORT_PROMETHEUS_NBOUNDS
                ? rl__report_prometheus_bounds_text[i]
                : "+Inf",
            (unsigned long long)cum);
  }
  fprintf(out, "%s_sum{", metric);
  entry_labels(out, e->type, e->name);
  fprintf(out, "} %.9f\n", (double)e->total_ns / 1e9);
  fprintf(out, "%s_count{", metric);
  entry_labels(out, e->type, e->name);
  fprintf(out, "} %llu\n", (unsigned long long)cum);
}

int rl__report_prometheus_write(FILE *out, rl__stats *s,
                                const rl__report_prometheus_info *info) {
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  rl__stats_window now = info->window;
  per_entry(out, entries, n, now, "rpcload_requests_total", "counter",
            "Requests finished (successes and failures).", v_requests);
  per_entry(out, entries, n, now, "rpcload_failures_total", "counter",
            "Requests that failed.", v_failures);
  per_entry(out, entries, n, now, "rpcload_response_bytes_total", "counter",
            "Bytes of the responses.", v_bytes);
  per_entry(out, entries, n, now, "rpcload_current_rps", "gauge",
            "Requests per second over the last 10 seconds.", v_rps);
  per_entry(out, entries, n, now, "rpcload_current_fail_per_sec", "gauge",
            "Failures per second over the last 10 seconds.", v_fps);
  header(out, "rpcload_response_time_seconds", "histogram",
         "Response times, from the intended start of each request.");
  for (size_t i = 0; i < n; i++)
    histogram(out, entries[i]);

  const rl__stats_error **errors;
  size_t nerr = rl__stats_errors(s, &errors);
  header(out, "rpcload_errors_total", "counter",
         "Failures grouped by error text.");
  for (size_t i = 0; i < nerr; i++) {
    fputs("rpcload_errors_total{", out);
    entry_labels(out, errors[i]->type, errors[i]->name);
    fputs(",error=\"", out);
    /* The row past the cap: a label that does not change with its count
     * (a new series every scrape otherwise). */
    rl__report_prometheus_label_value(out, errors[i]->other ? "(other errors)"
                                                            : errors[i]->error);
    fprintf(out, "\"} %llu\n", (unsigned long long)errors[i]->occurrences);
  }

  header(out, "rpcload_users", "gauge", "Users asked for now.");
  fprintf(out, "rpcload_users %u\n", info->users);
  header(out, "rpcload_state", "gauge",
         "The run's state: 1 for the current one.");
  for (int st = RL__STATE_READY; st <= RL__STATE_ENDING; st++)
    fprintf(out, "rpcload_state{state=\"%s\"} %d\n", rl__run_state_name(st),
            st == info->state);
  return ferror(out) ? RL_ERR_IO : 0;
}
