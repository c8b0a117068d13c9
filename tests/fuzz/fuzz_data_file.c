/*
 * Fuzz target: a scenario's data files (rl__feeder_parse: CSV with a
 * header, quotes and doubled quotes, CRLF; or JSON lines, one object a
 * line, its members the columns), then rows drawn every way a user takes
 * them. The input's first byte picks the format (bit 0: JSON lines) and
 * the order (bits 1-2: sequential, random, per_user; bit 3: cycle); the
 * rest is the file.
 *
 * Checked beyond "no crash": a refused file says why; an accepted one
 * has at least one column, every row as many cells as columns (each a
 * string), and its column names found by rl__feeder_column.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "engine/feeder.h"

static void check(rl__feeder *f, unsigned opts) {
  if (f->n_columns == 0 || f->columns == NULL)
    abort();
  for (size_t c = 0; c < f->n_columns; c++) {
    const char *name = f->columns[c];
    if (name == NULL)
      abort();
    int found = rl__feeder_column(f, name, strlen(name));
    /* Its own index, or an earlier column of the same name. */
    if (found < 0 || (size_t)found > c || strcmp(f->columns[found], name) != 0)
      abort();
  }
  for (size_t i = 0; i < f->n_rows * f->n_columns; i++)
    if (f->cells[i] == NULL)
      abort();
  f->order = (int)((opts >> 1) & 3) % 3;
  f->cycle = (int)((opts >> 3) & 1);
  uint64_t rng = 1;
  const char *const *row = NULL;
  for (uint64_t id = 1; id <= 4; id++) {
    row = rl__feeder_draw(f, id, &rng, 1, NULL);
    for (int k = 0; row != NULL && k < 3; k++) {
      for (size_t c = 0; c < f->n_columns; c++)
        if (row[c] == NULL)
          abort();
      row = rl__feeder_draw(f, id, &rng, 0, row);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned opts = data[0];
  rl__feeder *f = NULL;
  char err[512] = "";
  int rc = rl__feeder_parse((const char *)data + 1, size - 1, "fuzz.csv",
                            (int)(opts & 1), &f, err, sizeof err);
  if (rc != 0) {
    if (f != NULL || (rc == RL_ERR_INVAL && err[0] == '\0'))
      abort();
    return 0;
  }
  check(f, opts);
  rl__feeder_del(f);
  return 0;
}
