/*
 * Locust-compatible CSV files (see report_csv.h for the contract).
 *
 * rl__report_csv_tick formats into three memory buffers (history rows to append,
 * the whole _stats.csv, the whole _failures.csv); rl__report_csv_write empties
 * them into the files. The buffers keep their memory from second to
 * second, so a steady run allocates nothing here. _stats.csv and
 * _failures.csv are replaced whole (report/file.h); the history is
 * appended a second's rows at a time, and cut back to its last whole row
 * when a write fails.
 */
#include "report/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "base/buf.h"
#include "base/clock.h"
#include "report/file.h"

#define PERCENTILE_COLUMNS "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"

const char rl__report_csv_stats_header[] =
    "Type,Name,Request Count,Failure Count,Median Response Time,"
    "Average Response Time,Min Response Time,Max Response Time,"
    "Average Content Size,Requests/s,Failures/s," PERCENTILE_COLUMNS "\r\n";
const char rl__report_csv_history_header[] =
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s," PERCENTILE_COLUMNS
    ",Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,"
    "Total Max Response Time,Total Average Content Size\r\n";
const char rl__report_csv_failures_header[] =
    "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n";
const char rl__report_csv_exceptions_header[] =
    "Count,Message,Traceback,Nodes\r\n";

#define NPCT RL__HISTORY_NPCT

enum { F_STATS, F_HISTORY, F_FAILURES, F_EXCEPTIONS, NFILES };
static const char *const suffixes[NFILES] = {
    "_stats.csv", "_stats_history.csv", "_failures.csv", "_exceptions.csv"};

/* ---- fields as Python's csv module writes them --------------------------- */

/* QUOTE_MINIMAL with the excel dialect: quoted when the text holds the
 * delimiter, the quote character or a line-terminator character; quotes
 * inside are doubled. */
static void field_text(rl__buf *b, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    rl__buf_str(b, s);
    return;
  }
  rl__buf_add(b, "\"", 1);
  for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
    rl__buf_add(b, s, (size_t)(q - s) + 1);
    rl__buf_add(b, "\"", 1);
  }
  rl__buf_str(b, s);
  rl__buf_add(b, "\"", 1);
}

/* The p significant digits of v > 0 as Python's repr would take them, and
 * the decimal exponent; 0 when no p-digit decimal reads back as v. The
 * candidate is v correctly rounded; when v is a power of two the interval
 * that reads back as v is twice as wide above v as below, so a rounded
 * value below v that misses may have a neighbour above that does not. */
static int digits_at(double v, int p, char digits[24], long *exp10) {
  char sci[40];
  snprintf(sci, sizeof sci, "%.*e", p - 1, v);
  double back = strtod(sci, NULL);
  /* sci is d[.ddd]e(+|-)XX */
  size_t nd = 0;
  const char *c = sci;
  for (; *c && *c != 'e' && nd + 1 < 24; c++)
    if (*c != '.')
      digits[nd++] = *c;
  digits[nd] = '\0';
  *exp10 = *c == 'e' ? strtol(c + 1, NULL, 10) : 0;
  if (back == v)
    return 1;
  int e2;
  if (back > v || frexp(v, &e2) != 0.5)
    return 0;
  /* The next p-digit decimal up. */
  size_t i = nd;
  while (i > 0 && digits[i - 1] == '9')
    digits[--i] = '0';
  if (i == 0) {
    digits[0] = '1';
    ++*exp10;
  } else {
    digits[i - 1]++;
  }
  snprintf(sci, sizeof sci, "%c.%se%ld", digits[0], digits + 1, *exp10);
  return strtod(sci, NULL) == v;
}

void rl__report_csv_py_float(double v, char *out, size_t len) {
  if (isnan(v)) {
    snprintf(out, len, "nan");
    return;
  }
  if (isinf(v)) {
    snprintf(out, len, "%sinf", v < 0 ? "-" : "");
    return;
  }
  int neg = signbit(v) != 0;
  char digits[24] = "0";
  long exp10 = 0;
  v = fabs(v);
  if (v != 0) {
    /* The fewest digits that read back as v (17 always do): Python's
     * repr. Whenever p digits do, p + 1 do too (the nearest longer
     * decimal on the same side of v is closer still), so the search can
     * halve. */
    int lo = 1, hi = 17;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (digits_at(v, mid, digits, &exp10))
        hi = mid;
      else
        lo = mid + 1;
    }
    digits_at(v, lo, digits, &exp10);
  }
  size_t nd = strlen(digits);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  digits[nd] = '\0';

  /* Python's repr: exponent form below 1e-4 and from 1e16. */
  if (exp10 < -4 || exp10 >= 16) {
    snprintf(out, len, "%s%c%s%se%c%02ld", neg ? "-" : "", digits[0],
             nd > 1 ? "." : "", digits + 1, exp10 < 0 ? '-' : '+',
             exp10 < 0 ? -exp10 : exp10);
    return;
  }
  long decpt = exp10 + 1; /* digits before the point */
  char fixed[48];
  size_t k = 0;
  if (neg)
    fixed[k++] = '-';
  if (decpt <= 0) {
    fixed[k++] = '0';
    fixed[k++] = '.';
    for (long i = 0; i < -decpt; i++)
      fixed[k++] = '0';
    for (size_t i = 0; i < nd; i++)
      fixed[k++] = digits[i];
  } else if ((size_t)decpt >= nd) {
    for (size_t i = 0; i < nd; i++)
      fixed[k++] = digits[i];
    for (size_t i = nd; i < (size_t)decpt; i++)
      fixed[k++] = '0';
    fixed[k++] = '.';
    fixed[k++] = '0';
  } else {
    for (size_t i = 0; i < nd; i++) {
      if (i == (size_t)decpt)
        fixed[k++] = '.';
      fixed[k++] = digits[i];
    }
  }
  fixed[k] = '\0';
  snprintf(out, len, "%s", fixed);
}

static void field_float(rl__buf *b, double v) {
  char s[48];
  rl__report_csv_py_float(v, s, sizeof s);
  rl__buf_str(b, s);
}

static void field_u64(rl__buf *b, uint64_t v) {
  rl__buf_printf(b, "%llu", (unsigned long long)v);
}

static double ns_to_ms(uint64_t ns) { return (double)ns / 1e6; }

/* Locust keeps each response time rounded (stats.py _log_response_time):
 * whole ms under 100 ms, then to 10, 100 and 1000 ms. Python's round() is
 * half-to-even, as nearbyint() is in the default rounding mode. */
static double locust_round(double ms) {
  if (ms < 100)
    return nearbyint(ms);
  if (ms < 1000)
    return nearbyint(ms / 10) * 10;
  if (ms < 10000)
    return nearbyint(ms / 100) * 100;
  return nearbyint(ms / 1000) * 1000;
}

/* A time Locust writes as its raw float, or 0 (`or 0`, or max's initial
 * int 0) when there is none. */
static void field_ms_or_0(rl__buf *b, uint64_t ns) {
  if (ns == 0)
    rl__buf_add(b, "0", 1);
  else
    field_float(b, ns_to_ms(ns));
}

/* StatsEntry.median_response_time: the rounded median, kept within
 * [min, max]; an int under 100 ms (round() without digits), else a float,
 * and the raw min or max when clamped. */
static void field_median(rl__buf *b, uint64_t requests, uint64_t median_ns,
                         uint64_t min_ns, uint64_t max_ns, int decimals) {
  if (requests == 0) {
    rl__buf_add(b, "0", 1);
    return;
  }
  double raw = ns_to_ms(median_ns);
  double med = decimals ? raw : locust_round(raw);
  double max = ns_to_ms(max_ns), min = ns_to_ms(min_ns);
  if (med > max)
    field_ms_or_0(b, max_ns);
  else if (med < min)
    field_float(b, min);
  else if (raw < 100 && !decimals)
    rl__buf_printf(b, "%.0f", med);
  else
    field_float(b, med);
}

/* --csv-decimals: the histogram's figure in ms as a float (3 significant
 * digits or better), not Locust's rounding. */
static void field_percentile(rl__buf *b, uint64_t ns, int decimals) {
  if (decimals)
    field_float(b, ns_to_ms(ns));
  else
    rl__buf_printf(b, "%.0f", locust_round(ns_to_ms(ns)));
}

/* The seven "totals" columns both files share, from Median to Average
 * Content Size. */
typedef struct totals {
  uint64_t requests, failures;
  uint64_t median_ns, total_ns, min_ns, max_ns;
  double avg_bytes;
} totals;

static void fields_totals_tail(rl__buf *b, const totals *t, int decimals) {
  field_median(b, t->requests, t->median_ns, t->min_ns, t->max_ns, decimals);
  rl__buf_add(b, ",", 1);
  /* avg_response_time: the sum in ms over the count, as Locust divides;
   * 0.0 when there is no request, a float either way */
  field_float(b,
              t->requests ? ns_to_ms(t->total_ns) / (double)t->requests : 0.0);
  rl__buf_add(b, ",", 1);
  field_ms_or_0(b, t->min_ns);
  rl__buf_add(b, ",", 1);
  field_ms_or_0(b, t->max_ns);
  rl__buf_add(b, ",", 1);
  if (t->requests == 0)
    rl__buf_add(b, "0", 1); /* avg_content_length's ZeroDivisionError: int 0 */
  else
    field_float(b, t->avg_bytes);
}

static void fields_percentiles(rl__buf *b, uint64_t requests,
                               const uint64_t *ns, int decimals) {
  for (size_t i = 0; i < NPCT; i++) {
    rl__buf_add(b, ",", 1);
    if (requests == 0)
      rl__buf_add(b, "N/A", 3);
    else
      field_percentile(b, ns[i], decimals);
  }
}

/* ---- the three kinds of rows --------------------------------------------- */

static void stats_row(rl__buf *b, const rl__stats_entry *e, double elapsed_s,
                      int decimals) {
  uint64_t pct[NPCT]; /* one walk over the histogram for all of them */
  rl__history_percentiles(&e->hist, pct);
  totals t = {
      .requests = e->num_requests,
      .failures = e->num_failures,
      .median_ns = pct[0],
      .total_ns = e->total_ns,
      .min_ns = rl__stats_entry_min_ns(e),
      .max_ns = rl__stats_entry_max_ns(e),
      .avg_bytes =
          e->num_requests ? (double)e->bytes / (double)e->num_requests : 0,
  };
  field_text(b, e->type);
  rl__buf_add(b, ",", 1);
  field_text(b, e->name);
  rl__buf_add(b, ",", 1);
  field_u64(b, t.requests);
  rl__buf_add(b, ",", 1);
  field_u64(b, t.failures);
  rl__buf_add(b, ",", 1);
  fields_totals_tail(b, &t, decimals);
  rl__buf_add(b, ",", 1);
  field_float(b, elapsed_s > 0 ? (double)e->num_requests / elapsed_s : 0);
  rl__buf_add(b, ",", 1);
  field_float(b, elapsed_s > 0 ? (double)e->num_failures / elapsed_s : 0);
  fields_percentiles(b, e->num_requests, pct, decimals);
  rl__buf_add(b, "\r\n", 2);
}

static void format_stats(rl__buf *b, rl__stats *s, double elapsed_s,
                         int decimals) {
  rl__buf_reset(b);
  rl__buf_str(b, rl__report_csv_stats_header);
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  for (size_t i = 0; i < n; i++)
    stats_row(b, entries[i], elapsed_s, decimals);
  stats_row(b, rl__stats_total(s), elapsed_s, decimals);
}

static void history_row(rl__buf *b, const char *type, const char *name,
                        const rl__history_row *r, int shape, int decimals) {
  totals t = {
      .requests = r->requests,
      .failures = r->failures,
      .median_ns = r->median_ns,
      .total_ns = r->total_ns,
      .min_ns = r->min_ns,
      .max_ns = r->max_ns,
      .avg_bytes = r->avg_bytes,
  };
  const uint64_t pct[NPCT] = {r->p50_ns,  r->p66_ns,   r->p75_ns, r->p80_ns,
                              r->p90_ns,  r->p95_ns,   r->p98_ns, r->p99_ns,
                              r->p999_ns, r->p9999_ns, r->p100_ns};
  rl__buf_printf(b, "%llu,%u,", (unsigned long long)r->unix_time, r->users);
  field_text(b, type);
  rl__buf_add(b, ",", 1);
  field_text(b, name);
  /* Locust: f"{current_rps:2f}", i.e. six decimals */
  rl__buf_printf(b, ",%f,%f", r->current_rps, r->current_fps);
  fields_percentiles(b, r->requests, pct, decimals);
  rl__buf_add(b, ",", 1);
  field_u64(b, t.requests);
  rl__buf_add(b, ",", 1);
  field_u64(b, t.failures);
  rl__buf_add(b, ",", 1);
  fields_totals_tail(b, &t, decimals);
  if (shape) {
    /* The shape's columns: the Aggregated row's only. */
    int agg = strcmp(name, "Aggregated") == 0 && !*type;
    if (agg && r->target >= 0)
      rl__buf_printf(b, ",%.6g", r->target);
    else
      rl__buf_add(b, ",", 1);
    if (agg)
      rl__buf_printf(b, ",%llu,%llu", (unsigned long long)r->scheduled,
                     (unsigned long long)r->dropped);
    else
      rl__buf_add(b, ",,", 2);
  }
  rl__buf_add(b, "\r\n", 2);
}

static void format_failures(rl__buf *b, rl__stats *s, uint64_t start_unix) {
  rl__buf_reset(b);
  rl__buf_str(b, rl__report_csv_failures_header);
  const rl__stats_error **errors;
  size_t n = rl__stats_errors(s, &errors);
  for (size_t i = 0; i < n; i++) {
    const rl__stats_error *e = errors[i];
    field_text(b, e->type);
    rl__buf_add(b, ",", 1);
    field_text(b, e->name);
    rl__buf_add(b, ",", 1);
    field_text(b, e->error);
    uint64_t first = start_unix + e->first_sec;
    uint64_t last = start_unix + e->last_sec;
    rl__buf_printf(b, ",%llu,%llu,%llu\r\n", (unsigned long long)e->occurrences,
                   (unsigned long long)first, (unsigned long long)last);
  }
}

/* Locust's exceptions table: Count,Message,Traceback,Nodes ("local": one
 * process). */
static void format_exceptions(rl__buf *b, const rl__stats *s) {
  rl__buf_reset(b);
  rl__buf_str(b, rl__report_csv_exceptions_header);
  const rl__stats_exception *x;
  size_t n = rl__stats_exceptions(s, &x);
  for (size_t i = 0; i < n; i++) {
    rl__buf_printf(b, "%llu,", (unsigned long long)x[i].count);
    field_text(b, x[i].msg);
    rl__buf_add(b, ",", 1);
    field_text(b, x[i].traceback);
    rl__buf_str(b, ",local\r\n");
  }
}

/* ---- whole texts in memory (the web UI) ---------------------------------- */

int rl__report_csv_stats_text(rl__stats *s, double elapsed_s, char **out,
                              size_t *len) {
  rl__buf b = {0};
  format_stats(&b, s, elapsed_s, 0);
  return rl__buf_take(&b, out, len) ? RL_ERR_NOMEM : 0;
}

int rl__report_csv_failures_text(rl__stats *s, uint64_t start_unix, char **out,
                                 size_t *len) {
  rl__buf b = {0};
  format_failures(&b, s, start_unix);
  return rl__buf_take(&b, out, len) ? RL_ERR_NOMEM : 0;
}

int rl__report_csv_exceptions_text(const rl__stats *s, char **out,
                                   size_t *len) {
  rl__buf b = {0};
  format_exceptions(&b, s);
  return rl__buf_take(&b, out, len) ? RL_ERR_NOMEM : 0;
}

int rl__report_csv_history_text(const rl__history *h, char **out, size_t *len) {
  rl__buf b = {0};
  rl__buf_str(&b, rl__report_csv_history_header);
  for (size_t i = 0; i < h->n; i++) {
    if (h->track_entries && i + 1 == h->n)
      for (size_t j = 0; j < h->n_entry_rows; j++)
        history_row(&b, h->entry_rows[j].type, h->entry_rows[j].name,
                    &h->entry_rows[j].row, 0, 0);
    history_row(&b, "", "Aggregated", &h->rows[i], 0, 0);
  }
  return rl__buf_take(&b, out, len) ? RL_ERR_NOMEM : 0;
}

/* ---- the writer ---------------------------------------------------------- */

/* History rows kept for a later try while writes fail (a full disk): past
 * this much they are dropped, and the close reports it. */
#define MAX_PENDING_HISTORY ((size_t)4 << 20)

struct rl__report_csv {
  int full_history;
  int shape;    /* RL__REPORT_CSV_SHAPE's columns */
  int decimals; /* RL__REPORT_CSV_DECIMALS */
  char *path[NFILES];
  /* The history is appended with pwrite at `history_size`, the length of
   * its whole rows: a write that fails halfway is cut back to it, and the
   * rows are tried again, whole, the next second. */
  int history_fd;
  off_t history_size;
  int history_cut;          /* cutting back failed: retry before writing */
  rl__buf history_rows;     /* formatted, not written yet */
  uint64_t seconds_pending; /* seconds those rows are of */
  rl__buf stats;            /* the next _stats.csv, when stats_ready */
  rl__buf failures, exceptions;
  int stats_ready, failures_ready, exceptions_ready;
  size_t rows_done; /* history rows formatted so far */
  uint64_t start_unix;
  int have_start;
  int failing;              /* the last write failed (reported) */
  uint64_t seconds_dropped; /* history seconds never written */
  char lost[512];           /* why, the first time */
};

static void set_reason(char *err, size_t errlen, const char *what,
                       const char *path, int errnum) {
  char text[256] = "unknown error";
  if (errnum)
    strerror_r(errnum, text, sizeof text);
  if (err && errlen)
    snprintf(err, errlen, "%s %s: %s", what, path, text);
}

static void csv_free(rl__report_csv *w) {
  if (w->history_fd >= 0)
    close(w->history_fd);
  for (int i = 0; i < NFILES; i++)
    free(w->path[i]);
  rl__buf_free(&w->history_rows);
  rl__buf_free(&w->stats);
  rl__buf_free(&w->failures);
  rl__buf_free(&w->exceptions);
  free(w);
}

static char *concat(const char *a, const char *b) {
  size_t len = strlen(a) + strlen(b) + 1;
  char *s = malloc(len);
  if (s)
    snprintf(s, len, "%s%s", a, b);
  return s;
}

/*
 * Appends the pending history rows in one pwrite (a kill lands between
 * two system calls, so the file holds whole seconds; csv.h says the one
 * exception). On a failure the file is cut back to its whole rows and the
 * rows stay pending, to be written whole once the disk has room again.
 * 0, or RL_ERR_IO with the reason.
 */
static int flush_history(rl__report_csv *w, char *err, size_t errlen) {
  rl__buf *b = &w->history_rows;
  if (!b->len)
    return 0;
  if (w->history_cut) {
    if (ftruncate(w->history_fd, w->history_size) != 0) {
      set_reason(err, errlen, "cannot write", w->path[F_HISTORY], errno);
      return RL_ERR_IO;
    }
    w->history_cut = 0;
  }
  size_t done = 0;
  int errnum = 0;
  while (done < b->len) {
    ssize_t n = pwrite(w->history_fd, b->p + done, b->len - done,
                       w->history_size + (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      errnum = n < 0 ? errno : ENOSPC;
      break;
    }
    done += (size_t)n;
  }
  if (done == b->len) {
    w->history_size += (off_t)done;
    w->seconds_pending = 0;
    rl__buf_reset(b);
    return 0;
  }
  /* Half a row must not stay: the next rows would be appended to it. */
  if (done && ftruncate(w->history_fd, w->history_size) != 0)
    w->history_cut = 1;
  set_reason(err, errlen, "cannot write", w->path[F_HISTORY], errnum);
  if (b->len > MAX_PENDING_HISTORY) {
    /* The disk stays full: memory stays bounded, and the close says what
     * was lost. */
    if (!w->seconds_dropped)
      set_reason(w->lost, sizeof w->lost, "cannot write", w->path[F_HISTORY],
                 errnum);
    w->seconds_dropped += w->seconds_pending;
    w->seconds_pending = 0;
    rl__buf_reset(b);
  }
  return RL_ERR_IO;
}

int rl__report_csv_open(const char *prefix, int flags, rl__report_csv **out,
                        char *err, size_t errlen) {
  *out = NULL;
  rl__report_csv *w = calloc(1, sizeof *w);
  if (!w)
    goto nomem;
  w->history_fd = -1;
  w->full_history = (flags & RL__REPORT_CSV_FULL_HISTORY) != 0;
  w->decimals = (flags & RL__REPORT_CSV_DECIMALS) != 0;
  w->shape = (flags & RL__REPORT_CSV_SHAPE) != 0;
  /* Until the first history row tells the run's start (a run shorter than
   * a second has none), the writer's own start is close enough. */
  w->start_unix = rl__unix_time();
  for (int i = 0; i < NFILES; i++) {
    w->path[i] = concat(prefix, suffixes[i]);
    if (!w->path[i])
      goto nomem;
  }
  w->history_fd =
      open(w->path[F_HISTORY], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (w->history_fd < 0) {
    set_reason(err, errlen, "cannot create", w->path[F_HISTORY], errno);
    csv_free(w);
    return RL_ERR_IO;
  }
  rl__buf_str(&w->history_rows, rl__report_csv_history_header);
  if (w->shape) {
    w->history_rows.len -= 2; /* before the CRLF */
    rl__buf_str(&w->history_rows,
                ",Target,Iterations Due,Iterations Dropped\r\n");
  }
  if (w->history_rows.oom)
    goto nomem;
  if (flush_history(w, err, errlen) != 0) {
    csv_free(w);
    return RL_ERR_IO;
  }
  static const int whole[] = {F_STATS, F_FAILURES, F_EXCEPTIONS};
  static const char *const headers[] = {rl__report_csv_stats_header,
                                        rl__report_csv_failures_header,
                                        rl__report_csv_exceptions_header};
  for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
    int f = whole[i];
    if (rl__report_file_replace(w->path[f], headers[i], strlen(headers[i]), err,
                                errlen) != 0) {
      csv_free(w);
      return RL_ERR_IO;
    }
  }
  *out = w;
  return 0;
nomem:
  if (w)
    csv_free(w);
  if (err && errlen)
    snprintf(err, errlen, "out of memory");
  return RL_ERR_NOMEM;
}

/* Formats the history rows `h` gained since the last call. */
static void format_history(rl__report_csv *w, const rl__history *h) {
  if (!w->have_start && h->n > 0) {
    w->start_unix = h->rows[0].unix_time >= h->rows[0].elapsed_s
                        ? h->rows[0].unix_time - h->rows[0].elapsed_s
                        : 0;
    w->have_start = 1;
  }
  if (h->n < w->rows_done) /* a different history: start over */
    w->rows_done = 0;
  for (size_t i = w->rows_done; i < h->n; i++) {
    if (w->full_history && i + 1 == h->n)
      for (size_t j = 0; j < h->n_entry_rows; j++)
        history_row(&w->history_rows, h->entry_rows[j].type,
                    h->entry_rows[j].name, &h->entry_rows[j].row, w->shape,
                    w->decimals);
    history_row(&w->history_rows, "", "Aggregated", &h->rows[i], w->shape,
                w->decimals);
  }
  w->seconds_pending += h->n - w->rows_done;
  w->rows_done = h->n;
}

static int format_all(rl__report_csv *w, rl__stats *s, const rl__history *h,
                      double elapsed_s) {
  size_t kept = w->history_rows.len;
  uint64_t kept_seconds = w->seconds_pending;
  format_history(w, h);
  int history_ok = !w->history_rows.oom;
  if (!history_ok) {
    /* Drop these rows rather than append half of one. */
    w->history_rows.len = kept;
    w->history_rows.oom = 0;
    if (!w->seconds_dropped)
      snprintf(w->lost, sizeof w->lost, "out of memory formatting %s",
               w->path[F_HISTORY]);
    w->seconds_dropped += w->seconds_pending - kept_seconds;
    w->seconds_pending = kept_seconds;
  }
  format_stats(&w->stats, s, elapsed_s, w->decimals);
  format_failures(&w->failures, s, w->start_unix);
  format_exceptions(&w->exceptions, s);
  w->stats_ready = !w->stats.oom;
  w->failures_ready = !w->failures.oom;
  w->exceptions_ready = !w->exceptions.oom;
  return history_ok && w->stats_ready && w->failures_ready &&
                 w->exceptions_ready
             ? 0
             : RL_ERR_NOMEM;
}

int rl__report_csv_tick(rl__report_csv *w, rl__stats *s, const rl__history *h) {
  if (!w)
    return 0;
  double elapsed = h->n ? h->rows[h->n - 1].covered_s : 0;
  return format_all(w, s, h, elapsed);
}

/* Writes what is formatted; 0 or RL_ERR_IO with the first reason. */
static int flush_out(rl__report_csv *w, char *err, size_t errlen) {
  int rc = flush_history(w, err, errlen);
  if (w->stats_ready) {
    w->stats_ready = 0;
    if (rl__report_file_replace(w->path[F_STATS], w->stats.p, w->stats.len,
                                rc ? NULL : err, errlen) != 0)
      rc = RL_ERR_IO;
  }
  if (w->failures_ready) {
    w->failures_ready = 0;
    if (rl__report_file_replace(w->path[F_FAILURES], w->failures.p,
                                w->failures.len, rc ? NULL : err, errlen) != 0)
      rc = RL_ERR_IO;
  }
  if (w->exceptions_ready) {
    w->exceptions_ready = 0;
    if (rl__report_file_replace(w->path[F_EXCEPTIONS], w->exceptions.p,
                                w->exceptions.len, rc ? NULL : err,
                                errlen) != 0)
      rc = RL_ERR_IO;
  }
  return rc;
}

int rl__report_csv_write(rl__report_csv *w, char *err, size_t errlen) {
  if (!w)
    return 0;
  char reason[512] = "";
  int rc = flush_out(w, reason, sizeof reason);
  if (rc == 0 && w->failing) {
    w->failing = 0;
    if (err && errlen)
      snprintf(err, errlen, "the CSV files are written again%s",
               w->seconds_dropped ? " (some history rows were lost)"
                                  : ", every history row included");
    return RL__REPORT_CSV_RECOVERED;
  }
  if (rc == 0 || w->failing)
    return 0;
  w->failing = 1;
  if (err && errlen)
    snprintf(err, errlen, "%s", reason);
  return rc;
}

int rl__report_csv_close(rl__report_csv *w, rl__stats *s, const rl__history *h,
                         double duration_s, char *err, size_t errlen) {
  if (!w)
    return 0;
  char reason[sizeof w->lost + 64] = "";
  int rc = format_all(w, s, h, duration_s);
  if (rc != 0)
    snprintf(reason, sizeof reason, "out of memory writing the CSV files");
  int wrc = flush_out(w, rc ? NULL : reason, sizeof reason);
  if (rc == 0)
    rc = wrc;
  /* Rows still pending now are lost. */
  if (w->history_rows.len) {
    if (!w->seconds_dropped)
      snprintf(w->lost, sizeof w->lost, "%.*s", (int)sizeof w->lost - 1,
               reason);
    w->seconds_dropped += w->seconds_pending;
  }
  if (rc == 0 && fsync(w->history_fd) != 0 && errno != EINVAL) {
    set_reason(reason, sizeof reason, "cannot write", w->path[F_HISTORY],
               errno);
    rc = RL_ERR_IO;
  }
  /* The other files may be whole now, but history rows were lost. */
  if (w->seconds_dropped) {
    rc = RL_ERR_IO;
    snprintf(reason, sizeof reason, "%s (history rows of %llu s lost)", w->lost,
             (unsigned long long)w->seconds_dropped);
  }
  if (rc != 0 && err && errlen)
    snprintf(err, errlen, "%s", reason);
  csv_free(w);
  return rc;
}
