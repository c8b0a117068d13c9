#include "engine/arrival.h"

#include <math.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "base/rng.h"

/* Places the next arrival at integral `x`. */
static void place(rl__arrivals *a, double x) {
  a->next_x = x;
  a->next_ns = rl__profile_when(a->rate, x);
}

/* An exponential gap of mean `mean` (in arrivals of the whole run). */
static double exp_gap(uint64_t *rng, double mean) {
  double u = rl__rng_double(rng);
  return -log1p(-u) * mean; /* u in [0, 1): log1p(-u) is finite */
}

void rl__arrivals_init(rl__arrivals *a, const rl__profile *rate, uint32_t k,
                       uint32_t n, int kind, uint64_t seed) {
  memset(a, 0, sizeof *a);
  a->rate = rate;
  a->n = n ? n : 1;
  a->k = k < a->n ? k : 0;
  a->kind = kind;
  a->rng = seed ^ (0x9e3779b97f4a7c15ull * (k + 1));
  if (kind == RL__ARRIVALS_POISSON) {
    place(a, exp_gap(&a->rng, a->n));
  } else {
    a->next_j = a->k;
    place(a, (double)a->next_j + 0.5);
  }
}

void rl__arrivals_pop(rl__arrivals *a) {
  if (a->next_ns == UINT64_MAX)
    return;
  if (a->kind == RL__ARRIVALS_POISSON) {
    place(a, a->next_x + exp_gap(&a->rng, a->n));
  } else {
    a->next_j += a->n;
    place(a, (double)a->next_j + 0.5);
  }
}

int rl__arrivals_parse(const char *text, int *kind) {
  if (text && strcmp(text, "even") == 0) {
    *kind = RL__ARRIVALS_EVEN;
    return 0;
  }
  if (text && strcmp(text, "poisson") == 0) {
    *kind = RL__ARRIVALS_POISSON;
    return 0;
  }
  return RL_ERR_INVAL;
}
