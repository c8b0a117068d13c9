/* Custom messages on an environment (<rpcload/rpcload.h>, API 1.5): the
 * event table's handlers and queues (events/messages.c), with the data
 * checked as one msgpack value before it goes anywhere. */
#include <stdio.h>

#include <rpcload/rpcload.h>

#include "api/env.h"
#include "cluster/msg.h"

int rl_env_register_message(rl_env *env, const char *type, rl_message_fn fn,
                            void *arg, rl_error_info *err) {
  if (!env || !type || !*type || !fn)
    return rl__api_fail(err, RL_ERR_INVAL,
                        "rl_env_register_message: no environment, type or "
                        "function");
  rl__events *ev = &env->events;
  int rc = ev->host.register_message(&ev->host, type, fn, arg);
  if (rc)
    return rl__api_fail(err, rc, "out of memory");
  return 0;
}

int rl_env_send_message(rl_env *env, const char *type, const void *data,
                        size_t len, const char *node_id, rl_error_info *err) {
  if (!env || !type || !*type || (len && !data))
    return rl__api_fail(err, RL_ERR_INVAL,
                        "rl_env_send_message: no environment, type or data");
  char why[200], text[300];
  if (len && rl__msg_value_check(data, len, why, sizeof why) != 0) {
    snprintf(text, sizeof text,
             "rl_env_send_message('%s'): the data is not one msgpack value: "
             "%s",
             type, why);
    return rl__api_fail(err, RL_ERR_INVAL, text);
  }
  int rc = rl__events_send(&env->events, type, data, len, node_id);
  if (rc == RL_ERR_NOMEM)
    return rl__api_fail(err, rc, "out of memory");
  return rc;
}

const char *rl_env_message_node(const rl_env *env) {
  return env ? env->events.delivering_node : NULL;
}
