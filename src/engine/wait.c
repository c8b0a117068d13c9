#include "engine/wait.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "base/rng.h"
#include "base/units.h"

static int seconds(const char *text, uint64_t *ns) {
  double v;
  if (rl__parse_number(text, &v) != 0 || v > 1e9)
    return RL_ERR_INVAL;
  *ns = (uint64_t)llround(v * 1e9);
  return 0;
}

/* "S1,S2,...": seconds each, 1 to RL__WAIT_SEQUENCE_MAX of them. */
static int parse_sequence(const char *spec, const char *arg, rl__wait *out,
                          char *err, size_t errlen) {
  const char *p = arg;
  out->n = 0;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char one[64];
    if (out->n == RL__WAIT_SEQUENCE_MAX) {
      snprintf(err, errlen, "bad wait '%s': a sequence holds at most %d waits",
               spec, RL__WAIT_SEQUENCE_MAX);
      return RL_ERR_INVAL;
    }
    if (len >= sizeof one)
      len = sizeof one - 1; /* too long to be a number: refused below */
    memcpy(one, p, len);
    one[len] = 0;
    if (seconds(one, &out->seq_ns[out->n]) != 0) {
      snprintf(err, errlen,
               "bad wait '%s': expected sequence:S1,S2,... in seconds, "
               "'%s' is not a number of seconds",
               spec, one);
      return RL_ERR_INVAL;
    }
    out->n++;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

int rl__wait_parse(const char *spec, rl__wait *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  const char *colon = strchr(spec, ':');
  size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
  const char *arg = colon ? colon + 1 : "";
#define KIND_IS(k) (klen == strlen(k) && strncmp(spec, k, klen) == 0)
  if (KIND_IS("none") && !colon) {
    out->kind = RL__WAIT_NONE;
    return 0;
  }
  if (KIND_IS("constant")) {
    out->kind = RL__WAIT_CONSTANT;
    if (seconds(arg, &out->a_ns) == 0)
      return 0;
  } else if (KIND_IS("pacing")) {
    out->kind = RL__WAIT_PACING;
    if (seconds(arg, &out->a_ns) == 0 && out->a_ns > 0)
      return 0;
  } else if (KIND_IS("schedule")) {
    out->kind = RL__WAIT_SCHEDULE;
    if (seconds(arg, &out->a_ns) == 0 && out->a_ns > 0)
      return 0;
  } else if (KIND_IS("throughput")) {
    double n;
    out->kind = RL__WAIT_PACING;
    if (rl__parse_number(arg, &n) == 0 && n > 0 && n <= 1e9) {
      out->a_ns = (uint64_t)llround(1e9 / n);
      return 0;
    }
  } else if (KIND_IS("exponential")) {
    out->kind = RL__WAIT_EXPONENTIAL;
    if (seconds(arg, &out->a_ns) == 0 && out->a_ns > 0)
      return 0;
  } else if (KIND_IS("sequence")) {
    out->kind = RL__WAIT_SEQUENCE;
    return parse_sequence(spec, arg, out, err, errlen);
  } else if (KIND_IS("between")) {
    char a[64], b[64];
    const char *comma = strchr(arg, ',');
    out->kind = RL__WAIT_BETWEEN;
    if (comma && (size_t)(comma - arg) < sizeof a &&
        strlen(comma + 1) < sizeof b) {
      memcpy(a, arg, (size_t)(comma - arg));
      a[comma - arg] = 0;
      memcpy(b, comma + 1, strlen(comma + 1) + 1);
      if (seconds(a, &out->a_ns) == 0 && seconds(b, &out->b_ns) == 0 &&
          out->a_ns <= out->b_ns)
        return 0;
    }
    snprintf(
        err, errlen,
        "bad wait '%s': expected between:MIN,MAX in seconds with MIN <= MAX",
        spec);
    return RL_ERR_INVAL;
  } else {
    snprintf(err, errlen,
             "unknown wait '%s': use constant:S, between:MIN,MAX, "
             "throughput:N, pacing:S, schedule:S, exponential:MEAN, "
             "sequence:S1,S2,... or none",
             spec);
    return RL_ERR_INVAL;
  }
#undef KIND_IS
  snprintf(err, errlen, "bad wait '%s': expected a positive number after ':'",
           spec);
  return RL_ERR_INVAL;
}

uint64_t rl__wait_task_start(const rl__wait *w, rl__wait_state *st,
                             uint64_t now_ns, int waited) {
  uint64_t from = now_ns;
  switch (w->kind) {
  case RL__WAIT_PACING:
    /* Started at once: the pace counts from now (Locust starts afresh
     * after an overrun). Started by the wait timer: from when it was due,
     * which rl__wait_after_task set. */
    if (!waited || !st->started)
      st->due_ns = now_ns;
    break;
  case RL__WAIT_SCHEDULE:
    /* The schedule is fixed from the first task on. A task behind it
     * counts from when it was due; one its own timer started counts from
     * now: the timer's slack is the client's, not the server's. */
    if (!st->started)
      st->due_ns = now_ns;
    else if (!waited && st->due_ns < now_ns)
      from = st->due_ns;
    break;
  default:
    st->due_ns = now_ns;
    break;
  }
  st->started = 1;
  return from;
}

uint64_t rl__wait_after_task(const rl__wait *w, rl__wait_state *st,
                             uint64_t now_ns, uint64_t *rng) {
  switch (w->kind) {
  case RL__WAIT_CONSTANT:
    return w->a_ns;
  case RL__WAIT_BETWEEN:
    return w->a_ns +
           (uint64_t)(rl__rng_double(rng) * (double)(w->b_ns - w->a_ns));
  case RL__WAIT_PACING: {
    /* max(0, S - the time the task took), and the next task is due when
     * that wait ends: never earlier than now, so nothing is owed. The
     * first time, S whole (Locust 2.12's wait_time_func). */
    uint64_t next = st->paced ? st->due_ns + w->a_ns : now_ns + w->a_ns;
    st->paced = 1;
    st->due_ns = next > now_ns ? next : now_ns;
    return st->due_ns - now_ns;
  }
  case RL__WAIT_SCHEDULE:
    /* Due one period after the last one was due, late or not. */
    st->due_ns += w->a_ns;
    return st->due_ns > now_ns ? st->due_ns - now_ns : 0;
  case RL__WAIT_EXPONENTIAL: {
    /* Inverse transform: -mean * ln(1 - U), U in [0, 1), so the log's
     * argument is in (0, 1]. */
    double x = -(double)w->a_ns * log1p(-rl__rng_double(rng));
    return x < 1.8e19 ? (uint64_t)x : UINT64_MAX / 2;
  }
  case RL__WAIT_SEQUENCE: {
    uint64_t v = w->n ? w->seq_ns[st->next % w->n] : 0;
    st->next = w->n ? (st->next + 1) % w->n : 0;
    return v;
  }
  case RL__WAIT_NONE:
  default:
    return 0;
  }
}
