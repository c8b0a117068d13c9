/* --print-locustfile: a Python file of Locust User classes, one per user
 * class of the plan, for a Locust master that steers rpcload workers
 * (docs/cluster.md). A master runs no users, so the classes only carry
 * what it reads of them: the name (the key of the spawn message's
 * user_classes_count, which workers look up in their own scenario), the
 * weight or fixed_count (locust/dispatch.py deals users by them), and the
 * tasks' tags (--tags is applied by Locust to the classes it loaded). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "scenario/compile.h"

/* A Python string literal of s: UTF-8 passes as it is (a Python source
 * file is UTF-8), quotes, backslashes and control bytes are escaped. */
static void put_literal(const char *s, FILE *out) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\x%02x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

/* A number as Python reads it back to the same double: the shortest of
 * %.15g and %.17g that does. */
static void put_number(double v, FILE *out) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.15g", v);
  double back = 0;
  if (sscanf(buf, "%lf", &back) != 1 || back != v)
    snprintf(buf, sizeof buf, "%.17g", v);
  fputs(buf, out);
}

/* Whether `name` can be written as `class NAME(...)`: an ASCII identifier
 * that is no keyword and shadows nothing the file uses (the locust module,
 * our temporary name). Other names (a space, a dash, non-ASCII) become a
 * class made under a temporary name and stored under the exact one. */
static int plain_name(const char *name) {
  static const char *const keywords[] = {
      "False",  "None",   "True",    "and",      "as",       "assert", "async",
      "await",  "break",  "class",   "continue", "def",      "del",    "elif",
      "else",   "except", "finally", "for",      "from",     "global", "if",
      "import", "in",     "is",      "lambda",   "nonlocal", "not",    "or",
      "pass",   "raise",  "return",  "try",      "while",    "with",   "yield",
      "locust", "globals"};
  if (!name[0] || (name[0] >= '0' && name[0] <= '9') ||
      !strncmp(name, "_rpcload", 8))
    return 0;
  for (const char *p = name; *p; p++) {
    char ch = *p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_'))
      return 0;
  }
  for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
    if (!strcmp(name, keywords[i]))
      return 0;
  return 1;
}

/* One no-op task of class k (task t): Locust's @task takes an integer
 * weight, so a fractional one is rounded (at least 1); a master never runs
 * it, so the weight only shows in Locust's own listings. */
static void put_task(const rl__plan_class *k, size_t t, FILE *out) {
  const rl__plan_task *pt = &k->tasks[t];
  const rl__scn_task *st = pt->origin;
  if (st && st->n_tags) {
    fputs("    @locust.tag(", out);
    for (size_t g = 0; g < st->n_tags; g++) {
      if (g)
        fputs(", ", out);
      put_literal(st->tags[g], out);
    }
    fputs(")\n", out);
  }
  double w = pt->weight < 1 ? 1 : pt->weight + 0.5;
  if (k->sequential || w > 1e9)
    fputs("    @locust.task\n", out);
  else
    fprintf(out, "    @locust.task(%llu)\n", (unsigned long long)w);
  char label[64];
  rl__plan_task_label(k, t, label, sizeof label);
  fprintf(out, "    def task_%zu(self):\n        ", t + 1);
  put_literal(pt->name ? pt->name : label, out);
  fputs("\n\n", out);
}

static void put_class(const rl__plan_class *k, size_t index, FILE *out) {
  int plain = plain_name(k->name);
  if (plain)
    fprintf(out, "\nclass %s(locust.User):\n", k->name);
  else
    fprintf(out, "\nclass _rpcload_class_%zu(locust.User):\n", index);
  /* A fixed_count is at least 1 (the scenario refuses 0, which Locust
   * reads as "no fixed count"). */
  if (k->has_fixed) {
    fprintf(out, "    fixed_count = %llu\n", (unsigned long long)k->fixed);
  } else {
    fputs("    weight = ", out);
    put_number(k->weight, out);
    fputc('\n', out);
  }
  /* Run by itself (not as a master) the stub would spin on its no-op
   * tasks without a wait. */
  fputs("    wait_time = locust.constant(1)\n\n", out);
  for (size_t t = 0; t < k->n_tasks; t++)
    put_task(k, t, out);
  if (!k->n_tasks)
    fputs("    @locust.task\n    def task_1(self):\n        pass\n\n", out);
}

/* Locust names a class by __name__ (the spawn message, the stats) and
 * lists the module's attributes: both must be the scenario's name. Done
 * after every class is made, since a class named "locust" rebinds the
 * module's name. */
static void put_rename(const rl__plan_class *k, size_t index, FILE *out) {
  if (plain_name(k->name))
    return;
  fprintf(out, "_rpcload_class_%zu.__name__ = ", index);
  put_literal(k->name, out);
  fprintf(out,
          "\n_rpcload_class_%zu.__qualname__ = _rpcload_class_%zu.__name__"
          "\nglobals()[_rpcload_class_%zu.__name__] = _rpcload_class_%zu"
          "\ndel _rpcload_class_%zu\n",
          index, index, index, index, index);
}

int rl__api_print_locustfile(rl_env *env) {
  const char *from = env->o.scenario ? env->o.scenario
                     : env->o.script ? env->o.script
                                     : NULL;
  FILE *out = stdout;
  fputs("# A Locust master's user classes for rpcload workers, made by\n"
        "# `rpcload --print-locustfile`",
        out);
  if (from)
    fprintf(out, " from %s", from);
  fputs(":\n"
        "#\n"
        "#   locust --master -f THIS_FILE ...\n"
        "#   rpcload --worker --master-host HOST ... (the same classes)\n"
        "#\n"
        "# One class per rpcload user class, with its name, weight or\n"
        "# fixed_count and its tasks' tags; the tasks do nothing, since a\n"
        "# master runs no users (docs/cluster.md).\n"
        "import locust\n\n",
        out);
  if (env->plan) {
    for (size_t c = 0; c < env->plan->n_classes; c++)
      put_class(&env->plan->classes[c], c + 1, out);
    for (size_t c = 0; c < env->plan->n_classes; c++)
      put_rename(&env->plan->classes[c], c + 1, out);
  } else {
    /* The command line's one request: its class is "User", weight 1
     * (rl__plan_single), whatever the target. */
    fputs("\nclass User(locust.User):\n"
          "    weight = 1\n"
          "    wait_time = locust.constant(1)\n\n"
          "    @locust.task\n"
          "    def task_1(self):\n"
          "        pass\n",
          out);
  }
  if (fflush(out) || ferror(out)) {
    fprintf(stderr, "rpcload: error: --print-locustfile: cannot write to "
                    "standard output\n");
    return RL__API_EXIT_USAGE;
  }
  return 0;
}
