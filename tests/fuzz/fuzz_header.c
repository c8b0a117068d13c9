/*
 * Fuzz target: the user's request headers (-H 'Name: value', a scenario
 * step's headers: mapping) as plugins/lib/http_text splits and checks them
 * for the HTTP plugins, and the escaping that shows user input in
 * messages. Each line of the input is one header, tried both as typed
 * (-H's raw line) and as a name/value pair split at its first ':' (a
 * scenario's mapping); then all of them as one step's headers.
 *
 * Checked beyond "no crash": what is accepted is what the header's
 * comment promises (a token name, a value without CR, LF, other controls
 * or DEL, no blank at either end); what is refused says why; the shown
 * form fits its buffer and is printable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http_text.h"

#define MAX_LINES 64

static void check_accepted(const rl__http_hdr *h) {
  if (h->name_len == 0 || !rl__http_is_token(h->name, h->name_len))
    abort();
  if (rl__http_bad_value(h->value, h->value_len))
    abort();
  if (h->value_len > 0 && (rl__http_is_ows(h->value[0]) ||
                           rl__http_is_ows(h->value[h->value_len - 1])))
    abort();
}

static void check_shown(const char *s, size_t n) {
  char out[RL__HTTP_SHOW_BUF_LEN];
  rl__http_show(s, n, out);
  size_t len = strlen(out);
  if (len >= sizeof out)
    abort();
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
      abort();
}

static void one(const rl_kv *kv) {
  rl__http_hdr h;
  char err[256] = "";
  if (rl__http_parse_header(kv, &h, err, sizeof err) == 0)
    check_accepted(&h);
  else if (err[0] == '\0')
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  char *pairs = malloc(size + 1);
  if (text == NULL || pairs == NULL) {
    free(text);
    free(pairs);
    return 0;
  }
  memcpy(text, data, size);
  text[size] = '\0';
  memcpy(pairs, text, size + 1);
  check_shown((const char *)data, size);

  rl_kv raw[MAX_LINES], split[MAX_LINES];
  size_t n = 0;
  char *line = text, *pline = pairs;
  while (n < MAX_LINES) {
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
      *nl = '\0';
      pline[nl - line] = '\0';
    }
    raw[n] = (rl_kv){line, NULL};
    char *colon = strchr(pline, ':');
    if (colon != NULL) {
      *colon = '\0';
      split[n] = (rl_kv){pline, colon + 1};
    } else {
      split[n] = (rl_kv){pline, ""};
    }
    one(&raw[n]);
    one(&split[n]);
    n++;
    if (nl == NULL)
      break;
    pline += nl + 1 - line;
    line = nl + 1;
  }

  /* All of them as one step's headers (the scenario's split form). */
  rl_step_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.struct_size = sizeof spec;
  spec.headers = split;
  spec.n_headers = n;
  rl__http_hdr *hs = NULL;
  char err[256] = "";
  if (rl__http_parse_headers(&spec, &hs, err, sizeof err) == 0) {
    for (size_t i = 0; hs != NULL && i < n; i++) {
      check_accepted(&hs[i]);
      (void)rl__http_is_default_header(&hs[i]);
    }
    if (hs != NULL && n > 0)
      (void)rl__http_find_header(hs, n, "content-type");
  } else if (err[0] == '\0') {
    abort();
  }
  free(hs);
  free(text);
  free(pairs);
  return 0;
}
