/*
 * Fuzz target: request templates (rl__template_new: `{{user_id}}`,
 * `{{random_int A B}}`, `{{data.col}}`, `{{token|json}}`... in paths,
 * headers and bodies), compiled as a scenario's steps are (two variables
 * and a data column known), then expanded twice (a user's first and second
 * request).
 *
 * Checked beyond "no crash": a refused template says why; a constant one
 * expands to the same bytes every time; an expansion never fails for want
 * of anything but memory.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "engine/template.h"

static const char *const var_names[] = {"token", "order_id"};
static const char *const columns[] = {"email"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl__template_set_variables(var_names, 2);
  rl__template_set_data_columns(columns, 1);
  rl_template *t = NULL;
  char err[512] = "";
  int rc = rl__template_new((const char *)data, size, &t, err, sizeof err);
  rl__template_set_variables(NULL, 0);
  rl__template_set_data_columns(NULL, 0);
  if (rc != 0) {
    if (err[0] == '\0' || t != NULL)
      abort();
    return 0;
  }

  uint64_t rng = 42;
  static char captured[] = "a\"b\\c\n";
  char *vars[] = {captured, NULL}; /* one captured, one never */
  const char *row[] = {"ann@example.com"};
  rl__template_ctx ctx = {.user_id = 7,
                          .seq = 1,
                          .rng = &rng,
                          .vars = vars,
                          .n_vars = 2,
                          .i = 0,
                          .row = row};
  rl__buf a, b;
  rl__buf_init(&a);
  rl__buf_init(&b);
  int ra = rl__template_expand(t, &ctx, &a);
  ctx.seq = 2;
  ctx.i = 1;
  int rb = rl__template_expand(t, &ctx, &b);
  if ((ra != 0 && !a.oom) || (rb != 0 && !b.oom))
    abort();
  if (ra == 0 && rb == 0 && rl__template_is_constant(t) &&
      (a.len != b.len || (a.len > 0 && memcmp(a.p, b.p, a.len) != 0)))
    abort();
  rl__buf_free(&a);
  rl__buf_free(&b);
  rl__template_del(t);
  return 0;
}
