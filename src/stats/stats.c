/*
 * Request statistics (see stats.h for the contract).
 *
 * Entries and errors live in open-addressing tables (linear probing,
 * power-of-two capacity, at most half full) whose slots hold the key's hash
 * next to a pointer to a separately allocated node: probing compares hashes
 * without touching the nodes, and growing the table moves slots, never
 * nodes, so the entry pointers callers cache stay valid.
 *
 * The key hash is FNV-1a over the strings, each with its terminator so that
 * ("ab", "c") and ("a", "bc") differ. An error's hash continues from its
 * entry's hash, so recording a failure hashes only the error text. Hashes do
 * not depend on the table, which lets a merge reuse src's hashes in dst.
 */
#include "stats/stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

_Static_assert(RL__STATS_RING > RL__STATS_CURRENT_WINDOW,
               "the ring must hold the window plus the second in progress");

#define FNV_OFFSET 0xcbf29ce484222325u
#define FNV_PRIME 0x100000001b3u
#define MIN_SLOTS 16

typedef struct error_node {
  rl__stats_error pub;
  uint64_t hash;
} error_node;

typedef struct entry_node {
  rl__stats_entry pub; /* first, so that a cached entry pointer is a node */
  uint64_t hash;
  size_t error_rows; /* distinct texts kept for this entry */
  error_node *other; /* the row past the cap, or NULL */
} entry_node;

/* Room for "(18446744073709551615 other errors)". */
#define OTHER_TEXT_SIZE 48

/* Named so that sizeof(entry_ref) reads as "one pointer", which is what the
 * lists and views hold. */
typedef const rl__stats_entry *entry_ref;
typedef const rl__stats_error *error_ref;

typedef struct slot {
  uint64_t hash;
  void *node; /* NULL when free */
} slot;

typedef struct table {
  slot *slots;
  size_t nslots; /* 0 or a power of two */
  size_t used;
} table;

struct rl__stats {
  table entry_ix;
  entry_node **entry_list; /* every entry, in creation order */
  entry_ref *entry_view;   /* sorted copy handed out */
  size_t entry_cap;        /* of both arrays */

  /* Errors: error_list holds every row (nerrors), error_ix every row but
   * the `other` ones, which are reached through their entry, never by
   * their text. */
  table error_ix;
  error_node **error_list;
  error_ref *error_view;
  size_t error_cap, nerrors;
  size_t max_error_rows;          /* per entry; 0: no cap */
  const entry_node *first_capped; /* since the last clear */

  rl__stats_entry total;
  uint64_t iter_scheduled, iter_dropped; /* the open model's */

  /* Exceptions: few (a user's code failing), so a list searched in
   * order; past RL__STATS_MAX_EXCEPTIONS the last row groups the rest. */
  rl__stats_exception *exc;
  size_t nexc, exc_cap;
};

/* ---- keys ---------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *str) {
  const unsigned char *p = (const unsigned char *)str;
  do {
    h ^= *p;
    h *= FNV_PRIME;
  } while (*p++ != '\0');
  return h;
}

static uint64_t entry_hash(const char *type, const char *name) {
  return fnv1a(fnv1a(FNV_OFFSET, type), name);
}

typedef struct key {
  const char *type;
  const char *name;
  const char *error; /* unused for entries */
} key;

static bool entry_matches(const void *node, const key *k) {
  const rl__stats_entry *e = node;
  return strcmp(e->name, k->name) == 0 && strcmp(e->type, k->type) == 0;
}

static bool error_matches(const void *node, const key *k) {
  const rl__stats_error *r = node;
  return strcmp(r->error, k->error) == 0 && strcmp(r->name, k->name) == 0 &&
         strcmp(r->type, k->type) == 0;
}

/* ---- open-addressing table ----------------------------------------------- */

static size_t home_slot(const table *t, uint64_t hash) {
  /* FNV's low bits are its weakest; fold the high half in. */
  return (size_t)(hash ^ (hash >> 32)) & (t->nslots - 1);
}

/* The slot holding the key, or the free slot where it belongs. The table
 * must have at least one free slot. */
static slot *table_probe(const table *t, uint64_t hash, const key *k,
                         bool (*matches)(const void *, const key *)) {
  for (size_t i = home_slot(t, hash);; i = (i + 1) & (t->nslots - 1)) {
    slot *s = &t->slots[i];
    if (s->node == NULL || (s->hash == hash && matches(s->node, k)))
      return s;
  }
}

static slot *table_find(const table *t, uint64_t hash, const key *k,
                        bool (*matches)(const void *, const key *)) {
  if (t->nslots == 0)
    return NULL;
  slot *s = table_probe(t, hash, k, matches);
  return s->node != NULL ? s : NULL;
}

/* Makes room for one more key, keeping the table at most half full. */
static int table_reserve(table *t) {
  if ((t->used + 1) * 2 <= t->nslots)
    return 0;
  size_t n = t->nslots != 0 ? t->nslots * 2 : MIN_SLOTS;
  slot *slots = calloc(n, sizeof(*slots));
  if (slots == NULL)
    return RL_ERR_NOMEM;
  table grown = {slots, n, t->used};
  for (size_t i = 0; i < t->nslots; i++) {
    if (t->slots[i].node == NULL)
      continue;
    size_t j = home_slot(&grown, t->slots[i].hash);
    while (slots[j].node != NULL)
      j = (j + 1) & (n - 1);
    slots[j] = t->slots[i];
  }
  free(t->slots);
  *t = grown;
  return 0;
}

static void table_empty(table *t) {
  if (t->slots != NULL)
    memset(t->slots, 0, t->nslots * sizeof(*t->slots));
  t->used = 0;
}

/* Grows the node list and its sorted view together, so that handing out the
 * view later never needs memory. `cap` only moves once both succeeded. Both
 * arrays hold struct pointers, which C gives one size (C11 6.2.5p28). */
static int lists_reserve(void **list, void **view, size_t *cap, size_t len,
                         size_t elem) {
  if (len < *cap)
    return 0;
  size_t n = *cap != 0 ? *cap * 2 : MIN_SLOTS;
  void *l = realloc(*list, n * elem);
  if (l == NULL)
    return RL_ERR_NOMEM;
  *list = l;
  void *v = realloc(*view, n * elem);
  if (v == NULL)
    return RL_ERR_NOMEM;
  *view = v;
  *cap = n;
  return 0;
}

/* ---- entries ------------------------------------------------------------- */

static void entry_zero(rl__stats_entry *e) {
  e->num_requests = 0;
  e->num_failures = 0;
  e->total_ns = 0;
  e->bytes = 0;
  rl__histogram_reset(&e->hist);
  rl__histogram_reset(&e->hist_alt);
  e->total_alt_ns = 0;
  memset(e->ring_sec, 0, sizeof(e->ring_sec));
  memset(e->ring_reqs, 0, sizeof(e->ring_reqs));
  memset(e->ring_fails, 0, sizeof(e->ring_fails));
}

static void entry_fini(rl__stats_entry *e) {
  free(e->type);
  free(e->name);
  rl__histogram_free(&e->hist);
  rl__histogram_free(&e->hist_alt);
}

static int entry_init(rl__stats_entry *e, const char *type, const char *name) {
  memset(e, 0, sizeof(*e));
  rl__histogram_init(&e->hist);
  rl__histogram_init(&e->hist_alt);
  e->type = strdup(type);
  e->name = strdup(name);
  if (e->type == NULL || e->name == NULL) {
    entry_fini(e);
    return RL_ERR_NOMEM;
  }
  return 0;
}

static entry_node *entry_lookup(rl__stats *s, const char *type,
                                const char *name, uint64_t hash) {
  key k = {type, name, NULL};
  slot *found = table_find(&s->entry_ix, hash, &k, entry_matches);
  if (found != NULL)
    return found->node;

  void *list = s->entry_list, *view = s->entry_view;
  int rc = lists_reserve(&list, &view, &s->entry_cap, s->entry_ix.used,
                         sizeof(entry_ref));
  s->entry_list = list;
  s->entry_view = view;
  if (rc != 0 || table_reserve(&s->entry_ix) != 0)
    return NULL;

  entry_node *n = malloc(sizeof(*n));
  if (n == NULL)
    return NULL;
  if (entry_init(&n->pub, type, name) != 0) {
    free(n);
    return NULL;
  }
  n->hash = hash;
  n->error_rows = 0;
  n->other = NULL;
  slot *free_slot = table_probe(&s->entry_ix, hash, &k, entry_matches);
  free_slot->hash = hash;
  free_slot->node = n;
  s->entry_list[s->entry_ix.used++] = n;
  return n;
}

rl__stats_entry *rl__stats_entry_get(rl__stats *s, const char *type,
                                     const char *name) {
  if (type == NULL || name == NULL)
    return NULL;
  entry_node *n = entry_lookup(s, type, name, entry_hash(type, name));
  return n != NULL ? &n->pub : NULL;
}

/* ---- errors -------------------------------------------------------------- */

static void error_del(error_node *n) {
  free(n->pub.type);
  free(n->pub.name);
  free(n->pub.error);
  free(n);
}

/* Makes room in the error list (and its view) for one more row. */
static int errors_reserve(rl__stats *s) {
  void *list = s->error_list, *view = s->error_view;
  int rc =
      lists_reserve(&list, &view, &s->error_cap, s->nerrors, sizeof(error_ref));
  s->error_list = list;
  s->error_view = view;
  return rc;
}

/* The entry's `other` row, created with no occurrence if new. */
static error_node *other_row(rl__stats *s, entry_node *en) {
  if (en->other)
    return en->other;
  if (errors_reserve(s) != 0)
    return NULL;
  error_node *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return NULL;
  n->pub.type = strdup(en->pub.type);
  n->pub.name = strdup(en->pub.name);
  n->pub.error = calloc(1, OTHER_TEXT_SIZE);
  if (n->pub.type == NULL || n->pub.name == NULL || n->pub.error == NULL) {
    error_del(n);
    return NULL;
  }
  n->pub.other = 1;
  n->pub.first_sec = UINT64_MAX;
  s->error_list[s->nerrors++] = n;
  en->other = n;
  if (!s->first_capped)
    s->first_capped = en;
  return n;
}

/* The error row for the key, created with no occurrence if new; once the
 * entry has its cap of texts, a new text gets the entry's `other` row. */
static error_node *error_lookup(rl__stats *s, entry_node *en, const char *error,
                                uint64_t hash) {
  key k = {en->pub.type, en->pub.name, error};
  slot *found = table_find(&s->error_ix, hash, &k, error_matches);
  if (found != NULL)
    return found->node;
  if (s->max_error_rows && en->error_rows >= s->max_error_rows)
    return other_row(s, en);

  if (errors_reserve(s) != 0 || table_reserve(&s->error_ix) != 0)
    return NULL;

  error_node *n = calloc(1, sizeof(*n));
  if (n == NULL)
    return NULL;
  n->pub.type = strdup(en->pub.type);
  n->pub.name = strdup(en->pub.name);
  n->pub.error = strdup(error);
  if (n->pub.type == NULL || n->pub.name == NULL || n->pub.error == NULL) {
    error_del(n);
    return NULL;
  }
  n->pub.first_sec = UINT64_MAX;
  n->hash = hash;
  slot *free_slot = table_probe(&s->error_ix, hash, &k, error_matches);
  free_slot->hash = hash;
  free_slot->node = n;
  s->error_ix.used++;
  s->error_list[s->nerrors++] = n;
  en->error_rows++;
  return n;
}

static void error_count(rl__stats_error *r, uint64_t occurrences,
                        uint64_t first_sec, uint64_t last_sec) {
  r->occurrences += occurrences;
  if (first_sec < r->first_sec)
    r->first_sec = first_sec;
  if (last_sec > r->last_sec)
    r->last_sec = last_sec;
}

/* ---- the table ----------------------------------------------------------- */

rl__stats *rl__stats_new(void) {
  rl__stats *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->max_error_rows = RL__STATS_MAX_ERROR_ROWS;
  if (entry_init(&s->total, "", "Aggregated") != 0) {
    free(s);
    return NULL;
  }
  return s;
}

static void errors_drop(rl__stats *s) {
  for (size_t i = 0; i < s->nerrors; i++)
    error_del(s->error_list[i]);
  s->nerrors = 0;
  table_empty(&s->error_ix);
  for (size_t i = 0; i < s->entry_ix.used; i++) {
    s->entry_list[i]->error_rows = 0;
    s->entry_list[i]->other = NULL;
  }
  s->first_capped = NULL;
}

void rl__stats_set_max_error_rows(rl__stats *s, size_t n) {
  s->max_error_rows = n;
}

const rl__stats_entry *rl__stats_capped(const rl__stats *s) {
  return s->first_capped ? &s->first_capped->pub : NULL;
}

static void exceptions_drop(rl__stats *s) {
  for (size_t i = 0; i < s->nexc; i++) {
    free(s->exc[i].msg);
    free(s->exc[i].traceback);
  }
  s->nexc = 0;
}

int rl__stats_record_exception(rl__stats *s, const char *msg,
                               const char *traceback, uint64_t count) {
  msg = msg ? msg : "";
  traceback = traceback ? traceback : "";
  size_t kept = s->nexc;
  int grouped = kept > RL__STATS_MAX_EXCEPTIONS;
  for (size_t i = 0; i < kept - (size_t)grouped; i++)
    if (strcmp(s->exc[i].msg, msg) == 0 &&
        strcmp(s->exc[i].traceback, traceback) == 0) {
      s->exc[i].count += count;
      return 0;
    }
  if (kept == RL__STATS_MAX_EXCEPTIONS + 1) { /* the grouped row */
    s->exc[kept - 1].count += count;
    return 0;
  }
  if (kept == s->exc_cap) {
    size_t cap = s->exc_cap ? s->exc_cap * 2 : 8;
    rl__stats_exception *a = realloc(s->exc, cap * sizeof *a);
    if (!a)
      return RL_ERR_NOMEM;
    s->exc = a;
    s->exc_cap = cap;
  }
  rl__stats_exception *e = &s->exc[kept];
  if (kept == RL__STATS_MAX_EXCEPTIONS) {
    e->msg = strdup("(other exceptions)");
    e->traceback = strdup("");
  } else {
    e->msg = strdup(msg);
    e->traceback = strdup(traceback);
  }
  if (!e->msg || !e->traceback) {
    free(e->msg);
    free(e->traceback);
    return RL_ERR_NOMEM;
  }
  e->count = count;
  s->nexc++;
  return 0;
}

size_t rl__stats_exceptions(const rl__stats *s,
                            const rl__stats_exception **out) {
  *out = s->exc;
  return s->nexc;
}

void rl__stats_del(rl__stats *s) {
  if (s == NULL)
    return;
  exceptions_drop(s);
  free(s->exc);
  errors_drop(s); /* first: it resets each entry's error state */
  for (size_t i = 0; i < s->entry_ix.used; i++) {
    entry_fini(&s->entry_list[i]->pub);
    free(s->entry_list[i]);
  }
  free(s->entry_ix.slots);
  free(s->entry_list);
  free(s->entry_view);
  free(s->error_ix.slots);
  free(s->error_list);
  free(s->error_view);
  entry_fini(&s->total);
  free(s);
}

/* The ring slot for `sec`, restarted if it held an older second; -1 if it
 * already holds a newer one (a late event from more than a ring ago, which
 * must not wipe the newer second). */
static int ring_slot(rl__stats_entry *e, uint64_t sec) {
  int i = (int)(sec % RL__STATS_RING);
  if (e->ring_sec[i] != sec) {
    if (e->ring_sec[i] > sec)
      return -1;
    e->ring_sec[i] = sec;
    e->ring_reqs[i] = 0;
    e->ring_fails[i] = 0;
  }
  return i;
}

int rl__stats_record(rl__stats *s, rl__stats_entry *e, uint64_t rt_ns,
                     uint64_t bytes, const char *error, uint64_t sec) {
  e->num_requests++;
  e->total_ns += rt_ns;
  e->bytes += bytes;
  int i = ring_slot(e, sec);
  if (i >= 0)
    e->ring_reqs[i]++;
  int rc = rl__histogram_record(&e->hist, rt_ns);
  if (error == NULL)
    return rc;

  e->num_failures++;
  if (i >= 0)
    e->ring_fails[i]++;
  entry_node *en = (entry_node *)e;
  error_node *r = error_lookup(s, en, error, fnv1a(en->hash, error));
  if (r == NULL)
    return RL_ERR_NOMEM;
  error_count(&r->pub, 1, sec, sec);
  return rc;
}

int rl__stats_count_error(rl__stats *s, rl__stats_entry *e, const char *error,
                          uint64_t occurrences, uint64_t sec) {
  entry_node *en = (entry_node *)e;
  error_node *r = error_lookup(s, en, error, fnv1a(en->hash, error));
  if (r == NULL)
    return RL_ERR_NOMEM;
  error_count(&r->pub, occurrences, sec, sec);
  return 0;
}

int rl__stats_record_alt(rl__stats_entry *e, uint64_t rt_ns) {
  e->total_alt_ns += rt_ns;
  return rl__histogram_record(&e->hist_alt, rt_ns);
}

void rl__stats_count_iterations(rl__stats *s, uint64_t scheduled,
                                uint64_t dropped) {
  s->iter_scheduled += scheduled;
  s->iter_dropped += dropped;
}

void rl__stats_iterations(const rl__stats *s, uint64_t *scheduled,
                          uint64_t *dropped) {
  *scheduled = s->iter_scheduled;
  *dropped = s->iter_dropped;
}

static int entry_add(rl__stats_entry *dst, const rl__stats_entry *src) {
  dst->num_requests += src->num_requests;
  dst->num_failures += src->num_failures;
  dst->total_ns += src->total_ns;
  dst->bytes += src->bytes;
  for (size_t i = 0; i < RL__STATS_RING; i++) {
    if (src->ring_reqs[i] == 0 && src->ring_fails[i] == 0)
      continue;
    int j = ring_slot(dst, src->ring_sec[i]);
    if (j < 0)
      continue;
    dst->ring_reqs[j] += src->ring_reqs[i];
    dst->ring_fails[j] += src->ring_fails[i];
  }
  dst->total_alt_ns += src->total_alt_ns;
  int rc = rl__histogram_merge(&dst->hist, &src->hist);
  if (src->hist_alt.count &&
      rl__histogram_merge(&dst->hist_alt, &src->hist_alt))
    rc = RL_ERR_NOMEM;
  return rc;
}

int rl__stats_merge(rl__stats *dst, const rl__stats *src) {
  /* Best effort: the caller clears src after merging whatever the result,
   * so stopping at the first failure would lose more than it saves. src's
   * own total is not read: it is rebuilt from src's entries, which keeps
   * merging an already merged table from counting twice. */
  int rc = 0;
  dst->iter_scheduled += src->iter_scheduled;
  dst->iter_dropped += src->iter_dropped;
  for (size_t i = 0; i < src->entry_ix.used; i++) {
    const entry_node *sn = src->entry_list[i];
    entry_node *dn = entry_lookup(dst, sn->pub.type, sn->pub.name, sn->hash);
    if (dn == NULL || entry_add(&dn->pub, &sn->pub) != 0)
      rc = RL_ERR_NOMEM;
    if (entry_add(&dst->total, &sn->pub) != 0)
      rc = RL_ERR_NOMEM;
  }
  for (size_t i = 0; i < src->nerrors; i++) {
    const error_node *sr = src->error_list[i];
    entry_node *dn = entry_lookup(dst, sr->pub.type, sr->pub.name,
                                  entry_hash(sr->pub.type, sr->pub.name));
    error_node *dr = dn == NULL ? NULL
                     : sr->pub.other
                         ? other_row(dst, dn)
                         : error_lookup(dst, dn, sr->pub.error, sr->hash);
    if (dr == NULL) {
      rc = RL_ERR_NOMEM;
      continue;
    }
    error_count(&dr->pub, sr->pub.occurrences, sr->pub.first_sec,
                sr->pub.last_sec);
  }
  for (size_t i = 0; i < src->nexc; i++)
    if (rl__stats_record_exception(dst, src->exc[i].msg, src->exc[i].traceback,
                                   src->exc[i].count))
      rc = RL_ERR_NOMEM;
  return rc;
}

void rl__stats_clear(rl__stats *s) {
  for (size_t i = 0; i < s->entry_ix.used; i++)
    entry_zero(&s->entry_list[i]->pub);
  entry_zero(&s->total);
  s->iter_scheduled = s->iter_dropped = 0;
  errors_drop(s);
  exceptions_drop(s);
}

const rl__stats_entry *rl__stats_total(const rl__stats *s) { return &s->total; }

/* ---- views --------------------------------------------------------------- */

static int entry_order(const void *a, const void *b) {
  entry_ref x = *(const entry_ref *)a;
  entry_ref y = *(const entry_ref *)b;
  int c = strcmp(x->name, y->name);
  return c != 0 ? c : strcmp(x->type, y->type);
}

size_t rl__stats_entries(rl__stats *s, const rl__stats_entry ***out) {
  size_t n = s->entry_ix.used;
  for (size_t i = 0; i < n; i++)
    s->entry_view[i] = &s->entry_list[i]->pub;
  if (n > 1)
    qsort(s->entry_view, n, sizeof(entry_ref), entry_order);
  *out = s->entry_view;
  return n;
}

static int error_order(const void *a, const void *b) {
  error_ref x = *(const error_ref *)a;
  error_ref y = *(const error_ref *)b;
  if (x->occurrences != y->occurrences)
    return x->occurrences > y->occurrences ? -1 : 1;
  int c = strcmp(x->name, y->name);
  if (c == 0)
    c = strcmp(x->type, y->type);
  return c != 0 ? c : strcmp(x->error, y->error);
}

size_t rl__stats_errors(rl__stats *s, const rl__stats_error ***out) {
  size_t n = s->nerrors;
  for (size_t i = 0; i < n; i++) {
    rl__stats_error *r = &s->error_list[i]->pub;
    if (r->other)
      snprintf(r->error, OTHER_TEXT_SIZE, "(%llu other errors)",
               (unsigned long long)r->occurrences);
    s->error_view[i] = r;
  }
  if (n > 1)
    qsort(s->error_view, n, sizeof(error_ref), error_order);
  *out = s->error_view;
  return n;
}

/* ---- derived figures ----------------------------------------------------- */

static double window_rate(const uint64_t *ring_sec, const uint64_t *counts,
                          rl__stats_window w) {
  if (w.end_sec <= w.from_sec)
    return 0.0;
  uint64_t span = w.end_sec - w.from_sec;
  if (span > RL__STATS_CURRENT_WINDOW)
    span = RL__STATS_CURRENT_WINDOW;
  uint64_t sum = 0;
  for (uint64_t sec = w.end_sec - span; sec < w.end_sec; sec++) {
    size_t i = sec % RL__STATS_RING;
    if (ring_sec[i] == sec)
      sum += counts[i];
  }
  return (double)sum / (double)span;
}

double rl__stats_entry_current_rps(const rl__stats_entry *e,
                                   rl__stats_window w) {
  return window_rate(e->ring_sec, e->ring_reqs, w);
}

double rl__stats_entry_current_fps(const rl__stats_entry *e,
                                   rl__stats_window w) {
  return window_rate(e->ring_sec, e->ring_fails, w);
}

static uint64_t count_before(uint64_t total, const uint64_t *ring_sec,
                             const uint64_t *counts, uint64_t end_sec) {
  uint64_t later = 0;
  for (size_t i = 0; i < RL__STATS_RING; i++)
    if (ring_sec[i] >= end_sec)
      later += counts[i];
  return later < total ? total - later : 0;
}

uint64_t rl__stats_entry_requests_before(const rl__stats_entry *e,
                                         uint64_t end_sec) {
  return count_before(e->num_requests, e->ring_sec, e->ring_reqs, end_sec);
}

uint64_t rl__stats_entry_failures_before(const rl__stats_entry *e,
                                         uint64_t end_sec) {
  return count_before(e->num_failures, e->ring_sec, e->ring_fails, end_sec);
}

uint64_t rl__stats_entry_avg_ns(const rl__stats_entry *e) {
  return e->num_requests != 0 ? e->total_ns / e->num_requests : 0;
}

uint64_t rl__stats_entry_min_ns(const rl__stats_entry *e) {
  /* hist.count, not num_requests: a value the histogram could not take
   * leaves min at its empty marker. */
  return e->hist.count != 0 ? e->hist.min : 0;
}

uint64_t rl__stats_entry_max_ns(const rl__stats_entry *e) {
  return e->hist.max;
}
