/*
 * The run's history (see history.h for the contract).
 *
 * Per-entry seconds are sparse: sorted lists of (bucket upper edge, count)
 * pairs, one per non-empty bucket. A worker's delta arrives sorted
 * (rl__histogram_foreach visits buckets in order) and is merged into the
 * entry's current second, so a second is always sorted with one pair per
 * bucket. Each entry also keeps `merged`, the sum of its window's seconds;
 * a tick updates it in one linear pass (merged - leaving second + new
 * second) and reads the percentiles from it with the same rank rule and
 * clamping as rl__histogram_percentile, so an entry row reads like the
 * Aggregated one. Should memory run out midway, `merged` is marked stale
 * and rebuilt from the window at the next tick.
 */
#include "stats/history.h"

#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

const double rl__history_percents[RL__HISTORY_NPCT] = {
    50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100};
#define NPCT RL__HISTORY_NPCT

typedef struct pair {
  uint64_t hi;    /* the bucket's highest value */
  uint64_t count; /* values in it */
} pair;

typedef struct sparse {
  pair *v; /* sorted by hi, one pair per bucket, counts > 0 */
  size_t n, cap;
  uint64_t count;
  uint64_t min; /* UINT64_MAX when empty */
  uint64_t max;
} sparse;

/* Named so that sizeof(entry_ptr) reads as "one pointer", which is what
 * the sorted array holds. */
typedef struct rl__history_entry *entry_ptr;

struct rl__history_entry {
  char *type;
  char *name;
  sparse second;                     /* being filled now */
  sparse window[RL__HISTORY_WINDOW]; /* the last full seconds */
  sparse merged;                     /* the window's seconds added up */
  int stale;                         /* merged must be rebuilt */
};

/* ---- percentiles --------------------------------------------------------- */

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* rl__histogram_percentile's rank: the ceil(percent/100 * count)-th value,
 * at least the first, at most the last. */
static uint64_t rank_of(double percent, uint64_t count) {
  double want = percent * (double)count / 100.0;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want)
    rank++;
  if (rank == 0)
    rank = 1;
  return rank > count ? count : rank;
}

/* One walk for every percentile: feed the buckets in increasing order. */
typedef struct pct_walk {
  uint64_t rank[NPCT];
  uint64_t seen, min, max;
  size_t next; /* the first percentile not found yet */
  uint64_t *out;
} pct_walk;

static void walk_start(pct_walk *w, uint64_t count, uint64_t min, uint64_t max,
                       uint64_t *out) {
  for (size_t i = 0; i < NPCT; i++)
    w->rank[i] = rank_of(rl__history_percents[i], count);
  w->seen = 0;
  w->min = min;
  w->max = max;
  w->next = 0;
  w->out = out;
}

/* 1 once every percentile under 100 is found. */
static int walk_bucket(pct_walk *w, uint64_t hi, uint64_t count) {
  w->seen += count;
  while (w->next < NPCT && rl__history_percents[w->next] < 100.0 &&
         w->seen >= w->rank[w->next])
    w->out[w->next++] = clamp(hi, w->min, w->max);
  return w->next == NPCT || rl__history_percents[w->next] >= 100.0;
}

/* p100 is the max, as is anything the walk did not reach. */
static void walk_end(pct_walk *w) {
  for (; w->next < NPCT; w->next++)
    w->out[w->next] = w->max;
}

static int walk_cb(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)lo;
  return walk_bucket(arg, hi, count);
}

void rl__history_percentiles(const rl__histogram *h, uint64_t out[NPCT]) {
  memset(out, 0, NPCT * sizeof *out);
  if (h->count == 0)
    return;
  pct_walk w;
  walk_start(&w, h->count, h->min, h->max, out);
  rl__histogram_foreach(h, walk_cb, &w);
  walk_end(&w);
}

static void set_percentiles(rl__history_row *r, const uint64_t v[NPCT]) {
  r->p50_ns = v[0];
  r->p66_ns = v[1];
  r->p75_ns = v[2];
  r->p80_ns = v[3];
  r->p90_ns = v[4];
  r->p95_ns = v[5];
  r->p98_ns = v[6];
  r->p99_ns = v[7];
  r->p999_ns = v[8];
  r->p9999_ns = v[9];
  r->p100_ns = v[10];
}

/* ---- sparse seconds ------------------------------------------------------ */

static void sparse_reset(sparse *sp) {
  sp->n = 0;
  sp->count = 0;
  sp->min = UINT64_MAX;
  sp->max = 0;
}

static void sparse_init(sparse *sp) {
  sp->v = NULL;
  sp->cap = 0;
  sparse_reset(sp);
}

static int pairs_reserve(pair **v, size_t *cap, size_t n) {
  if (n <= *cap)
    return 0;
  size_t c = *cap ? *cap : 32;
  while (c < n)
    c *= 2;
  pair *p = realloc(*v, c * sizeof *p);
  if (!p)
    return RL_ERR_NOMEM;
  *v = p;
  *cap = c;
  return 0;
}

static int scratch_reserve(rl__history *h, size_t n) {
  pair *v = h->scratch;
  int rc = pairs_reserve(&v, &h->scratch_cap, n);
  h->scratch = v;
  return rc;
}

static int push_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)lo;
  sparse *sp = arg;
  if (pairs_reserve(&sp->v, &sp->cap, sp->n + 1) != 0)
    return RL_ERR_NOMEM;
  sp->v[sp->n].hi = hi;
  sp->v[sp->n].count = count;
  sp->n++;
  return 0;
}

/*
 * out = a - b + c for sorted pair lists, counts per bucket; buckets whose
 * count ends at 0 are left out. b must be contained in a (every pair of b
 * at most a's count for that bucket). `out` must hold na + nc pairs and
 * differ from the inputs. Returns the pairs written.
 */
static size_t pairs_combine(const pair *a, size_t na, const pair *b, size_t nb,
                            const pair *c, size_t nc, pair *out) {
  size_t i = 0, j = 0, k = 0, o = 0;
  while (i < na || k < nc) {
    uint64_t hi = UINT64_MAX;
    if (i < na && a[i].hi < hi)
      hi = a[i].hi;
    if (k < nc && c[k].hi < hi)
      hi = c[k].hi;
    uint64_t count = 0;
    if (i < na && a[i].hi == hi)
      count += a[i++].count;
    if (k < nc && c[k].hi == hi)
      count += c[k++].count;
    while (j < nb && b[j].hi <= hi) {
      if (b[j].hi == hi)
        count -= b[j].count;
      j++;
    }
    if (count) {
      out[o].hi = hi;
      out[o].count = count;
      o++;
    }
  }
  return o;
}

/* Adds a histogram's buckets to a sorted second; on failure `sp` is left
 * as it was. */
static int sparse_add_hist(rl__history *h, sparse *sp,
                           const rl__histogram *hist) {
  size_t n0 = sp->n;
  if (rl__histogram_foreach(hist, push_bucket, sp) != 0) {
    sp->n = n0;
    return RL_ERR_NOMEM;
  }
  if (n0 > 0 && sp->n > n0) {
    /* Two sorted runs: merge them through the scratch area. */
    if (scratch_reserve(h, sp->n) != 0) {
      sp->n = n0;
      return RL_ERR_NOMEM;
    }
    pair *out = h->scratch;
    size_t n = pairs_combine(sp->v, n0, NULL, 0, sp->v + n0, sp->n - n0, out);
    memcpy(sp->v, out, n * sizeof *out);
    sp->n = n;
  }
  sp->count += hist->count;
  if (hist->min < sp->min)
    sp->min = hist->min;
  if (hist->max > sp->max)
    sp->max = hist->max;
  return 0;
}

/* ---- per-entry records --------------------------------------------------- */

static int entry_cmp(const struct rl__history_entry *e, const char *type,
                     const char *name) {
  int c = strcmp(e->name, name);
  return c != 0 ? c : strcmp(e->type, type);
}

/* Index of (type, name) in the sorted records, or where it belongs. */
static size_t entry_pos(const rl__history *h, const char *type,
                        const char *name, int *found) {
  size_t lo = 0, hi = h->nentries;
  *found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = entry_cmp(h->entries[mid], type, name);
    if (c < 0) {
      lo = mid + 1;
    } else if (c > 0) {
      hi = mid;
    } else {
      *found = 1;
      return mid;
    }
  }
  return lo;
}

static void entry_del(struct rl__history_entry *e) {
  if (!e)
    return;
  free(e->type);
  free(e->name);
  free(e->second.v);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    free(e->window[i].v);
  free(e->merged.v);
  free(e);
}

/* The record for (type, name), created empty if new; NULL on no memory. */
static struct rl__history_entry *entry_get(rl__history *h, const char *type,
                                           const char *name) {
  int found;
  size_t at = entry_pos(h, type, name, &found);
  if (found)
    return h->entries[at];
  if (h->nentries == h->entries_cap) {
    size_t cap = h->entries_cap ? h->entries_cap * 2 : 16;
    entry_ptr *v = realloc(h->entries, cap * sizeof(entry_ptr));
    if (!v)
      return NULL;
    h->entries = v;
    h->entries_cap = cap;
  }
  struct rl__history_entry *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->type = strdup(type);
  e->name = strdup(name);
  if (!e->type || !e->name) {
    entry_del(e);
    return NULL;
  }
  sparse_init(&e->second);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    sparse_init(&e->window[i]);
  sparse_init(&e->merged);
  memmove(&h->entries[at + 1], &h->entries[at],
          (h->nentries - at) * sizeof(entry_ptr));
  h->entries[at] = e;
  h->nentries++;
  return e;
}

static struct rl__history_entry *
entry_find(const rl__history *h, const char *type, const char *name) {
  int found;
  size_t at = entry_pos(h, type, name, &found);
  return found ? h->entries[at] : NULL;
}

static int pair_order(const void *a, const void *b) {
  const pair *x = a, *y = b;
  return (x->hi > y->hi) - (x->hi < y->hi);
}

/* merged = the sum of the window, from scratch (after a failure). */
static int entry_rebuild(rl__history *h, struct rl__history_entry *e) {
  size_t n = 0;
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    n += e->window[i].n;
  if (scratch_reserve(h, n) != 0 ||
      pairs_reserve(&e->merged.v, &e->merged.cap, n) != 0)
    return RL_ERR_NOMEM;
  pair *all = h->scratch;
  size_t k = 0;
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++) {
    if (e->window[i].n)
      memcpy(&all[k], e->window[i].v, e->window[i].n * sizeof *all);
    k += e->window[i].n;
  }
  if (n > 1)
    qsort(all, n, sizeof *all, pair_order);
  sparse *m = &e->merged;
  m->n = 0;
  for (size_t i = 0; i < n; i++) {
    if (m->n && m->v[m->n - 1].hi == all[i].hi)
      m->v[m->n - 1].count += all[i].count;
    else
      m->v[m->n++] = all[i];
  }
  e->stale = 0;
  return 0;
}

/* The second that ends enters window slot `slot`, whose old second
 * leaves; merged follows. */
static int entry_rotate(rl__history *h, struct rl__history_entry *e,
                        size_t slot) {
  sparse *in = &e->second, *out = &e->window[slot], *m = &e->merged;
  int rc = 0;
  if (!e->stale) {
    size_t need = m->n + in->n;
    if (scratch_reserve(h, need) != 0 ||
        pairs_reserve(&m->v, &m->cap, need) != 0) {
      e->stale = 1;
      rc = RL_ERR_NOMEM;
    } else {
      pair *tmp = h->scratch;
      size_t n =
          need ? pairs_combine(m->v, m->n, out->v, out->n, in->v, in->n, tmp)
               : 0;
      if (n)
        memcpy(m->v, tmp, n * sizeof *tmp);
      m->n = n;
    }
  }
  sparse leaving = *out;
  *out = *in;
  *in = leaving;
  sparse_reset(in);

  m->count = 0;
  m->min = UINT64_MAX;
  m->max = 0;
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++) {
    const sparse *w = &e->window[i];
    m->count += w->count;
    if (w->count && w->min < m->min)
      m->min = w->min;
    if (w->max > m->max)
      m->max = w->max;
  }
  if (e->stale && entry_rebuild(h, e) != 0)
    rc = RL_ERR_NOMEM;
  return rc;
}

/* The entry's percentiles over its window; zeros when it saw no request
 * (or its window could not be kept). */
static void entry_percentiles(const struct rl__history_entry *e,
                              uint64_t out[NPCT]) {
  const sparse *m = &e->merged;
  memset(out, 0, NPCT * sizeof *out);
  if (m->count == 0 || e->stale)
    return;
  pct_walk w;
  walk_start(&w, m->count, m->min, m->max, out);
  for (size_t i = 0; i < m->n && !walk_bucket(&w, m->v[i].hi, m->v[i].count);
       i++)
    ;
  walk_end(&w);
}

/* ---- rows ---------------------------------------------------------------- */

/* The window a row at run second `elapsed_s` reads its current rates
 * over: whole seconds before it, within the span. */
static rl__stats_window row_window(const rl__history *h, uint64_t elapsed_s) {
  if (!h->span.run_start_ns)
    return (rl__stats_window){0, elapsed_s};
  rl__stats_window w =
      rl__history_window(h, h->span.run_start_ns + elapsed_s * 1000000000ull);
  return w;
}

/* The seconds a row at run second `elapsed_s` covers. */
static double row_covered(const rl__history *h, uint64_t elapsed_s) {
  if (!h->span.run_start_ns)
    return (double)elapsed_s;
  return rl__history_covered_s(h, h->span.run_start_ns +
                                      elapsed_s * 1000000000ull);
}

/* The figures as of the start of second `elapsed_s`: the counts of
 * requests ended before it, the current rates; the times and sizes so far
 * (a second's worth of them may be newer than the row). */
static void row_totals(rl__history_row *r, const rl__stats_entry *e,
                       uint64_t before_s, rl__stats_window w,
                       double covered_s) {
  r->requests = rl__stats_entry_requests_before(e, before_s);
  r->failures = rl__stats_entry_failures_before(e, before_s);
  r->covered_s = covered_s;
  r->current_rps = rl__stats_entry_current_rps(e, w);
  r->current_fps = rl__stats_entry_current_fps(e, w);
  r->avg_ns = rl__stats_entry_avg_ns(e);
  r->min_ns = rl__stats_entry_min_ns(e);
  r->max_ns = rl__stats_entry_max_ns(e);
  r->median_ns = rl__histogram_percentile(&e->hist, 50);
  r->total_ns = e->total_ns;
  r->avg_bytes =
      e->num_requests ? (double)e->bytes / (double)e->num_requests : 0;
}

/* Rotates every entry's finished second into window slot `slot`, then
 * writes one row per entry of `s`. */
static int entries_tick(rl__history *h, rl__stats *s, size_t slot,
                        const rl__history_row *tmpl, uint64_t before_s,
                        rl__stats_window w) {
  int rc = 0;
  for (size_t i = 0; i < h->nentries; i++)
    if (entry_rotate(h, h->entries[i], slot) != 0)
      rc = RL_ERR_NOMEM;

  const rl__stats_entry **list;
  size_t n = rl__stats_entries(s, &list);
  h->n_entry_rows = 0;
  if (n > h->entry_rows_cap) {
    rl__history_entry_row *v = realloc(h->entry_rows, n * sizeof *v);
    if (!v)
      return RL_ERR_NOMEM;
    h->entry_rows = v;
    h->entry_rows_cap = n;
  }
  for (size_t i = 0; i < n; i++) {
    const rl__stats_entry *se = list[i];
    /* Created here for an entry no worker has added times for yet: the
     * row's strings must belong to the history. */
    struct rl__history_entry *e = entry_find(h, se->type, se->name);
    if (!e)
      e = entry_get(h, se->type, se->name);
    if (!e) {
      rc = RL_ERR_NOMEM;
      continue;
    }
    rl__history_entry_row *er = &h->entry_rows[h->n_entry_rows++];
    er->type = e->type;
    er->name = e->name;
    er->row = *tmpl;
    row_totals(&er->row, se, before_s, w, tmpl->covered_s);
    uint64_t v[NPCT];
    entry_percentiles(e, v);
    set_percentiles(&er->row, v);
  }
  return rc;
}

/* ---- the history --------------------------------------------------------- */

void rl__history_init(rl__history *h) {
  memset(h, 0, sizeof *h);
  rl__histogram_init(&h->second);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    rl__histogram_init(&h->window[i]);
}

void rl__history_free(rl__history *h) {
  free(h->rows);
  rl__histogram_free(&h->second);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    rl__histogram_free(&h->window[i]);
  for (size_t i = 0; i < h->nentries; i++)
    entry_del(h->entries[i]);
  free(h->entries);
  free(h->entry_rows);
  free(h->scratch);
  memset(h, 0, sizeof *h);
}

void rl__history_reset(rl__history *h) {
  int track = h->track_entries;
  rl__history_span span = h->span;
  rl__history_free(h);
  rl__history_init(h);
  h->track_entries = track;
  h->span = span;
}

rl__stats_window rl__history_window(const rl__history *h, uint64_t now_ns) {
  const rl__history_span *sp = &h->span;
  rl__stats_window w = {0, 0};
  if (!sp->from_ns || sp->from_ns < sp->run_start_ns)
    return w;
  uint64_t end = now_ns;
  if (sp->to_ns && sp->to_ns < end)
    end = sp->to_ns;
  if (sp->merged_ns && sp->merged_ns < end)
    end = sp->merged_ns;
  const uint64_t ns = 1000000000ull;
  uint64_t from = sp->from_ns - sp->run_start_ns;
  w.from_sec = (from + ns - 1) / ns; /* the first whole second */
  w.end_sec = end > sp->run_start_ns ? (end - sp->run_start_ns) / ns : 0;
  if (w.end_sec < w.from_sec)
    w.end_sec = w.from_sec;
  return w;
}

double rl__history_covered_s(const rl__history *h, uint64_t now_ns) {
  const rl__history_span *sp = &h->span;
  if (!sp->from_ns)
    return 0;
  uint64_t end = sp->to_ns && sp->to_ns < now_ns ? sp->to_ns : now_ns;
  return end > sp->from_ns ? (double)(end - sp->from_ns) / 1e9 : 0;
}

double rl__history_from_unix(const rl__history *h) {
  const rl__history_span *sp = &h->span;
  if (!sp->from_ns || !sp->run_start_ns || sp->from_ns < sp->run_start_ns)
    return 0;
  return sp->run_start_unix + (double)(sp->from_ns - sp->run_start_ns) / 1e9;
}

void rl__history_track_entries(rl__history *h) { h->track_entries = 1; }

int rl__history_add_times(rl__history *h, const rl__histogram *delta) {
  return rl__histogram_merge(&h->second, delta);
}

int rl__history_add_entry(rl__history *h, const rl__stats_entry *delta) {
  int rc = rl__history_add_times(h, &delta->hist);
  if (!h->track_entries || delta->hist.count == 0)
    return rc;
  struct rl__history_entry *e = entry_get(h, delta->type, delta->name);
  if (!e)
    return RL_ERR_NOMEM;
  int rc2 = sparse_add_hist(h, &e->second, &delta->hist);
  return rc != 0 ? rc : rc2;
}

/* `before_s`: the row counts requests ended before this run second
 * (UINT64_MAX: all of them). */
static int tick(rl__history *h, rl__stats *s, uint64_t unix_time,
                uint64_t elapsed_s, uint32_t users, uint64_t before_s) {
  /* The finished second replaces the oldest in the window; swapping the
   * structs keeps every chunk allocated for reuse. */
  size_t slot = h->next;
  rl__histogram oldest = h->window[slot];
  h->window[slot] = h->second;
  h->second = oldest;
  rl__histogram_reset(&h->second);
  h->next = (h->next + 1) % RL__HISTORY_WINDOW;

  int rc = 0;
  rl__stats_window w = row_window(h, elapsed_s);
  /* The final row covers up to the stop, which may fall after its second
   * began. */
  double covered = before_s == UINT64_MAX && h->span.to_ns
                       ? rl__history_covered_s(h, h->span.to_ns)
                       : row_covered(h, elapsed_s);
  if (h->track_entries) {
    rl__history_row tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.unix_time = unix_time;
    tmpl.elapsed_s = elapsed_s;
    tmpl.users = users;
    tmpl.covered_s = covered;
    rc = entries_tick(h, s, slot, &tmpl, before_s, w);
  }

  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    rl__history_row *rows = realloc(h->rows, cap * sizeof *rows);
    if (!rows)
      return RL_ERR_NOMEM;
    h->rows = rows;
    h->cap = cap;
  }
  rl__histogram window;
  rl__histogram_init(&window);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    if (rl__histogram_merge(&window, &h->window[i]) != 0)
      rc = RL_ERR_NOMEM;

  rl__history_row *r = &h->rows[h->n++];
  memset(r, 0, sizeof *r);
  r->unix_time = unix_time;
  r->elapsed_s = elapsed_s;
  r->users = users;
  row_totals(r, rl__stats_total(s), before_s, w, covered);
  uint64_t v[NPCT];
  rl__history_percentiles(&window, v);
  set_percentiles(r, v);
  rl__histogram_free(&window);
  return rc;
}

int rl__history_tick(rl__history *h, rl__stats *s, uint64_t unix_time,
                     uint64_t elapsed_s, uint32_t users) {
  return tick(h, s, unix_time, elapsed_s, users, elapsed_s);
}

int rl__history_tick_final(rl__history *h, rl__stats *s, uint64_t unix_time,
                           uint64_t elapsed_s, uint32_t users) {
  return tick(h, s, unix_time, elapsed_s, users, UINT64_MAX);
}
