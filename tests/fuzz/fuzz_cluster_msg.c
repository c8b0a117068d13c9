/*
 * Fuzz target: a frame from another cluster node (src/cluster/msg.c), as
 * a master or a worker reads it: rl__msg_decode, then every reader that
 * matches the type (and, for any type, the stats and spawn readers too,
 * so their shape checks see every kind of data). Seeds: frames a real
 * Locust sent (capture_locust_frames.py) and ours.
 *
 * Checked beyond "no crash": a refused frame says why; a decoded one has
 * a type and a node id; a stats message read into a table leaves it
 * whole (its entries and errors readable).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl__msg m;
  char err[512] = "";
  if (rl__msg_decode(data, size, &m, err, sizeof(err)) != 0) {
    if (err[0] == '\0')
      abort(); /* a refusal must say why */
    return 0;
  }
  if (m.type == NULL || m.node_id == NULL)
    abort();

  rl__stats *s = rl__stats_new();
  if (s != NULL) {
    rl__msg_report rep;
    if (rl__msg_read_stats(&m, s, 1700000000.0, &rep, err, sizeof(err)) == 0) {
      rl__msg_report_free(&rep);
      const rl__stats_entry **e = NULL;
      size_t n = rl__stats_entries(s, &e);
      for (size_t i = 0; i < n; i++)
        (void)rl__histogram_percentile(&e[i]->hist, 99);
      const rl__stats_error **errs = NULL;
      (void)rl__stats_errors(s, &errs);
    }
    rl__stats_del(s);
  }
  rl__msg_spawn job;
  if (rl__msg_read_spawn(&m, &job, err, sizeof(err)) == 0)
    rl__msg_spawn_free(&job);
  char *a = NULL, *b = NULL;
  double cpu;
  int64_t index;
  if (rl__msg_read_client_ready(&m, &a, err, sizeof(err)) == 0)
    free(a);
  if (rl__msg_read_heartbeat(&m, &a, &cpu, err, sizeof(err)) == 0)
    free(a);
  if (rl__msg_read_exception(&m, &a, &b, err, sizeof(err)) == 0) {
    free(a);
    free(b);
  }
  (void)rl__msg_read_ack(&m, &index, err, sizeof(err));
  rl__msg_report rep;
  if (rl__msg_read_spawning_complete(&m, &rep, err, sizeof(err)) == 0)
    rl__msg_report_free(&rep);
  rl__msg_free(&m);
  return 0;
}
