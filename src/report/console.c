#include "report/console.h"

#include <stdbool.h>
#include <string.h>

#define TYPE_WIDTH 8
#define NAME_WIDTH 80 /* Locust's STATS_NAME_WIDTH when not on a terminal */

static const double percentiles[] = {50, 66, 75,   80,    90, 95,
                                     98, 99, 99.9, 99.99, 100};
static const char *const percentile_names[] = {"50%",   "66%",    "75%", "80%",
                                               "90%",   "95%",    "98%", "99%",
                                               "99.9%", "99.99%", "100%"};
#define NPCT (sizeof percentiles / sizeof percentiles[0])

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 if the bytes
 * there are not one (the strict rules: no overlong forms, no surrogates,
 * nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *p) {
  unsigned char c = p[0];
  size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (c >= 0xf5 || n == 0)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) ||
      (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
    return 0;
  return n;
}

size_t rl__report_console_text(char *out, size_t len, const char *text) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)text;
  size_t o = 0;
  if (!len)
    return 0;
  while (*p) {
    char esc[8];
    size_t n = 0, take = 1;
    size_t u = *p >= 0x80 ? utf8_len(p) : 1;
    bool c1 = u == 2 && p[0] == 0xc2 && p[1] < 0xa0; /* U+0080..U+009F */
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      esc[n++] = '\\';
      esc[n++] = (char)(*p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
    } else if (*p < 0x20 || *p == 0x7f || u == 0 || c1) {
      /* A control character, C1 too (a terminal may take U+009B as an
       * escape sequence), or a byte that is not UTF-8: shown, not sent. */
      unsigned char b = c1 ? p[1] : *p;
      take = c1 ? 2 : 1;
      esc[n++] = '\\';
      if (c1) {
        esc[n++] = 'u';
        esc[n++] = '0';
        esc[n++] = '0';
      } else {
        esc[n++] = 'x';
      }
      esc[n++] = hex[b >> 4];
      esc[n++] = hex[b & 15];
    } else {
      take = u;
      memcpy(esc, p, u);
      n = u;
    }
    if (o + n >= len)
      break; /* cut before a whole escape or character, never inside */
    memcpy(out + o, esc, n);
    o += n;
    p += take;
  }
  out[o] = '\0';
  return o;
}

void rl__report_format_ms(uint64_t ns, char *buf, size_t len) {
  double ms = (double)ns / 1e6;
  if (ms < 1000)
    snprintf(buf, len, "%.2f", ms);
  else
    snprintf(buf, len, "%.0f", ms);
}

static void dashes(FILE *out, int n) {
  for (int i = 0; i < n; i++)
    fputc('-', out);
}

static void stats_separator(FILE *out) {
  int name_col = NAME_WIDTH - TYPE_WIDTH + 4;
  dashes(out, TYPE_WIDTH);
  fputc('|', out);
  dashes(out, name_col);
  static const int widths[] = {7, 13, 7, 7, 7, 7, 8, 11};
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    fputc('|', out);
    dashes(out, widths[i]);
  }
  fputc('\n', out);
}

static void stats_row(FILE *out, const rl__stats_entry *e, const char *type,
                      double rps, double fps) {
  char typecol[64], fails[48], avg[24], min[24], max[24], med[24];
  char name[512], shown_type[48];
  rl__report_console_text(name, sizeof name, e->name);
  rl__report_console_text(shown_type, sizeof shown_type, type);
  /* Locust writes the method followed by a space in this column. A type
   * that fills the column goes without it, and a longer one takes its
   * extra room from the name's column, so the rest of the row stays in
   * line with the header. */
  size_t tlen = strlen(shown_type);
  snprintf(typecol, sizeof typecol, "%s%s", shown_type,
           *type && tlen < TYPE_WIDTH ? " " : "");
  int over = tlen > TYPE_WIDTH ? (int)(tlen - TYPE_WIDTH) : 0;
  int name_width = NAME_WIDTH - TYPE_WIDTH + 4 - over;
  double ratio =
      e->num_requests ? (double)e->num_failures / (double)e->num_requests : 0;
  snprintf(fails, sizeof fails, "%llu(%.2f%%)",
           (unsigned long long)e->num_failures, ratio * 100);
  rl__report_format_ms(rl__stats_entry_avg_ns(e), avg, sizeof avg);
  rl__report_format_ms(rl__stats_entry_min_ns(e), min, sizeof min);
  rl__report_format_ms(rl__stats_entry_max_ns(e), max, sizeof max);
  rl__report_format_ms(rl__histogram_percentile(&e->hist, 50), med, sizeof med);
  /* Locust's %7.2f overflows its column from 100k req/s, which loopback
   * runs reach: drop the decimals there. */
  fprintf(out, "%-*s %-*s %7llu %12s |%7s %7s %7s%7s | %7.*f %11.2f\n",
          TYPE_WIDTH, typecol, name_width > 0 ? name_width : 0, name,
          (unsigned long long)e->num_requests, fails, avg, min, max, med,
          rps >= 99999.995 ? 0 : 2, rps, fps);
}

void rl__report_console_stats(FILE *out, rl__stats *s, rl__stats_window w,
                              int final, double duration_s) {
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  fprintf(out, "%-*s %-*s %7s %12s |%7s %7s %7s%7s | %7s %11s\n", TYPE_WIDTH,
          "Type", NAME_WIDTH - TYPE_WIDTH + 4, "Name", "# reqs", "# fails",
          "Avg", "Min", "Max", "Med", "req/s", "failures/s");
  stats_separator(out);
  for (size_t i = 0; i < n; i++) {
    const rl__stats_entry *e = entries[i];
    double rps, fps;
    if (final) {
      rps = duration_s > 0 ? (double)e->num_requests / duration_s : 0;
      fps = duration_s > 0 ? (double)e->num_failures / duration_s : 0;
    } else {
      rps = rl__stats_entry_current_rps(e, w);
      fps = rl__stats_entry_current_fps(e, w);
    }
    stats_row(out, e, e->type, rps, fps);
  }
  stats_separator(out);
  const rl__stats_entry *t = rl__stats_total(s);
  double rps, fps;
  if (final) {
    rps = duration_s > 0 ? (double)t->num_requests / duration_s : 0;
    fps = duration_s > 0 ? (double)t->num_failures / duration_s : 0;
  } else {
    rps = rl__stats_entry_current_rps(t, w);
    fps = rl__stats_entry_current_fps(t, w);
  }
  stats_row(out, t, "", rps, fps);
  fputc('\n', out);
}

static void percentile_row(FILE *out, const rl__stats_entry *e) {
  char v[NPCT][24];
  for (size_t i = 0; i < NPCT; i++)
    rl__report_format_ms(rl__histogram_percentile(&e->hist, percentiles[i]),
                         v[i], sizeof v[i]);
  char type[48], name[512];
  rl__report_console_text(type, sizeof type, e->type);
  rl__report_console_text(name, sizeof name, e->name);
  fprintf(out, "%-*s %-*s %8s", TYPE_WIDTH, type, NAME_WIDTH, name, v[0]);
  for (size_t i = 1; i < NPCT; i++)
    fprintf(out, " %6s", v[i]);
  fprintf(out, " %6llu\n", (unsigned long long)e->num_requests);
}

static void percentile_separator(FILE *out) {
  dashes(out, TYPE_WIDTH);
  fputc('|', out);
  dashes(out, NAME_WIDTH);
  fputc('|', out);
  dashes(out, 8);
  for (size_t i = 0; i < NPCT; i++) {
    fputc('|', out);
    dashes(out, 6);
  }
  fputc('\n', out);
}

void rl__report_console_percentiles(FILE *out, rl__stats *s) {
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  fprintf(out, "Response time percentiles (approximated)\n");
  fprintf(out, "%-*s %-*s %8s", TYPE_WIDTH, "Type", NAME_WIDTH, "Name",
          percentile_names[0]);
  for (size_t i = 1; i < NPCT; i++)
    fprintf(out, " %6s", percentile_names[i]);
  fprintf(out, " %6s\n", "# reqs");
  percentile_separator(out);
  for (size_t i = 0; i < n; i++)
    if (entries[i]->num_requests)
      percentile_row(out, entries[i]);
  percentile_separator(out);
  const rl__stats_entry *t = rl__stats_total(s);
  if (t->num_requests)
    percentile_row(out, t);
  fputc('\n', out);
}

void rl__report_console_errors(FILE *out, rl__stats *s) {
  const rl__stats_error **errors;
  size_t n = rl__stats_errors(s, &errors);
  if (!n)
    return;
  fprintf(out, "Error report\n");
  fprintf(out, "%-18s %-100s\n", "# occurrences", "Error");
  dashes(out, 18);
  fputc('|', out);
  dashes(out, 80 + NAME_WIDTH - 19);
  fputc('\n', out);
  for (size_t i = 0; i < n; i++) {
    char raw[1024], text[2048];
    snprintf(raw, sizeof raw, "%s %s: %s", errors[i]->type, errors[i]->name,
             errors[i]->error);
    rl__report_console_text(text, sizeof text, raw);
    fprintf(out, "%-18llu %-100s\n", (unsigned long long)errors[i]->occurrences,
            text);
  }
  dashes(out, 18);
  fputc('|', out);
  dashes(out, 80 + NAME_WIDTH - 19);
  fputc('\n', out);
  fputc('\n', out);
}
