/*
 * html_report_cli: writes an HTML report (src/report_html.c) of a made-up
 * run, for tests (tests/integration/test_html_report.py) and for looking at
 * the report by hand:
 *
 *   html_report_cli OUT.html [--seconds N] [--empty]
 *
 * The run: N seconds (default 60) of synthetic load recorded the way the
 * runner does it (each second a worker's delta is merged into the run's
 * stats and the history's current second, then the history ticks): users
 * ramp up by 5 a second to 50, requests/s and response times follow waves,
 * one entry fails now and then. Some names are hostile on purpose (they
 * try to close the script element, inject markup, break quotes, or are not
 * valid UTF-8) and so is one error text. --empty writes the report of a run
 * with no request and no history. Deterministic: the same file every time,
 * but for the local time zone's rendering of the start and end.
 *
 * Exit status: 0 written, 1 an error (on stderr), 2 bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/html.h"
#include "stats/history.h"
#include "stats/stats.h"

#define MS 1000000ull
#define START_UNIX 1700000000ull

/* The names and errors the test looks for (it has the same strings). */
static const char *const hostile_name =
    "/x</script><img id=\"pwned\" src=x onerror=\"document.title='pwned'\">";
static const char *const quote_name = "/q?a=\"1\"&b='2' <!-- \\ -->";
static const char *const unicode_name = "/caf\xc3\xa9/\xe2\x98\x95";
static const char *const bad_utf8_name = "/bad\xff\xfe";
static const char *const hostile_error =
    "</SCRIPT><script>document.title='pwned'</script>";

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rnd(void) { /* xorshift64*, in [0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) /
         9007199254740992.0;
}

typedef struct spec {
  const char *type, *name;
  double share;   /* of the second's requests */
  double base_ms; /* typical response time */
  double fail;    /* failure probability */
  const char *error;
} spec;

static const spec specs[] = {
    {"GET", "/hello", 0.55, 2.0, 0.0, NULL},
    {"POST", "/orders", 0.25, 8.0, 0.04, "HTTP 500 Internal Server Error"},
    {"GET", NULL /* hostile_name */, 0.10, 4.0, 0.02, NULL /* hostile */},
    {"GET", NULL /* quote_name */, 0.05, 1.0, 0.0, NULL},
    {"GET", NULL /* unicode_name */, 0.03, 3.0, 0.0, NULL},
    {"DELETE", NULL /* bad_utf8_name */, 0.02, 5.0, 0.5, "connection reset"},
};
#define NSPECS (sizeof specs / sizeof specs[0])

static const char *spec_name(size_t i) {
  switch (i) {
  case 2:
    return hostile_name;
  case 3:
    return quote_name;
  case 4:
    return unicode_name;
  case 5:
    return bad_utf8_name;
  default:
    return specs[i].name;
  }
}

static int run(rl__stats *stats, rl__history *h, unsigned seconds,
               double *duration_s) {
  /* An entry that never saw a request (a step that was never reached). */
  if (!rl__stats_entry_get(stats, "GET", "/never"))
    return -1;
  uint32_t users = 0;
  for (unsigned sec = 0; sec < seconds; sec++) {
    users = users + 5 > 50 ? 50 : users + 5;
    rl__stats *local = rl__stats_new();
    if (!local)
      return -1;
    /* ~30 requests/s per user, in waves. */
    double wave = 1 + 0.3 * sin((double)sec / 6.0);
    unsigned n = (unsigned)((double)users * 30 * wave);
    double slow = 1 + 0.8 * (0.5 + 0.5 * sin((double)sec / 9.0 + 1));
    for (size_t i = 0; i < NSPECS; i++) {
      rl__stats_entry *e =
          rl__stats_entry_get(local, specs[i].type, spec_name(i));
      if (!e)
        goto fail;
      unsigned k = (unsigned)(n * specs[i].share) + 1;
      for (unsigned j = 0; j < k; j++) {
        /* A long tail: most near base, a few ten times slower. */
        double r = rnd();
        double t =
            specs[i].base_ms * slow * (0.5 + r + (r > 0.97 ? 10 * r : 0));
        const char *err = NULL;
        if (rnd() < specs[i].fail)
          err = i == 2 ? hostile_error : specs[i].error;
        rl__stats_record(local, e, (uint64_t)(t * (double)MS),
                         100 + (uint64_t)(rnd() * 900), err, sec);
      }
      if (rl__history_add_times(h, &e->hist))
        goto fail;
    }
    if (rl__stats_merge(stats, local))
      goto fail;
    rl__stats_del(local);
    if (rl__history_tick(h, stats, START_UNIX + sec + 1, sec + 1, users))
      return -1;
    continue;
  fail:
    rl__stats_del(local);
    return -1;
  }
  *duration_s = seconds + 0.25;
  return 0;
}

int main(int argc, char **argv) {
  const char *out = NULL;
  unsigned seconds = 60;
  int empty = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = (unsigned)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--empty") == 0) {
      empty = 1;
    } else if (argv[i][0] != '-' && !out) {
      out = argv[i];
    } else {
      out = NULL;
      break;
    }
  }
  if (!out) {
    fprintf(stderr,
            "usage: html_report_cli OUT.html [--seconds N] [--empty]\n");
    return 2;
  }
  rl__stats *stats = rl__stats_new();
  rl__history h;
  rl__history_init(&h);
  int status = 1;
  double duration_s = 0;
  if (!stats || (!empty && run(stats, &h, seconds, &duration_s))) {
    fprintf(stderr, "html_report_cli: out of memory\n");
    goto out;
  }
  rl__report_html_info info = {
      .target =
          empty ? "http://127.0.0.1:1/" : "http://127.0.0.1:8080/<b>&\"x\"",
      .plugin = "http1",
      .command_line = "rpcload -u 50 -r 5 -t 1m http://127.0.0.1:8080/",
      .users = 50,
      .spawn_rate = 5,
      .run_time_ns = (uint64_t)seconds * 1000000000ull,
      .duration_s = duration_s,
      .start_unix_s = empty ? 0 : (double)START_UNIX,
      .end_unix_s = empty ? 0 : (double)START_UNIX + duration_s,
      .cut_requests = empty ? 0 : 3,
  };
  char err[512];
  if (rl__report_html_save(out, &info, stats, &h, err, sizeof err)) {
    fprintf(stderr, "html_report_cli: %s\n", err);
    goto out;
  }
  status = 0;
out:
  rl__history_free(&h);
  rl__stats_del(stats);
  return status;
}
