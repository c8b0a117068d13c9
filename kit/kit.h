/*
 * rpcload-conformance's two halves: kit/wrap.c stands between the core and
 * the plugin under test (the books on every request, the stall clock, the
 * faults it injects into a codec's reads); kit/conformance.c makes the
 * runs through the ordinary runner and gives the verdicts. One plugin is
 * checked per process, so the state is one global, `kit`.
 */
#ifndef RL_KIT_H
#define RL_KIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "engine/plugin_loader.h"

#define KIT_MAX_VIOLATIONS_SHOWN 8
#define KIT_MAX_ERROR_STEPS 4

/* What the current run does to a codec's reads (set between runs). */
enum kit_fault {
  FAULT_NONE = 0,
  FAULT_SPLIT,   /* every read handed to the plugin one byte at a time */
  FAULT_CLOSE,   /* every other connection closed in the middle of its
                    first reply (half of its first read handed over) */
  FAULT_DELAY,   /* every read handed over 20-100 ms late, in order */
  FAULT_TIMEOUT, /* every other connection, once it has answered two
                    requests, has its replies withheld until the host's
                    request timeout ends one of them */
  FAULT_ERRORS,  /* no bytes touched: users alternate the request with one
                    the server answers with an error (kit.error_steps) */
};

/* The injected delays (FAULT_DELAY), in ms: each read draws one. */
#define KIT_DELAY_MIN_MS 20
#define KIT_DELAY_MAX_MS 100

/* What one run saw, cleared before it (kit_run_begin). */
typedef struct kit_counts {
  uint64_t accepted;    /* submits the plugin accepted */
  uint64_t refused;     /* submits it refused (the core fails them) */
  uint64_t reported;    /* first events of accepted requests, passed on */
  uint64_t handed_back; /* request_retry / request_move */
  uint64_t connections; /* sessions made */
  uint64_t cut_replies; /* FAULT_CLOSE: replies cut */
  uint64_t delayed;     /* FAULT_DELAY: reads held back */
  /* FAULT_DELAY: failures of requests whose delayed reply was still held
   * when the server closed: the close overtook it, which a real network
   * would not do (the kit cannot hold back a close). */
  uint64_t overtaken;
  uint64_t withheld;         /* FAULT_TIMEOUT: connections held back */
  uint64_t timed_out;        /* events of requests their timeout ended */
  uint64_t timeout_failed;   /* ... that failed saying they timed out */
  uint64_t ok_after_timeout; /* successes after the first of those */
  uint64_t error_requests;   /* FAULT_ERRORS: error requests ended */
  uint64_t error_failed;     /* ... of them failed with a text */
  uint64_t ok_after_error;   /* successes on a connection after an error
                                reply ended a request on it */
  char timeout_text[200];    /* the first timed-out request's error */
  char error_text[200];      /* the first error reply's error */
} kit_counts;

typedef struct kit_state {
  pthread_mutex_t lock;   /* the books and everything below */
  struct kit_book *slots; /* open addressing on the request pointer */
  size_t cap, used;
  uint64_t violations;
  char shown[KIT_MAX_VIOLATIONS_SHOWN][256];
  /* the stall detector, over all runs */
  uint64_t stall_limit_ns;
  uint64_t longest_ns;
  const char *longest_in;
  uint64_t stalls;
  char stall_shown[256]; /* the first stall, shown under its own check */
  enum kit_fault fault;
  /* FAULT_ERRORS: the error request's step objects (one per variant of
   * its target), to tell its events from the ordinary request's. */
  const void *error_steps[KIT_MAX_ERROR_STEPS];
  size_t n_error_steps;
  kit_counts n;
} kit_state;

extern kit_state kit;

/* The plugin's own callbacks, as loaded (wrap.c keeps them). */
extern rl_plugin kit_orig;

/*
 * Replaces every callback of `p`'s descriptor (the loader's copy) by one
 * that keeps the books and injects kit.fault, and makes the host table
 * the plugin sees (kit_host_table()), whose request_done checks each
 * event before the core's gets it. Once, before any run.
 */
void kit_wrap(rl__plugin *p);

/* The host table handed to the plugin (valid for the process). */
const rl_host *kit_host_table(void);

/* Clears the run's counts and sets its fault; between runs only. */
void kit_run_begin(enum kit_fault fault);
/* Ends the run's fault, keeping its counts (kit.n) for the verdict. */
void kit_run_end(void);

/* 1 when an error text says the request timed out: rpcload's own
 * "timed out after 0.25s" passed on, or the protocol's word for it
 * (gRPC's DEADLINE_EXCEEDED). */
int kit_says_timeout(const char *error);

#endif /* RL_KIT_H */
