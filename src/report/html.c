#include "report/html.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

#include "report/file.h"
#include "report/status.h"

/* Embedded at build time by cmake/report_html_assets.cmake (NUL-terminated,
 * checked there not to contain what would close their element early). */
extern const char rl__uplot_js[];
extern const char rl__uplot_css[];
extern const char rl__uplot_license[];
extern const char rl__uplot_version[];
extern const char rl__report_js[];
extern const char rl__report_css[];

static const double percentiles[] = {50, 66, 75,   80,    90, 95,
                                     98, 99, 99.9, 99.99, 100};
#define NPCT (sizeof percentiles / sizeof percentiles[0])

/* ---- text ---------------------------------------------------------------- */

/* The code point of the UTF-8 sequence at `s` and its length in bytes; an
 * invalid sequence (bad lead or continuation byte, overlong form,
 * surrogate, above U+10FFFF) gives -1 and length 1, so the caller moves on
 * by one byte. `s` is NUL-terminated: a NUL is never a continuation byte. */
static long utf8_next(const unsigned char *s, size_t *len) {
  unsigned c = s[0];
  size_t n;
  long cp, min;
  *len = 1;
  if (c < 0x80)
    return (long)c;
  if ((c & 0xe0) == 0xc0) {
    n = 2, cp = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, cp = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return -1;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return -1;
  *len = n;
  return cp;
}

void rl__report_html_json_string(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  putc('"', out);
  while (*p) {
    size_t n;
    long cp = utf8_next(p, &n);
    if (cp < 0) {
      fputs("\\ufffd", out);
    } else if (cp == '"' || cp == '\\') {
      putc('\\', out);
      putc((int)cp, out);
    } else if (cp == '\n') {
      fputs("\\n", out);
    } else if (cp == '\t') {
      fputs("\\t", out);
    } else if (cp == '\r') {
      fputs("\\r", out);
    } else if (cp < 0x20 || cp == 0x7f || cp == '<' || cp == '>' || cp == '&' ||
               cp == 0x2028 || cp == 0x2029) {
      /* '<' and '>' so that no "</script" or "<!--" can appear in the
       * script element; '&' for good measure; U+2028/9 for old parsers. */
      fprintf(out, "\\u%04lx", (unsigned long)cp);
    } else {
      fwrite(p, 1, n, out);
    }
    p += n;
  }
  putc('"', out);
}

void rl__report_html_text(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  while (*p) {
    size_t n;
    long cp = utf8_next(p, &n);
    if (cp < 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
        cp == 0x7f)
      fputs("\xef\xbf\xbd", out); /* U+FFFD */
    else if (cp == '&')
      fputs("&amp;", out);
    else if (cp == '<')
      fputs("&lt;", out);
    else if (cp == '>')
      fputs("&gt;", out);
    else if (cp == '"')
      fputs("&quot;", out);
    else if (cp == '\'')
      fputs("&#39;", out);
    else
      fwrite(p, 1, n, out);
    p += n;
  }
}

/* ---- numbers ------------------------------------------------------------- */

static void put_u64(FILE *out, uint64_t v) {
  fprintf(out, "%llu", (unsigned long long)v);
}

/* Drops a decimal part's trailing zeros (and the point if nothing is left). */
static void trim_decimals(char *buf) {
  char *dot = strchr(buf, '.');
  if (!dot)
    return;
  char *end = buf + strlen(buf);
  while (end > dot + 1 && end[-1] == '0')
    *--end = '\0';
  if (end == dot + 1)
    *dot = '\0';
}

/* Nanoseconds as milliseconds, exactly: 1234567 -> 1.234567. */
static void put_ms(FILE *out, uint64_t ns) {
  char buf[48];
  snprintf(buf, sizeof buf, "%llu.%06llu", (unsigned long long)(ns / 1000000),
           (unsigned long long)(ns % 1000000));
  trim_decimals(buf);
  fputs(buf, out);
}

/* A JSON number with up to 6 decimals; null for NaN and infinities, which
 * JSON cannot hold. */
static void put_num(FILE *out, double v) {
  if (!isfinite(v)) {
    fputs("null", out);
    return;
  }
  char buf[400]; /* room for DBL_MAX in %f */
  snprintf(buf, sizeof buf, "%.6f", v);
  trim_decimals(buf);
  fputs(strcmp(buf, "-0") == 0 ? "0" : buf, out);
}

/* Local time as "YYYY-MM-DD HH:MM:SS +hhmm", or null when unknown (0, or
 * past the year 33000, which a time_t might not hold). */
static void put_local_time(FILE *out, double unix_s) {
  char buf[64];
  struct tm tm;
  if (!(unix_s > 0 && unix_s < 1e12)) {
    fputs("null", out);
    return;
  }
  time_t t = (time_t)unix_s;
  if (!localtime_r(&t, &tm) ||
      strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm) == 0) {
    fputs("null", out);
    return;
  }
  rl__report_html_json_string(out, buf);
}

/* ---- the JSON document --------------------------------------------------- */

static void put_key(FILE *out, int *first, const char *key) {
  if (!*first)
    putc(',', out);
  *first = 0;
  rl__report_html_json_string(out, key);
  putc(':', out);
}

static void put_str_or_null(FILE *out, const char *s) {
  if (s)
    rl__report_html_json_string(out, s);
  else
    fputs("null", out);
}

static void put_run(FILE *out, const rl__report_html_info *info,
                    rl__stats *stats, const rl__history *history) {
  double start = info->start_unix_s, end = info->end_unix_s;
  if (!(start > 0) && history && history->n) {
    const rl__history_row *r0 = &history->rows[0];
    start = (double)r0->unix_time - (double)r0->elapsed_s;
  }
  if (!(end > 0) && start > 0 && info->duration_s > 0)
    end = start + info->duration_s;
  int first = 1;
  putc('{', out);
  put_key(out, &first, "target");
  rl__report_html_json_string(out, info->target);
  put_key(out, &first, "plugin");
  put_str_or_null(out, info->plugin);
  put_key(out, &first, "command");
  put_str_or_null(out, info->command_line);
  put_key(out, &first, "version");
  rl__report_html_json_string(out, info->version ? info->version : RL_VERSION);
  put_key(out, &first, "uplot_version");
  rl__report_html_json_string(out, rl__uplot_version);
  put_key(out, &first, "users");
  put_u64(out, info->users);
  put_key(out, &first, "spawn_rate");
  put_num(out, info->spawn_rate);
  put_key(out, &first, "run_time_s");
  if (info->run_time_ns)
    put_num(out, (double)info->run_time_ns / 1e9);
  else
    fputs("null", out);
  put_key(out, &first, "duration_s");
  put_num(out, info->duration_s);
  put_key(out, &first, "start_unix");
  put_num(out, start > 0 ? start : NAN);
  put_key(out, &first, "end_unix");
  put_num(out, end > 0 ? end : NAN);
  put_key(out, &first, "start");
  put_local_time(out, start);
  put_key(out, &first, "end");
  put_local_time(out, end);
  put_key(out, &first, "cut_requests");
  put_u64(out, info->cut_requests);
  put_key(out, &first, "shape");
  put_str_or_null(out, info->shape);
  put_key(out, &first, "latency");
  put_str_or_null(out, info->latency);
  if (info->latency) {
    uint64_t scheduled, dropped;
    rl__stats_iterations(stats, &scheduled, &dropped);
    put_key(out, &first, "iterations_scheduled");
    put_u64(out, scheduled);
    put_key(out, &first, "iterations_dropped");
    put_u64(out, dropped);
  }
  putc('}', out);
}

/* A response time of an entry: null when it has no request. */
static void put_entry_ms(FILE *out, const rl__stats_entry *e, uint64_t ns) {
  if (e->num_requests)
    put_ms(out, ns);
  else
    fputs("null", out);
}

static void put_entry(FILE *out, const rl__stats_entry *e, double duration_s) {
  int first = 1;
  putc('{', out);
  put_key(out, &first, "type");
  rl__report_html_json_string(out, e->type);
  put_key(out, &first, "name");
  rl__report_html_json_string(out, e->name);
  put_key(out, &first, "requests");
  put_u64(out, e->num_requests);
  put_key(out, &first, "failures");
  put_u64(out, e->num_failures);
  put_key(out, &first, "avg_ms");
  put_entry_ms(out, e, rl__stats_entry_avg_ns(e));
  put_key(out, &first, "min_ms");
  put_entry_ms(out, e, rl__stats_entry_min_ns(e));
  put_key(out, &first, "max_ms");
  put_entry_ms(out, e, rl__stats_entry_max_ns(e));
  put_key(out, &first, "median_ms");
  put_entry_ms(out, e, rl__histogram_percentile(&e->hist, 50));
  put_key(out, &first, "avg_bytes");
  put_num(out,
          e->num_requests ? (double)e->bytes / (double)e->num_requests : 0);
  put_key(out, &first, "rps");
  put_num(out, duration_s > 0 ? (double)e->num_requests / duration_s : NAN);
  put_key(out, &first, "fps");
  put_num(out, duration_s > 0 ? (double)e->num_failures / duration_s : NAN);
  put_key(out, &first, "pct_ms");
  putc('[', out);
  for (size_t i = 0; i < NPCT; i++) {
    if (i)
      putc(',', out);
    put_entry_ms(out, e, rl__histogram_percentile(&e->hist, percentiles[i]));
  }
  fputs("]}", out);
}

static void put_errors(FILE *out, rl__stats *stats) {
  const rl__stats_error **errors;
  size_t n = rl__stats_errors(stats, &errors);
  putc('[', out);
  for (size_t i = 0; i < n; i++) {
    const rl__stats_error *r = errors[i];
    int first = 1;
    fputs(i ? ",\n{" : "\n{", out);
    put_key(out, &first, "occurrences");
    put_u64(out, r->occurrences);
    put_key(out, &first, "type");
    rl__report_html_json_string(out, r->type);
    put_key(out, &first, "name");
    rl__report_html_json_string(out, r->name);
    put_key(out, &first, "error");
    rl__report_html_json_string(out, r->error);
    put_key(out, &first, "first_s");
    put_u64(out, r->first_sec);
    put_key(out, &first, "last_s");
    put_u64(out, r->last_sec);
    putc('}', out);
  }
  putc(']', out);
}

/* The status code distribution (report/status.h). */
static void put_status(FILE *out, rl__stats *stats,
                       const rl__report_html_info *info) {
  rl__status_row rows[64];
  size_t n = info->n_status ? rl__report_status_rows(stats, info->status,
                                                     info->n_status, rows, 64)
                            : 0;
  if (n > 64)
    n = 64;
  putc('[', out);
  for (size_t i = 0; i < n; i++) {
    int first = 1;
    fputs(i ? ",\n{" : "\n{", out);
    put_key(out, &first, "type");
    rl__report_html_json_string(out, rows[i].type);
    put_key(out, &first, "status");
    rl__report_html_json_string(out, rows[i].status);
    put_key(out, &first, "count");
    put_u64(out, rows[i].count);
    putc('}', out);
  }
  putc(']', out);
}

/* The history's columns. */
enum col {
  COL_TIME,
  COL_ELAPSED,
  COL_USERS,
  COL_REQUESTS,
  COL_FAILURES,
  COL_RPS,
  COL_FPS,
  COL_P50,
  COL_P95,
  COL_P99,
  NCOLS
};
static const char *const col_names[NCOLS] = {
    "time", "elapsed_s", "users",  "requests", "failures",
    "rps",  "fps",       "p50_ms", "p95_ms",   "p99_ms"};

/* A window percentile: 0 means the window saw no request, a gap. */
static void put_window_ms(FILE *out, uint64_t ns) {
  if (ns)
    put_ms(out, ns);
  else
    fputs("null", out);
}

static void put_cell(FILE *out, const rl__history_row *r, enum col c) {
  switch (c) {
  case COL_TIME:
    put_u64(out, r->unix_time);
    break;
  case COL_ELAPSED:
    put_u64(out, r->elapsed_s);
    break;
  case COL_USERS:
    put_u64(out, r->users);
    break;
  case COL_REQUESTS:
    put_u64(out, r->requests);
    break;
  case COL_FAILURES:
    put_u64(out, r->failures);
    break;
  case COL_RPS:
    put_num(out, r->current_rps);
    break;
  case COL_FPS:
    put_num(out, r->current_fps);
    break;
  case COL_P50:
    put_window_ms(out, r->p50_ns);
    break;
  case COL_P95:
    put_window_ms(out, r->p95_ns);
    break;
  case COL_P99:
    put_window_ms(out, r->p99_ns);
    break;
  case NCOLS:
    break;
  }
}

static void put_history(FILE *out, const rl__history *history) {
  size_t n = history ? history->n : 0;
  putc('{', out);
  for (int c = 0; c < NCOLS; c++) {
    fputs(c ? ",\n" : "\n", out);
    rl__report_html_json_string(out, col_names[c]);
    fputs(":[", out);
    for (size_t i = 0; i < n; i++) {
      if (i)
        putc(',', out);
      put_cell(out, &history->rows[i], (enum col)c);
    }
    putc(']', out);
  }
  putc('}', out);
}

static void put_data(FILE *out, const rl__report_html_info *info,
                     rl__stats *stats, const rl__history *history) {
  fputs("{\"run\":", out);
  put_run(out, info, stats, history);
  fputs(",\n\"percentiles\":[", out);
  for (size_t i = 0; i < NPCT; i++) {
    if (i)
      putc(',', out);
    put_num(out, percentiles[i]);
  }
  fputs("],\n\"stats\":[", out);
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(stats, &entries);
  for (size_t i = 0; i < n; i++) {
    fputs(i ? ",\n" : "\n", out);
    put_entry(out, entries[i], info->duration_s);
  }
  fputs("],\n\"total\":", out);
  put_entry(out, rl__stats_total(stats), info->duration_s);
  fputs(",\n\"errors\":", out);
  put_errors(out, stats);
  fputs(",\n\"status_codes\":", out);
  put_status(out, stats, info);
  fputs(",\n\"history\":", out);
  put_history(out, history);
  fputs("}\n", out);
}

/* ---- the page ------------------------------------------------------------ */

int rl__report_html_write(FILE *out, const rl__report_html_info *info,
                          rl__stats *stats, const rl__history *history) {
  static const rl__report_html_info none;
  if (!info)
    info = &none;
  tzset(); /* localtime_r need not */
  fputs("<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head>\n"
        "<meta charset=\"utf-8\">\n"
        /* Self-contained: the page may fetch nothing, from anywhere. */
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
        "'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, "
        "initial-scale=1\">\n",
        out);
  fputs("<meta name=\"generator\" content=\"rpcload ", out);
  rl__report_html_text(out, info->version ? info->version : RL_VERSION);
  fputs("\">\n<title>rpcload report", out);
  if (info->target && *info->target) {
    fputs(": ", out);
    rl__report_html_text(out, info->target);
  }
  fputs("</title>\n<style>\n", out);
  fputs(rl__uplot_css, out);
  fputs("\n</style>\n<style>\n", out);
  fputs(rl__report_css, out);
  fputs("\n</style>\n</head>\n<body>\n<header>\n<h1>rpcload report</h1>\n"
        "<p class=\"target\">",
        out);
  rl__report_html_text(out, info->target);
  fputs("</p>\n</header>\n"
        "<noscript><p class=\"note\">This report draws its tables and "
        "charts with JavaScript, which is off. Its figures are in the page "
        "source as JSON, in the script element with id "
        "&quot;rl-data&quot;.</p></noscript>\n"
        "<main id=\"rl-report\"></main>\n"
        "<footer><p>Written by rpcload ",
        out);
  rl__report_html_text(out, info->version ? info->version : RL_VERSION);
  fputs(". Charts: uPlot ", out);
  rl__report_html_text(out, rl__uplot_version);
  fputs(" (MIT License, below in the page source).</p></footer>\n"
        "<script type=\"application/json\" id=\"rl-data\">\n",
        out);
  put_data(out, info, stats, history);
  fputs("</script>\n<script>\n/* uPlot ", out);
  fputs(rl__uplot_version, out);
  fputs(", embedded by rpcload. Its license:\n\n", out);
  fputs(rl__uplot_license, out);
  fputs("\n*/\n", out);
  fputs(rl__uplot_js, out);
  fputs("\n</script>\n<script>\n", out);
  fputs(rl__report_js, out);
  fputs("\n</script>\n</body>\n</html>\n", out);
  return ferror(out) ? RL_ERR_IO : 0;
}

int rl__report_html_save(const char *path, const rl__report_html_info *info,
                         rl__stats *stats, const rl__history *history,
                         char *err, size_t errlen) {
  rl__report_file rf;
  char why[512] = "";
  int rc = rl__report_file_begin(&rf, path, why, sizeof why);
  if (rc == 0) {
    errno = 0;
    rc = rl__report_html_write(rf.f, info, stats, history);
    if (rc == 0) {
      rc = rl__report_file_commit(&rf, 1, why, sizeof why);
    } else {
      char text[256] = "I/O error";
      if (errno)
        strerror_r(errno, text, sizeof text);
      snprintf(why, sizeof why, "cannot write %s: %s", rf.tmp, text);
      rl__report_file_abort(&rf);
    }
  }
  if (rc && err && errlen)
    snprintf(err, errlen, "cannot write the HTML report %s: %s", path, why);
  return rc;
}
