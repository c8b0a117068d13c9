/*
 * Bounded regular expressions, for scenario checks (`body_matches`,
 * json `matches`, `regex:` captures): PCRE2, compiled once (with its JIT
 * when the machine has one), matched under limits so that no pattern on no
 * body can take a run's time or memory.
 *
 * A backtracking engine is what makes `(a+)+$` on a long body explode
 * (glibc's regexec took 13.5 GB on one, issue #13); PCRE2 stops such a
 * match at its limits and says which one, and the check fails with that
 * text instead. The limits (also in docs/scenarios.md):
 *
 *   RL__REGEX_MATCH_LIMIT   backtracking steps from one starting position
 *   RL__REGEX_JIT_STACK     the JIT's backtracking memory per thread
 *   RL__REGEX_HEAP_LIMIT    the interpreter's (no JIT) memory per match
 *
 * The syntax is PCRE2's, a superset of POSIX ERE for what people write; it
 * is compiled with PCRE2_DOTALL and PCRE2_DOLLAR_ENDONLY so that `.` and
 * `$` mean what they meant with regcomp(REG_EXTENDED): `.` matches a
 * newline, `$` is the end of the text only. Bytes, not UTF-8 characters
 * (as regcomp in the C locale).
 *
 * A compiled regex is read-only and shared by every worker thread; each
 * thread matches with its own match data and JIT stack, made on its first
 * match and freed when the thread ends, so matching takes no lock.
 */
#ifndef RL_BASE_REGEX_H
#define RL_BASE_REGEX_H

#include <stddef.h>

#define RL__REGEX_MATCH_LIMIT 1000000u
#define RL__REGEX_JIT_STACK (8u << 20)   /* bytes */
#define RL__REGEX_HEAP_LIMIT (64u << 20) /* bytes */

/* What rl__regex_match returns when a limit stopped the match. */
#define RL__REGEX_LIMIT (-100)

typedef struct rl__regex rl__regex;

/*
 * Compiles the NUL-terminated `pattern`. Returns 0 and *out (caller owns;
 * rl__regex_del), or RL_ERR_INVAL with PCRE2's reason in err and the
 * 0-based byte offset of the fault in *err_off (may be NULL), or
 * RL_ERR_NOMEM.
 */
int rl__regex_new(const char *pattern, rl__regex **out, size_t *err_off,
                  char *err, size_t errlen);

/* Frees a regex; NULL is fine. */
void rl__regex_del(rl__regex *re);

/* The pattern as written (owned by the regex). */
const char *rl__regex_text(const rl__regex *re);

/*
 * Looks for the first match in the `len` bytes at `s` (borrowed; NULs are
 * bytes like any other). Returns 1 when it matches, with the span of group
 * 1 (or of the whole match when the pattern has no group 1 or it took no
 * part) in span[0] (start) and span[1] (end) when span is not NULL; 0 when
 * it does not match; RL__REGEX_LIMIT when a limit stopped it, or
 * RL_ERR_NOMEM, with the reason in why (e.g. "over 1000000 backtracking
 * steps from one position (the match limit)"). Any thread.
 */
int rl__regex_match(const rl__regex *re, const char *s, size_t len,
                    size_t span[2], char *why, size_t whylen);

#endif /* RL_BASE_REGEX_H */
