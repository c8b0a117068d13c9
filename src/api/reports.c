#include "api/reports.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/arrival.h"
#include "engine/plan.h"
#include "engine/target.h"
#include "report/console.h"
#include "report/file.h"
#include "report/html.h"
#include "report/json.h"
#include "report/status.h"

/* The most protocols with named statuses one run reports. */
#define MAX_STATUS_TYPES 8

/* The status names of the run's protocols that have them (gRPC's), one
 * per stats type: what the status code distribution counts by. */
static size_t status_names(const rl__runner *r, rl__status_names *out,
                           size_t cap) {
  size_t n = 0;
  const rl__plan *p = r->plan; /* NULL after a quick run: its one target */
  size_t n_targets = p ? p->n_endpoints : 1;
  for (size_t e = 0; e < n_targets; e++) {
    const rl__target *t = p ? p->endpoint_targets[e] : r->target;
    for (size_t v = 0; t && v < t->nv; v++) {
      const rl_plugin *d = &t->v[v].plugin->desc;
      const char *type = t->v[v].type;
      if (!d->status_names || !d->n_status_names || !type)
        continue;
      size_t k = 0;
      while (k < n && strcmp(out[k].type, type) != 0)
        k++;
      if (k == n && n < cap)
        out[n++] = (rl__status_names){type, d->status_names, d->n_status_names};
    }
  }
  return n;
}

int rl__api_reports_open(rl__api_reports *rep, const rl__api_options *o,
                         const char *plugin, char *err, size_t errlen) {
  *rep = (rl__api_reports){.o = o, .plugin = plugin};
  rep->console = o->json ? stderr : stdout;
  /* Found now, not after a ten-minute run: a missing folder, a read-only
   * file system, a directory where the file should be. */
  if (o->json_path &&
      rl__report_file_check("--json-file", o->json_path, err, errlen))
    return RL_ERR_IO;
  if (o->html_path &&
      rl__report_file_check("--html", o->html_path, err, errlen))
    return RL_ERR_IO;
  if (o->csv_prefix) {
    int flags = (o->run.full_history ? RL__REPORT_CSV_FULL_HISTORY : 0) |
                (o->run.rate || o->run.user_stages ? RL__REPORT_CSV_SHAPE : 0) |
                (o->csv_decimals ? RL__REPORT_CSV_DECIMALS : 0);
    int rc = rl__report_csv_open(o->csv_prefix, flags, &rep->csv, err, errlen);
    if (rc)
      return rc;
  }
  clock_gettime(CLOCK_REALTIME, &rep->wall_start);
  return 0;
}

/* The table is formatted into memory under the stats lock and written
 * after it is released: a slow terminal must not hold up the workers, who
 * take the same lock to merge. */
struct console_read {
  FILE *mem;
  double target; /* the shape's, or < 0 */
  int open;      /* the open model: its iterations */
};

/* The load shape's line under the table: the target now (users or
 * arrivals/s), and the open model's iterations so far. */
static void shape_line(FILE *out, rl__stats *s, double target, int open,
                       int users) {
  if (target < 0 && !open)
    return;
  if (target >= 0)
    fprintf(out, "target: %.6g %s", target, open ? "arrivals/s" : "users");
  if (open) {
    uint64_t scheduled, dropped;
    rl__stats_iterations(s, &scheduled, &dropped);
    fprintf(out, "%siterations: %llu due, %llu started, %llu dropped (%.2f%%)",
            target >= 0 ? "; " : "", (unsigned long long)scheduled,
            (unsigned long long)(scheduled - dropped),
            (unsigned long long)dropped,
            scheduled ? 100.0 * (double)dropped / (double)scheduled : 0.0);
    if (users >= 0)
      fprintf(out, ", %d users in the pool (--max-inflight)", users);
  }
  fputc('\n', out);
}

/* Current rates over whole, merged seconds of the test (not the second
 * some workers have not merged yet, nor idle time before a start or a
 * reset): rl__history_window. */
static void read_console(rl__stats *s, const rl__history *h, void *arg) {
  struct console_read *rd = arg;
  rl__report_console_stats(rd->mem, s, rl__history_window(h, rl__now_ns()), 0,
                           0);
  shape_line(rd->mem, s, rd->target, rd->open, -1);
}

void rl__api_reports_progress(rl__runner *r, rl__api_reports *rep) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  if (!mem)
    return;
  struct console_read rd = {.mem = mem, .open = r->cfg->rate != NULL};
  if (!rl__runner_target(r, &rd.target))
    rd.target = -1;
  rl__runner_with_stats(r, read_console, &rd);
  fclose(mem);
  fwrite(text, 1, len, rep->console);
  fflush(rep->console);
  free(text);
}

struct csv_read {
  rl__report_csv *csv;
  int rc;
};

static void read_csv(rl__stats *s, const rl__history *h, void *arg) {
  struct csv_read *rd = arg;
  rd->rc = rl__report_csv_tick(rd->csv, s, h);
}

/* Formatted under the lock, written after. */
void rl__api_reports_second(rl__runner *r, rl__api_reports *rep) {
  char err[512];
  if (!rep->csv)
    return;
  struct csv_read rd = {.csv = rep->csv};
  rl__runner_with_stats(r, read_csv, &rd);
  if (rd.rc)
    rl__log(RL__LOG_WARN, "out of memory formatting the CSV files");
  /* Said once when writes start failing (a full disk) and once when they
   * work again, not every second in between. */
  int rc = rl__report_csv_write(rep->csv, err, sizeof err);
  if (rc == RL__REPORT_CSV_RECOVERED)
    rl__log(RL__LOG_INFO, "%s", err);
  else if (rc)
    rl__log(RL__LOG_WARN,
            "%s; the CSV files keep their last whole content "
            "and history rows wait in memory until it works",
            err);
}

static double unix_s(const struct timespec *t) {
  return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

/* What the final figures cover: from the test's start (or the latest
 * reset) to its stop, not the process's life (a web UI idles before and
 * after a test); the wall clock of both ends for the reports. A test that
 * never started covers nothing, from the process's start. The run has
 * ended: no lock needed. */
typedef struct covered {
  double seconds, start_unix, end_unix;
} covered;

static covered covered_of(const rl__api_reports *rep, const rl__runner *r) {
  covered c = {rl__history_covered_s(&r->hub.history, r->end_ns), 0, 0};
  c.start_unix = rl__history_from_unix(&r->hub.history);
  if (c.start_unix <= 0)
    c.start_unix = unix_s(&rep->wall_start);
  /* --warmup: the stats count from its end (engine/request.c's gate), and
   * so do the rates. */
  if (r->cfg->warmup_ns) {
    double counted = rl__runner_counted_s(r);
    double warm_end =
        unix_s(&rep->wall_start) + (double)r->cfg->warmup_ns / 1e9;
    if (c.start_unix < warm_end)
      c.start_unix = warm_end;
    if (c.seconds > counted)
      c.seconds = counted;
  }
  c.end_unix = c.start_unix + c.seconds;
  return c;
}

static void final_console(FILE *out, rl__runner *r, rl__stats *stats,
                          const covered *c) {
  rl__status_names sn[MAX_STATUS_TYPES];
  size_t n_sn = status_names(r, sn, MAX_STATUS_TYPES);
  rl__stats_window none = {0, 0};
  rl__report_console_stats(out, stats, none, 1, c->seconds);
  rl__report_console_percentiles(out, stats);
  if (r->cfg->rate) {
    /* The other view of latency, for the total: how much the schedule's
     * delays (coordinated omission) change the picture. */
    const rl__stats_entry *t = rl__stats_total(stats);
    const char *shown = r->cfg->latency_uncorrected ? "uncorrected (from the "
                                                      "send)"
                                                    : "corrected (from each "
                                                      "arrival's intended "
                                                      "start)";
    fprintf(out, "latency in the tables: %s\n", shown);
    if (t->hist_alt.count)
      fprintf(out,
              "%s, ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
              r->cfg->latency_uncorrected ? "corrected" : "uncorrected",
              (double)rl__histogram_percentile(&t->hist_alt, 50) / 1e6,
              (double)rl__histogram_percentile(&t->hist_alt, 90) / 1e6,
              (double)rl__histogram_percentile(&t->hist_alt, 99) / 1e6,
              (double)rl__histogram_percentile(&t->hist_alt, 99.9) / 1e6,
              (double)t->hist_alt.max / 1e6);
    shape_line(out, stats, -1, 1, (int)r->cfg->users);
  }
  rl__report_console_status(out, stats, sn, n_sn);
  rl__report_console_errors(out, stats);
  fflush(out);
  if (r->cut_requests)
    rl__log(RL__LOG_INFO,
            "%llu request(s) in flight at the stop were cut and not counted "
            "(--stop-timeout lets them finish)",
            (unsigned long long)r->cut_requests);
}

/* --json on stdout, --json-file. */
static int write_json(const rl__api_reports *rep, rl__runner *r,
                      rl__stats *stats, const covered *c) {
  const rl__api_options *o = rep->o;
  char err[1024] = "";
  int status = 0;
  rl__status_names sn[MAX_STATUS_TYPES];
  size_t n_sn = status_names(r, sn, MAX_STATUS_TYPES);
  rl__report_json_info jinfo = {
      .start_time = c->start_unix,
      .duration_s = c->seconds,
      .users = o->run.users,
      .user_count = r->users_at_stop,
      .cut_requests = r->cut_requests,
      .status = sn,
      .n_status = n_sn,
      .ended = 1,
      .spawn_short = r->ramp_short,
      .spawn_reached = r->ramp_reached,
      .spawn_wanted = r->ramp_wanted,
      .spawn_rate = r->ramp_rate,
      .spawn_ns = r->ramp_ns,
  };
  rl__runner_client_lag(r, &jinfo.lag);
  if (o->run.rate) {
    jinfo.latency = o->run.latency_uncorrected ? "uncorrected" : "corrected";
    jinfo.latency_other =
        o->run.latency_uncorrected ? "corrected" : "uncorrected";
    jinfo.arrivals =
        o->run.arrivals == RL__ARRIVALS_POISSON ? "poisson" : "even";
    jinfo.max_inflight = o->run.users;
    jinfo.shape = "rate";
  } else if (o->run.user_stages) {
    jinfo.shape = "users";
  }
  if (o->json &&
      rl__report_json_write(stdout, stats, &r->hub.history, &jinfo)) {
    fprintf(stderr, "rpcload: error: cannot write the JSON report\n");
    status = EXIT_FAILURE;
  }
  if (o->json_path && rl__report_json_file(o->json_path, stats, &r->hub.history,
                                           &jinfo, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    status = EXIT_FAILURE;
  }
  return status;
}

/* What a scenario run loaded, for the HTML report's Target row: each
 * endpoint its users connected to (its host, or its classes' and steps'
 * hosts), "host:port (plugin)", ", "-separated; cut with "..." when long. */
static void plan_targets(const rl__plan *p, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (size_t e = 0; e < p->n_endpoints && n + 4 < len; e++) {
    const rl__target *t = p->endpoint_targets[e];
    int v6 = strchr(t->host, ':') != NULL;
    int w = snprintf(buf + n, len - n, "%s%s%s%s:%u (%s%s)", e ? ", " : "",
                     v6 ? "[" : "", t->host, v6 ? "]" : "", (unsigned)t->port,
                     t->plugin->desc.name, t->tls ? ", TLS" : "");
    if (w < 0 || (size_t)w >= len - n) {
      snprintf(buf + len - 4, 4, "...");
      return;
    }
    n += (size_t)w;
  }
}

/* --html; the run has ended: no lock needed. */
static int write_html(const rl__api_reports *rep, rl__runner *r,
                      rl__stats *stats, const covered *c) {
  const rl__api_options *o = rep->o;
  char err[1024] = "";
  rl__status_names sn[MAX_STATUS_TYPES];
  size_t n_sn = status_names(r, sn, MAX_STATUS_TYPES);
  char shape[512];
  rl__api_shape_describe(o, shape, sizeof shape);
  char targets[1024] = "";
  if (o->scenario && r->plan)
    plan_targets(r->plan, targets, sizeof targets);
  rl__report_html_info info = {
      .shape = shape[0] ? shape : NULL,
      .latency = !o->run.rate                 ? NULL
                 : o->run.latency_uncorrected ? "uncorrected"
                                              : "corrected",
      .target = targets[0] ? targets : o->target.url,
      .plugin = rep->plugin,
      .users = o->run.users,
      .spawn_rate = o->run.spawn_rate,
      .run_time_ns = o->run.run_time_ns,
      .duration_s = c->seconds,
      .start_unix_s = c->start_unix,
      .end_unix_s = c->end_unix,
      .cut_requests = r->cut_requests,
      .status = sn,
      .n_status = n_sn,
  };
  if (rl__report_html_save(o->html_path, &info, stats, &r->hub.history, err,
                           sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    return EXIT_FAILURE;
  }
  return 0;
}

int rl__api_reports_finish(rl__api_reports *rep, rl__runner *r,
                           rl__stats *stats) {
  const rl__api_options *o = rep->o;
  char err[1024] = "";
  int status = 0;
  covered c = covered_of(rep, r);
  if (rep->console) /* a steered run prints none (api/steered.c) */
    final_console(rep->console, r, stats, &c);
  if (rep->csv && rl__report_csv_close(rep->csv, stats, &r->hub.history,
                                       c.seconds, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    status = EXIT_FAILURE;
  }
  rep->csv = NULL;
  if ((o->json || o->json_path) && write_json(rep, r, stats, &c))
    status = EXIT_FAILURE;
  if (o->html_path && write_html(rep, r, stats, &c))
    status = EXIT_FAILURE;
  return status;
}
