/*
 * Data feeders: rows of a CSV file (with a header) or of a JSON lines
 * file, handed to users for their templates ({{data.email}}), as a Locust
 * user would read them from a shared queue.
 *
 * Loaded whole on the main thread before the run; afterwards the rows are
 * read-only and every worker shares them without locks. How a user takes
 * a row (docs/scenarios.md, "Data files"):
 *   sequential  the next row of the file for every task run (on_start and
 *               the first task share one): one atomic counter per file,
 *               taken with a relaxed fetch-and-add, the only shared write;
 *   random      a row drawn with the user's own generator for every task
 *               run: no shared state at all;
 *   per_user    the user's own row for its whole life, row (id - 1): pure
 *               arithmetic.
 * Past the last row, `cycle` starts again from the first; without it a
 * user that finds no row stops (Locust's StopUser on an empty queue).
 */
#ifndef RL_ENGINE_FEEDER_H
#define RL_ENGINE_FEEDER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of a data file (docs/scenarios.md): its size and columns. */
#define RL__FEEDER_MAX_BYTES (256u << 20)
#define RL__FEEDER_MAX_COLUMNS 256

enum rl__feeder_kind {
  RL__FEEDER_STRING = 0,
  RL__FEEDER_JSON,
  RL__FEEDER_NULL
};

enum rl__feeder_order {
  RL__FEEDER_SEQUENTIAL = 0,
  RL__FEEDER_RANDOM,
  RL__FEEDER_PER_USER,
};

typedef struct rl__feeder {
  char *name;     /* the file as the scenario names it, for messages */
  char **columns; /* NULL-terminated */
  size_t n_columns;
  char **cells; /* n_rows * n_columns, row by row, into `text` */
  size_t n_rows;
  char *text; /* every cell, NUL-terminated */
  /* JSON lines: per cell (as `cells`) what the member's value was, for a
   * reader that keeps types (a Lua table): RL__FEEDER_STRING (the text),
   * RL__FEEDER_JSON (a number, boolean, array or object: its JSON text),
   * RL__FEEDER_NULL (""). NULL for a CSV file: every cell a string. */
  unsigned char *kinds;
  int order;                  /* enum rl__feeder_order */
  int cycle;                  /* past the last row, the first again */
  atomic_uint_least64_t next; /* sequential: the next row handed out */
} rl__feeder;

/*
 * Reads the data file at `path` (CSV with a header, unless `jsonl`: one
 * JSON object per line, its members the columns, named by the first
 * line) into a new feeder with `name` (copied) for messages. Returns 0
 * and *out (caller owns; rl__feeder_del), or RL_ERR_INVAL with
 * "LINE:COL: reason" (or "reason") in err, or RL_ERR_NOMEM.
 */
int rl__feeder_load(const char *path, const char *name, int jsonl,
                    rl__feeder **out, char *err, size_t errlen);

/* The same from `len` bytes of `text` (borrowed). */
int rl__feeder_parse(const char *text, size_t len, const char *name, int jsonl,
                     rl__feeder **out, char *err, size_t errlen);

void rl__feeder_del(rl__feeder *f);

/* The index of column `name` (`len` bytes), or -1. */
int rl__feeder_column(const rl__feeder *f, const char *name, size_t len);

/*
 * The row a user takes (n_columns cells, borrowed from the feeder): for
 * its first task run (`first`: on_start and its first task), or for a
 * later one (`current`: the row it holds, which per_user keeps). `id` is
 * the user's (1-based), `rng` its generator. NULL when the file has no
 * row left for it (no cycle). Any thread; no lock.
 */
const char *const *rl__feeder_draw(rl__feeder *f, uint64_t id, uint64_t *rng,
                                   int first, const char *const *current);

#endif /* RL_ENGINE_FEEDER_H */
