/*
 * Reading a scenario's YAML document with positions: the building blocks
 * every part of the schema (scenario.c, checks.c) uses. A parse walks
 * libyaml's node tree with one rl__scn_ctx; each reader checks the shape of
 * a node and, on the first problem, writes "file:line:col: message" (or
 * "file: out of memory") into the context's err and returns RL_ERR_INVAL
 * (or RL_ERR_NOMEM); the walk then stops. On success they return 0.
 *
 * Nodes are borrowed from the context's document; strings handed out
 * (rl__scn_dup_str, rl__scn_get_str, rl__scn_opt_str, string lists) are
 * owned by the caller, who stores them in the scenario that rl__scn_del
 * frees.
 */
#ifndef RL_SCENARIO_YAML_H
#define RL_SCENARIO_YAML_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "base/jsonpath.h"
#include "base/regex.h"
#include "scenario/scenario.h"

/* Limits of a scenario file (docs/scenarios.md, "Limits"), checked before
 * anything is built. */
#define RL__SCN_MAX_BYTES (16u << 20)
#define RL__SCN_MAX_DEPTH 64
#define RL__SCN_MAX_NODES 1000000
/* engine/plan.h's RL__PLAN_MAX_REPEAT_DEPTH: a user's counters. */
#define RL__SCN_MAX_REPEAT_DEPTH 8

/* One parse: where errors go, the document, and what is being built. */
typedef struct rl__scn_ctx {
  const char *file; /* the name errors use */
  const char *text; /* the file's bytes (borrowed), for positions */
  size_t text_len;
  yaml_document_t *doc;
  char *err;
  size_t errlen;
  rl__scn *s;
  size_t work; /* nodes visited by JSON conversion (yaml_json.c) */
  /* Every variable name captured so far in the file (borrowed from the
   * captures), against RL__SCN_MAX_VARS (scenario/vars.h). */
  const char **all_vars;
  size_t n_all_vars;
  int repeat_depth;       /* repeats the steps being read are in */
  const rl__feeder *data; /* the data file {{data.x}} reads, or NULL */
  /* A C class's request (rl__scn_parse_request): a variable no capture
   * sets is one the class's code sets, added to s->c_vars. */
  int open_vars;
  const yaml_node_t *library; /* the top-level tasks: mapping, or NULL */
} rl__scn_ctx;

/* ---- errors -------------------------------------------------------------- */

/* Formats "file:line:col: message" (or "file: message" when pos.line is
 * 0) into err; NULL err or errlen 0: nothing. */
void rl__scn_vformat(const char *file, rl__scn_pos pos, char *err,
                     size_t errlen, const char *fmt, va_list ap);

/* The parse's error at `pos`. Returns RL_ERR_INVAL. */
int rl__scn_errat(rl__scn_ctx *c, rl__scn_pos pos, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "file: out of memory". Returns RL_ERR_NOMEM. */
int rl__scn_oom(rl__scn_ctx *c);

/* libyaml's parser error `p` (borrowed) as the parse's error, with a
 * line and column also for the reader's errors (found by the byte's
 * offset in c->text). Returns RL_ERR_INVAL, or RL_ERR_NOMEM. */
int rl__scn_yaml_error(rl__scn_ctx *c, const yaml_parser_t *p);

/* Reads c->text's events, refusing nesting deeper than RL__SCN_MAX_DEPTH
 * or more than RL__SCN_MAX_NODES values at the first event past the
 * limit (with its position), before libyaml builds a document (whose
 * loading would take quadratic time in the depth). 0, RL_ERR_INVAL (a
 * limit, or the YAML error), or RL_ERR_NOMEM. */
int rl__scn_prescan(rl__scn_ctx *c);

/* ---- nodes --------------------------------------------------------------- */

/* A node's position, 1-based. */
rl__scn_pos rl__scn_npos(const yaml_node_t *n);

/* The node `id` of the context's document. */
yaml_node_t *rl__scn_node_at(rl__scn_ctx *c, yaml_node_item_t id);

/* A scalar node's text (borrowed). */
const char *rl__scn_stext(const yaml_node_t *n);

/* 1 when a scalar is unquoted. */
int rl__scn_is_plain(const yaml_node_t *n);

/* 1 for YAML's null: an unquoted ~, null or nothing. */
int rl__scn_is_null(const yaml_node_t *n);

/* What a node is, for "expected X, got Y": "a mapping", "a list",
 * "nothing", or its text quoted into buf (len bytes). */
const char *rl__scn_describe(const yaml_node_t *n, char *buf, size_t len);

/* "expected <expected> for '<key>', got <what n is>". Returns
 * RL_ERR_INVAL. */
int rl__scn_type_err(rl__scn_ctx *c, const yaml_node_t *n, const char *expected,
                     const char *key);

/* The position of byte `off` inside a scalar where the source maps onto
 * the value byte for byte, else the scalar's own position. */
rl__scn_pos rl__scn_inner_pos(const yaml_node_t *n, size_t off);

/* ---- mappings ------------------------------------------------------------ */

/* 1 when `s` is in the NULL-terminated `list`. */
int rl__scn_in_list(const char *const *list, const char *s);

/* The word of `list` that `s` was likely meant to be, or NULL: for "did
 * you mean". */
const char *rl__scn_closest(const char *const *list, const char *s);

/* `list` as "a, b, c" into buf (len bytes). */
void rl__scn_join(const char *const *list, char *buf, size_t len);

/* "unknown key 'k' in <what> (did you mean ...? expected: ...)", with
 * `hint` (may be NULL) after it. Returns RL_ERR_INVAL. */
int rl__scn_unknown_key(rl__scn_ctx *c, const yaml_node_t *k, const char *what,
                        const char *const *allowed, const char *hint);

/* Checks mapping `m`'s keys: each a string, none twice, and (when
 * `allowed` is not NULL) each in `allowed`; `what` names the mapping. */
int rl__scn_check_map(rl__scn_ctx *c, const yaml_node_t *m, const char *what,
                      const char *const *allowed, const char *hint);

/* Of the `n` strings `texts` (borrowed), the repeat that comes first:
 * its index in *dup and its first occurrence's in *first. Returns 1, 0
 * when none repeats, or RL_ERR_NOMEM. n log n. */
int rl__scn_first_duplicate(const char *const *texts, size_t n, size_t *dup,
                            size_t *first);

/* The value of `key` in mapping `m` (keys already checked), or NULL; its
 * key node in *key_node when that is not NULL. */
yaml_node_t *rl__scn_get(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                         yaml_node_t **key_node);

/* ---- scalars ------------------------------------------------------------- */

/* A scalar's text in *out (borrowed from the document), refusing an
 * embedded NUL. */
int rl__scn_scalar_text(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                        const char **out);

/* A copy of `s` in *out (caller owns). */
int rl__scn_dup_str(rl__scn_ctx *c, const char *s, char **out);

/* The string `n` (null refused) copied into *out (caller owns). */
int rl__scn_get_str(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    char **out);

/* The string member `key` of mapping `m` into *out (caller owns), and its
 * position into *pos (may be NULL); *out stays NULL when `key` is
 * absent. */
int rl__scn_opt_str(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                    char **out, rl__scn_pos *pos);

/* A finite number (no inf, nan or hex). */
int rl__scn_get_num(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    double *out);

/* A whole number from min to max. */
int rl__scn_get_int(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    long long min, long long max, long long *out);

/* YAML's true/yes/on or false/no/off as 1 or 0. */
int rl__scn_get_bool(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                     int *out);

/* A duration in ns: a number of seconds or "500ms", "2s", "1m30s". */
int rl__scn_get_duration(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                         uint64_t *out);

/* ---- arrays -------------------------------------------------------------- */

/* Grows the array whose pointer is at `arr_ptr` (any T **, *n elements of
 * `size` bytes) by one zeroed element and returns it, or NULL when out of
 * memory (the array is then unchanged). */
void *rl__scn_grow(void *arr_ptr, size_t *n, size_t size);

/* ---- string lists -------------------------------------------------------- */

/* A string or a list of strings, appended to *out (each caller owned). */
int rl__scn_parse_str_list(rl__scn_ctx *c, const yaml_node_t *n,
                           const char *key, char ***out, size_t *count);

/* ---- regular expressions and JSON paths ---------------------------------- */

/* Compiles the regex `re` (base/regex.h), found at byte `off` of scalar
 * `n`, into *out (caller owns; rl__regex_del); an error names the
 * position of the fault inside it. */
int rl__scn_compile_re(rl__scn_ctx *c, const yaml_node_t *n, size_t off,
                       const char *re, rl__regex **out);

/* Compiles the JSON path `text`, found at byte `off` of scalar `n`, into
 * *out (caller owns; rl__jsonpath_del); an error names the position of
 * the fault inside it. */
int rl__scn_compile_path(rl__scn_ctx *c, const yaml_node_t *n, size_t off,
                         const char *text, rl__jsonpath **out);

#endif /* RL_SCENARIO_YAML_H */
