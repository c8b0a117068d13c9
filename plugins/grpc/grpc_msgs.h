/*
 * The gRPC step's request messages (grpc_msgs.c): -d, -D, -b/-B compiled
 * into st->msgs once, at start-up. Private to plugins/grpc.
 */
#ifndef RL_GRPC_MSGS_H
#define RL_GRPC_MSGS_H

#include <stddef.h>

#include <rpcload/plugin.h>

struct grpc_step;

/*
 * Compiles the step's messages into st->msgs (st->method, st->pool,
 * st->gzip and st->max_send set): from `data_file` (-D, or -B with
 * `binary`), else from spec's body (-d, or -b's bytes with `binary`),
 * else the empty message {}. Borrows spec and data_file. JSON text may
 * start with a UTF-8 byte order mark; binary bytes given as JSON are
 * refused as such (pointing at -B). Returns 0, or an RL_ERR_* code with one
 * line in err naming the input and what is wrong.
 */
int grpc_msgs_compile(struct grpc_step *st, const rl_step_spec *spec,
                      const char *data_file, int binary, char *err,
                      size_t errlen);

/* The length of a UTF-8 byte order mark at the start of `len` bytes of s
 * (3), or 0: JSON from Windows editors starts with one, and JSON readers
 * refuse it, so it is skipped. */
size_t grpc_bom_len(const char *s, size_t len);

/* Whether the text is one {{...}} and nothing else (blanks aside): a
 * value given whole with each request (a Lua call's message, options). */
int grpc_whole_template(const char *s, size_t len);

#endif /* RL_GRPC_MSGS_H */
