/* Parsing of the units people type: durations ("1h30m") and counts. */
#ifndef RL_UNITS_H
#define RL_UNITS_H

#include <stdint.h>

/*
 * Parses a duration into nanoseconds: a plain number is seconds ("90",
 * "0.5"); otherwise a sequence of number+unit with units h, m, s, ms, us
 * ("30s", "5m", "1h30m", "250ms"). Returns 0, or RL_ERR_INVAL for empty,
 * negative, unknown-unit or overflowing input.
 */
int rl__parse_duration(const char *text, uint64_t *out_ns);

/* Parses a non-negative decimal number (e.g. "0.5"); RL_ERR_INVAL if the
 * whole text is not one. */
int rl__parse_number(const char *text, double *out);

/* Parses a whole number in [min, max]; RL_ERR_INVAL otherwise. */
int rl__parse_int(const char *text, long long min, long long max,
                  long long *out);

#endif /* RL_UNITS_H */
