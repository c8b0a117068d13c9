#include "report/status.h"

#include <stdlib.h>
#include <string.h>

/* The most rows one call of the functions below works with: every status
 * of every type, and "other". */
#define MAX_ROWS 256

/* An entry that counts calls: not a stream's per-message row. */
static int is_call(const char *name) {
  size_t n = strlen(name);
  return !(n >= 7 && (strcmp(name + n - 7, " [send]") == 0 ||
                      strcmp(name + n - 7, " [recv]") == 0));
}

/* The code an error text names, or -1 ("other"). */
static int code_of(const rl__status_names *sn, const char *error) {
  for (uint32_t c = 0; c < sn->n; c++) {
    const char *name = sn->names[c];
    size_t len = name ? strlen(name) : 0;
    if (len && strncmp(error, name, len) == 0 &&
        (error[len] == '\0' || (error[len] == ':' && error[len + 1] == ' ')))
      return (int)c;
  }
  return -1;
}

/* Counts per code (counts[n] is "other") of one type. */
static void count_type(rl__stats *s, const rl__status_names *sn,
                       uint64_t *counts) {
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(s, &entries);
  for (size_t i = 0; i < n; i++)
    if (strcmp(entries[i]->type, sn->type) == 0 && is_call(entries[i]->name))
      counts[0] += entries[i]->num_requests - entries[i]->num_failures;
  const rl__stats_error **errors;
  n = rl__stats_errors(s, &errors);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(errors[i]->type, sn->type) != 0 || !is_call(errors[i]->name))
      continue;
    int c = code_of(sn, errors[i]->error);
    counts[c < 0 ? sn->n : (uint32_t)c] += errors[i]->occurrences;
  }
}

static int row_cmp(const void *a, const void *b) {
  const rl__status_row *x = a, *y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  return strcmp(x->status, y->status);
}

size_t rl__report_status_rows(rl__stats *s, const rl__status_names *sn,
                              size_t n_sn, rl__status_row *rows, size_t cap) {
  size_t total = 0;
  for (size_t t = 0; t < n_sn; t++) {
    uint64_t *counts = calloc(sn[t].n + 1, sizeof *counts);
    rl__status_row *mine = calloc(sn[t].n + 1, sizeof *mine);
    if (!counts || !mine) {
      free(counts);
      free(mine);
      return total;
    }
    count_type(s, &sn[t], counts);
    size_t k = 0;
    for (uint32_t c = 0; c <= sn[t].n; c++)
      if (counts[c])
        mine[k++] = (rl__status_row){
            .type = sn[t].type,
            .status = c < sn[t].n && sn[t].names[c] ? sn[t].names[c] : "other",
            .count = counts[c]};
    qsort(mine, k, sizeof *mine, row_cmp);
    for (size_t i = 0; i < k; i++, total++)
      if (total < cap)
        rows[total] = mine[i];
    free(counts);
    free(mine);
  }
  return total;
}

void rl__report_console_status(FILE *out, rl__stats *s,
                               const rl__status_names *sn, size_t n_sn) {
  rl__status_row rows[MAX_ROWS];
  size_t n = rl__report_status_rows(s, sn, n_sn, rows, MAX_ROWS);
  if (n > MAX_ROWS)
    n = MAX_ROWS;
  if (!n)
    return;
  uint64_t all = 0;
  for (size_t i = 0; i < n; i++)
    all += rows[i].count;
  fprintf(out, "Status code distribution\n");
  fprintf(out, "%-8s %-24s %12s %8s\n", "Type", "Status", "# calls", "%");
  fprintf(out, "--------|-------------------------|------------|---------\n");
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%-8s %-24s %12llu %7.2f%%\n", rows[i].type, rows[i].status,
            (unsigned long long)rows[i].count,
            100.0 * (double)rows[i].count / (double)all);
  fprintf(out, "--------|-------------------------|------------|---------\n");
  fputc('\n', out);
}

json_t *rl__report_json_status(rl__stats *s, const rl__status_names *sn,
                               size_t n_sn) {
  rl__status_row rows[MAX_ROWS];
  size_t n = rl__report_status_rows(s, sn, n_sn, rows, MAX_ROWS);
  if (n > MAX_ROWS)
    n = MAX_ROWS;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    json_t *o = json_pack("{s:s, s:s, s:I}", "type", rows[i].type, "status",
                          rows[i].status, "count", (json_int_t)rows[i].count);
    if (!o || json_array_append_new(arr, o)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}
