/*
 * The console report in Locust's layout (column widths as Locust 2.x
 * prints them), so people and scripts used to Locust read it as they are
 * used to. One difference: times under 1000 ms keep two decimals (Locust
 * rounds to whole ms, which says nothing on loopback).
 *
 * Names and error texts may come from the network (a reason phrase, a
 * grpc-message, a response body a check quotes): they are printed with
 * their control characters escaped (rl__report_console_text), so a server
 * cannot move the cursor, recolour or clear a terminal. The CSV and JSON
 * files keep them exact.
 */
#ifndef RL_REPORT_CONSOLE_H
#define RL_REPORT_CONSOLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stats/stats.h"

/*
 * The stats table. While running (`final` 0) req/s and failures/s are the
 * current rates over the window's whole seconds (rl__history_window); at
 * the end they are totals over `duration_s`, the time the figures cover.
 * `s` is only read (entry order is refreshed).
 */
void rl__report_console_stats(FILE *out, rl__stats *s, rl__stats_window w,
                              int final, double duration_s);

/* "Response time percentiles (approximated)" table. */
void rl__report_console_percentiles(FILE *out, rl__stats *s);

/* "Error report" table; prints nothing when there was no failure. */
void rl__report_console_errors(FILE *out, rl__stats *s);

/*
 * `text` as a terminal may show it, into `out` (`len` bytes with the NUL):
 * tab, CR and LF as \t \r \n, other control characters (C0, DEL and the
 * C1 range U+0080..U+009F) as \xNN or \u00NN, bytes that are not UTF-8
 * as \xNN; valid UTF-8 passes. Cut, if it must be, between characters.
 * Returns the length written.
 */
size_t rl__report_console_text(char *out, size_t len, const char *text);

/* Formats a response time in ms for a column: "0.21", "12.50", "1234". */
void rl__report_format_ms(uint64_t ns, char *buf, size_t len);

#endif /* RL_REPORT_CONSOLE_H */
