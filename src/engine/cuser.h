/*
 * Users of a class written in C (include/rpcload/user.h): the driver that
 * runs their phases as the class's callbacks (engine/user.h's
 * rl__user_driver, named by the class's rl__plan_cclass.driver), and what
 * those callbacks call (rl_user_send, rl_user_task_done, the variables and
 * the data), here.
 *
 * A user's phase (on_start, a task, on_stop) is one call of its function,
 * then the done callbacks of the requests it sends; it is over once the
 * class has called rl_user_task_done and none of its requests is still in
 * flight or waiting for its done. Each request is a send of its own (an
 * rl_request with its own response copy), kept in a free list per user,
 * so a user in its stride allocates nothing. A request's end records it
 * as any step's (rl__user_record) and only queues its done: the user runs
 * the done callbacks when the worker lets it act, never inside the
 * plugin's callback nor inside rl_user_send. One worker thread owns the
 * user; nothing here locks.
 */
#ifndef RL_ENGINE_CUSER_H
#define RL_ENGINE_CUSER_H

#include "engine/user.h"

extern const rl__user_driver rl__cuser_driver;

#endif /* RL_ENGINE_CUSER_H */
