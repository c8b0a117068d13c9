/*
 * A small JSON path, for scenario captures and JSON expectations:
 *
 *   $              the whole document
 *   .key           a member of an object (key: any characters but . [ ]
 *                  and blanks)
 *   ['key']        a member, quoted ('...' or "..."; \' \" \\ escape), for
 *                  keys with dots, brackets or blanks
 *   [N]            element N of an array (0-based)
 *   [-N]           element N from the end ([-1] is the last)
 *   [*]            every element of an array (or member of an object):
 *                  one wildcard a path, for expectations on every element
 *                  ($.messages[*].ok: every message of a stream)
 *
 * e.g. $.token, $.items[0].id, $['content-type'], $.list[-1].
 * Without [*] a path selects at most one value (what a capture keeps); no
 * filters or recursive descent. Compiled once at load time, so a syntax
 * error is reported with its column before the run starts.
 */
#ifndef RL_JSONPATH_H
#define RL_JSONPATH_H

#include <stddef.h>

#include <jansson.h>

typedef struct rl__jsonpath rl__jsonpath;

/*
 * Compiles the NUL-terminated `text`. Returns 0 and *out (caller owns;
 * rl__jsonpath_del), or RL_ERR_INVAL with the reason in err (no position
 * in the text: the caller places it) and the 0-based byte offset of the
 * problem in *err_off (may be NULL), or RL_ERR_NOMEM.
 */
int rl__jsonpath_new(const char *text, rl__jsonpath **out, size_t *err_off,
                     char *err, size_t errlen);

/* Frees a path; NULL is fine. */
void rl__jsonpath_del(rl__jsonpath *p);

/* The source text (owned by the path). */
const char *rl__jsonpath_text(const rl__jsonpath *p);

/* 1 when the path has a [*] (it selects every element: rl__jsonpath_each),
 * else 0. */
int rl__jsonpath_wild(const rl__jsonpath *p);

/*
 * A path with [*]: calls fn(value, i, arg) for each element i the
 * wildcard meets in `doc`, value being what the rest of the path selects
 * in it (NULL when not there; borrowed from doc), until fn returns
 * non-zero. Returns the number of elements (0 when the path up to [*]
 * is not there, or selects neither an array nor an object). A path
 * without [*] visits its one value (index 0), or nothing.
 */
size_t rl__jsonpath_each(const rl__jsonpath *p, const json_t *doc,
                         int (*fn)(json_t *value, size_t i, void *arg),
                         void *arg);

/*
 * The value `p` selects in `doc`, or NULL when it is not there (a key
 * missing, an index out of range, a key into a non-object...; always for
 * a path with [*], which selects several). The result
 * is borrowed from `doc` (no reference taken): it lives as long as doc.
 */
json_t *rl__jsonpath_eval(const rl__jsonpath *p, const json_t *doc);

/*
 * A value as a capture keeps it: a string as its characters (no quotes),
 * anything else as compact JSON ("42", "true", "null", "[1,2]").
 * Returns a malloc'd NUL-terminated string the caller frees, or NULL when
 * out of memory.
 */
char *rl__jsonpath_value_text(const json_t *v);

#endif /* RL_JSONPATH_H */
