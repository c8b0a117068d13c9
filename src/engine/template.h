/*
 * Request templates: text with {{...}} expressions expanded per request.
 *
 *   {{user_id}}           the user's id (1-based, unique in the run)
 *   {{seq}}               the user's request number (1, 2, ...)
 *   {{uuid}}              a random version-4 UUID
 *   {{timestamp}}         Unix time, seconds
 *   {{timestamp_ms}}      Unix time, milliseconds
 *   {{random_int A B}}    a random integer in [A, B]
 *   {{random_string N}}   N random characters from [A-Za-z0-9]
 *   {{i}}                 the innermost repeat's counter (0, 1, ...)
 *   {{data.NAME}}         column NAME of the user's row of a data file
 *   {{"text"}}            text as it is: {{"{{"}} is a literal "{{"
 *                         (--data-raw writes each "{{" of its data so)
 *
 * An expression ending in `|json` ({{token|json}}) is escaped for the
 * inside of a JSON string (quotes, backslashes, control characters): what
 * a scenario's json: puts around the templates in its strings.
 *
 * Compiled once (when a step is built), so expanding is a walk over parts.
 * Random values come from the user's own generator (--seed repeats them).
 * "{{" with no closing "}}" or an unknown name is an error naming the
 * column.
 */
#ifndef RL_TEMPLATE_H
#define RL_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct rl_template rl_template; /* the ABI's opaque name */

/* What an expansion draws on: the user's identity, random state and
 * variables. */
typedef struct rl__template_ctx {
  uint64_t user_id;
  uint64_t seq;
  uint64_t *rng;
  /* The user's variables (scenario captures), by the index they had in
   * rl__template_set_variables when the template was compiled; NULL
   * entries (never captured) expand to nothing. */
  char *const *vars;
  size_t n_vars;
  uint32_t i; /* the innermost repeat's counter ({{i}}, 0-based) */
  /* The user's row of its class's data file, by the column index it had
   * in rl__template_set_data_columns ({{data.x}}); NULL: none. */
  const char *const *row;
} rl__template_ctx;

/*
 * Scenario variables: while a scenario's steps are compiled (main thread),
 * `{{name}}` for each of these `n` names (borrowed until the next call)
 * compiles to "the user's variable i". Outside that, such a name is an
 * unknown template name, as before. Call with n 0 to end. Not thread-safe:
 * compile templates on one thread.
 */
void rl__template_set_variables(const char *const *names, size_t n);

/*
 * Scenario data files: while a class's steps compile, `{{data.NAME}}`
 * for each of these `n` column names (borrowed until the next call) is
 * that column of the user's row. n 0 ends it. Main thread, as above.
 */
void rl__template_set_data_columns(const char *const *names, size_t n);

/* The length of the expression `expr` (`len` bytes, inside {{ }}) without
 * a trailing `|json` (blanks allowed around the bar), or `len` when it
 * has none. */
size_t rl__template_json_suffix(const char *expr, size_t len);

/*
 * Compiles `len` bytes of `text`. Returns 0 and the template in *out
 * (caller owns; rl__template_del), or RL_ERR_INVAL with a reason in err
 * ("unknown template name 'x' at column 7"), or RL_ERR_NOMEM.
 */
int rl__template_new(const char *text, size_t len, rl_template **out, char *err,
                     size_t errlen);
/* The same, for text that starts at 1-based column `column` of what the
 * user wrote (0 counts as 1): error columns count from there. */
int rl__template_new_at(const char *text, size_t len, size_t column,
                        rl_template **out, char *err, size_t errlen);
/* The text t was compiled from (owned by t, NUL-terminated; *len its
 * length when len is not NULL). For a constant template it is the
 * expansion. */
const char *rl__template_text(const rl_template *t, size_t *len);

void rl__template_del(rl_template *t);

/* 1 when the text has no expression (expanding it is a copy). */
int rl__template_is_constant(const rl_template *t);

/*
 * Appends the expansion to `out` (the caller's). Returns 0, or
 * RL_ERR_NOMEM when `out` could not grow (now or before: its oom).
 */
int rl__template_expand(const rl_template *t, const rl__template_ctx *ctx,
                        rl__buf *out);

#endif /* RL_TEMPLATE_H */
