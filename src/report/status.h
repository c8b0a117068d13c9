/*
 * The status code distribution, ghz's "Status code distribution": how many
 * calls ended with each status, for the protocols whose plugins name their
 * statuses (ABI 1.3 status_names: gRPC's OK .. UNAUTHENTICATED).
 *
 * It is read off the stats, with nothing counted on the hot path: an
 * entry's successes ended with the first name (OK); a failure whose error
 * text is a status name, or starts with one and ": " ("UNAVAILABLE: try
 * later", "DEADLINE_EXCEEDED: ...", the host's own "UNAVAILABLE:
 * connection refused"), ended with that status; any other failure (a
 * scenario's expect that failed a call) counts as "other". Rows a plugin
 * records per message of a stream (names ending in " [send]" or
 * " [recv]", ABI 1.4 request_event) are not calls and are left out.
 */
#ifndef RL_REPORT_STATUS_H
#define RL_REPORT_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "stats/stats.h"

/* A protocol's status names, for the stats type its requests report. */
typedef struct rl__status_names {
  const char *type;         /* "grpc"; borrowed */
  const char *const *names; /* by code; names[0] is success; borrowed */
  uint32_t n;
} rl__status_names;

/* One line of the distribution. */
typedef struct rl__status_row {
  const char *type;   /* borrowed from the rl__status_names */
  const char *status; /* a status name, or "other" */
  uint64_t count;
} rl__status_row;

/*
 * The distribution over `s` for the types in sn[0..n_sn): rows for the
 * statuses seen, per type in sn's order, most calls first (name order on a
 * tie), written into rows (at most cap of them). Returns how many rows
 * there are (may be more than cap: then only cap were written). `s` is
 * only read.
 */
size_t rl__report_status_rows(rl__stats *s, const rl__status_names *sn,
                              size_t n_sn, rl__status_row *rows, size_t cap);

/* "Status code distribution" for the console, as the other tables; prints
 * nothing when no call of those types ended. */
void rl__report_console_status(FILE *out, rl__stats *s,
                               const rl__status_names *sn, size_t n_sn);

/* The same as a JSON array of {"type", "status", "count"} (a new
 * reference; NULL when out of memory). */
json_t *rl__report_json_status(rl__stats *s, const rl__status_names *sn,
                               size_t n_sn);

#endif /* RL_REPORT_STATUS_H */
