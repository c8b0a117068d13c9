/* Pointers for habits from ghz and k6: an option rpcload does not have, or
 * has with another meaning, answered with rpcload's equivalent. */
#ifndef RL_API_HABITS_H
#define RL_API_HABITS_H

/*
 * What to tell someone who typed `opt` ("-c", "--rps", "--rps=100"), an
 * option rpcload does not know: a sentence naming the tool it comes from
 * and rpcload's equivalent ("ghz's -c ... is rpcload's -u ..."), static;
 * NULL when it is no known habit.
 */
const char *rl__api_habit_hint(const char *opt);

#endif /* RL_API_HABITS_H */
