#include "resp_acc.h"

#include <stdlib.h>
#include <string.h>

int rl__resp_grow(void *pp, size_t *cap, size_t len, size_t more) {
  char **p = pp;
  if (more <= *cap - len)
    return 0;
  size_t c = *cap ? *cap : 256;
  while (c - len < more) {
    if (c > ((size_t)-1) / 2)
      return RL_ERR_NOMEM;
    c *= 2;
  }
  char *n = realloc(*p, c);
  if (n == NULL)
    return RL_ERR_NOMEM;
  *p = n;
  *cap = c;
  return 0;
}

rl__resp_acc *rl__resp_acc_get(rl__resp_acc **free_list) {
  rl__resp_acc *a = *free_list;
  if (a != NULL)
    *free_list = a->next;
  else if ((a = calloc(1, sizeof *a)) == NULL)
    return NULL;
  a->next = NULL;
  a->hdr_len = a->n_hdr = a->body_len = 0;
  a->oom = 0;
  return a;
}

/* Frees what a collector holds beyond a small response, so that one big
 * response does not pin its memory for the connection's life. */
static void trim(rl__resp_acc *a) {
  free(a->json);
  a->json = NULL;
  if (a->hdr_cap > RL__RESP_KEEP) {
    free(a->hdr);
    a->hdr = NULL;
    a->hdr_cap = 0;
  }
  if (a->body_cap > RL__RESP_KEEP) {
    free(a->body);
    a->body = NULL;
    a->body_cap = 0;
  }
}

void rl__resp_acc_put(rl__resp_acc **free_list, rl__resp_acc *a) {
  if (a == NULL)
    return;
  trim(a);
  a->next = *free_list;
  *free_list = a;
}

void rl__resp_acc_free_all(rl__resp_acc **free_list) {
  while (*free_list != NULL) {
    rl__resp_acc *a = *free_list;
    *free_list = a->next;
    free(a->hdr);
    free(a->body);
    free(a->json);
    free(a->kv);
    free(a);
  }
}

void rl__resp_acc_header(rl__resp_acc *a, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len) {
  size_t more = name_len + value_len + 2;
  if (a->oom || a->hdr_len + more > RL__RESP_MAX_HEADERS ||
      rl__resp_grow(&a->hdr, &a->hdr_cap, a->hdr_len, more) != 0) {
    a->oom = 1;
    return;
  }
  memcpy(a->hdr + a->hdr_len, name, name_len);
  a->hdr_len += name_len;
  a->hdr[a->hdr_len++] = '\0';
  memcpy(a->hdr + a->hdr_len, value, value_len);
  a->hdr_len += value_len;
  a->hdr[a->hdr_len++] = '\0';
  a->n_hdr++;
}

void rl__resp_acc_data(rl__resp_acc *a, const uint8_t *data, size_t len) {
  size_t room = RL__RESP_MAX_BODY - a->body_len;
  if (len > room)
    len = room;
  if (len == 0 || rl__resp_grow(&a->body, &a->body_cap, a->body_len, len) != 0)
    return; /* the body is cut where memory ran out */
  memcpy(a->body + a->body_len, data, len);
  a->body_len += len;
}

void rl__resp_acc_hand_over(const rl_host *host, rl_request *req,
                            rl__resp_acc *a, int status) {
  rl_response resp = {.struct_size = sizeof resp, .status = status};
  if (a->n_hdr > a->kv_cap) {
    rl_kv *kv = realloc(a->kv, a->n_hdr * sizeof *kv);
    if (kv != NULL) {
      a->kv = kv;
      a->kv_cap = a->n_hdr;
    }
  }
  if (!a->oom && a->n_hdr > 0 && a->n_hdr <= a->kv_cap) {
    const char *p = a->hdr;
    for (size_t i = 0; i < a->n_hdr; i++) {
      a->kv[i].key = p;
      p += strlen(p) + 1;
      a->kv[i].value = p;
      p += strlen(p) + 1;
    }
    resp.headers = a->kv;
    resp.n_headers = a->n_hdr;
  }
  if (a->body_len > 0) {
    resp.body = a->body;
    resp.body_len = a->body_len;
  }
  resp.json = a->json;
  host->request_response(req, &resp);
}
