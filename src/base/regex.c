/*
 * Bounded regular expressions over PCRE2 (regex.h): compile once, match
 * under a match limit, a JIT stack and a heap limit.
 *
 * May call: the C library, pthreads, PCRE2.
 */
#include "base/regex.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <rpcload/plugin.h>

struct rl__regex {
  char *text;
  pcre2_code *code;
};

/* What one thread matches with: its match data (room for groups 0 and 1),
 * a match context with the limits, and the JIT's stack that context
 * points at (a JIT stack is used by one thread at a time). */
typedef struct thread_state {
  pcre2_match_data *md;
  pcre2_match_context *mc;
  pcre2_jit_stack *stack;
} thread_state;

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;
static int state_key_ok;

static void state_free(void *p) {
  thread_state *t = p;
  if (!t)
    return;
  pcre2_match_data_free(t->md);
  pcre2_match_context_free(t->mc);
  pcre2_jit_stack_free(t->stack);
  free(t);
}

static void state_key_make(void) {
  state_key_ok = pthread_key_create(&state_key, state_free) == 0;
}

/* The calling thread's state, made on its first match; NULL when out of
 * memory. Freed by the key's destructor when the thread ends. */
static thread_state *state_get(void) {
  pthread_once(&state_once, state_key_make);
  if (!state_key_ok)
    return NULL;
  thread_state *t = pthread_getspecific(state_key);
  if (t)
    return t;
  if (!(t = calloc(1, sizeof *t)))
    return NULL;
  t->md = pcre2_match_data_create(2, NULL);
  t->mc = pcre2_match_context_create(NULL);
  t->stack =
      pcre2_jit_stack_create((size_t)32 << 10, RL__REGEX_JIT_STACK, NULL);
  if (!t->md || !t->mc || pthread_setspecific(state_key, t) != 0) {
    state_free(t);
    return NULL;
  }
  pcre2_set_match_limit(t->mc, RL__REGEX_MATCH_LIMIT);
  /* The interpreter's backtracking frames (KiB); the JIT ignores it. */
  pcre2_set_heap_limit(t->mc, RL__REGEX_HEAP_LIMIT / 1024);
  /* Without a stack of its own the JIT uses 32 KiB of the machine's. */
  if (t->stack)
    pcre2_jit_stack_assign(t->mc, NULL, t->stack);
  return t;
}

int rl__regex_new(const char *pattern, rl__regex **out, size_t *err_off,
                  char *err, size_t errlen) {
  *out = NULL;
  if (err_off)
    *err_off = 0;
  rl__regex *re = calloc(1, sizeof *re);
  if (!re || !(re->text = strdup(pattern))) {
    free(re);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  int code;
  PCRE2_SIZE off = 0;
  /* DOTALL and DOLLAR_ENDONLY: `.` and `$` as regcomp(REG_EXTENDED)
   * read them. */
  re->code =
      pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                    PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
  if (!re->code) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
      snprintf((char *)msg, sizeof msg, "error %d", code);
    if (err_off)
      *err_off = off;
    snprintf(err, errlen, "%s", (const char *)msg);
    rl__regex_del(re);
    return code == PCRE2_ERROR_HEAPLIMIT || code == PCRE2_ERROR_NOMEMORY
               ? RL_ERR_NOMEM
               : RL_ERR_INVAL;
  }
  /* No JIT on this machine (or for this pattern): the interpreter, under
   * its heap limit, does the same work more slowly. */
  (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
  *out = re;
  return 0;
}

void rl__regex_del(rl__regex *re) {
  if (!re)
    return;
  pcre2_code_free(re->code);
  free(re->text);
  free(re);
}

const char *rl__regex_text(const rl__regex *re) { return re->text; }

int rl__regex_match(const rl__regex *re, const char *s, size_t len,
                    size_t span[2], char *why, size_t whylen) {
  thread_state *t = state_get();
  if (!t) {
    snprintf(why, whylen, "out of memory");
    return RL_ERR_NOMEM;
  }
  int rc = pcre2_match(re->code, (PCRE2_SPTR)(s ? s : ""), s ? len : 0, 0, 0,
                       t->md, t->mc);
  if (rc == PCRE2_ERROR_NOMATCH)
    return 0;
  if (rc >= 0) {
    if (span) {
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
      size_t g = rc >= 2 && ov[2] != PCRE2_UNSET ? 1 : 0;
      span[0] = ov[2 * g];
      span[1] = ov[2 * g + 1];
    }
    return 1;
  }
  switch (rc) {
  case PCRE2_ERROR_MATCHLIMIT:
    snprintf(why, whylen,
             "over %u backtracking steps from one position (the match limit)",
             RL__REGEX_MATCH_LIMIT);
    return RL__REGEX_LIMIT;
  case PCRE2_ERROR_JIT_STACKLIMIT:
    snprintf(why, whylen,
             "needs over %u MiB of backtracking memory (the JIT stack limit)",
             RL__REGEX_JIT_STACK >> 20);
    return RL__REGEX_LIMIT;
  case PCRE2_ERROR_HEAPLIMIT:
    snprintf(why, whylen,
             "needs over %u MiB of backtracking memory (the heap limit)",
             RL__REGEX_HEAP_LIMIT >> 20);
    return RL__REGEX_LIMIT;
  case PCRE2_ERROR_NOMEMORY:
    snprintf(why, whylen, "out of memory");
    return RL_ERR_NOMEM;
  default: {
    PCRE2_UCHAR msg[120];
    if (pcre2_get_error_message(rc, msg, sizeof msg) < 0)
      snprintf((char *)msg, sizeof msg, "error %d", rc);
    snprintf(why, whylen, "%s", (const char *)msg);
    return RL__REGEX_LIMIT;
  }
  }
}
