#include "resp_acc.h"

#include <stdlib.h>
#include <string.h>

void rl__resp_acc_clear(rl__resp_acc *a) {
  free(a->json);
  a->json = NULL;
  rl__buf_trim(&a->hdr, RL__RESP_KEEP);
  rl__buf_trim(&a->body, RL__RESP_KEEP);
  a->n_hdr = 0;
}

void rl__resp_acc_free(rl__resp_acc *a) {
  rl__buf_free(&a->hdr);
  rl__buf_free(&a->body);
  free(a->json);
  free(a->kv);
  a->json = NULL;
  a->kv = NULL;
  a->kv_cap = 0;
  a->n_hdr = 0;
}

rl__resp_acc *rl__resp_acc_get(rl__resp_acc **free_list) {
  rl__resp_acc *a = *free_list;
  if (a != NULL)
    *free_list = a->next;
  else if ((a = calloc(1, sizeof *a)) == NULL)
    return NULL;
  a->next = NULL;
  return a;
}

void rl__resp_acc_put(rl__resp_acc **free_list, rl__resp_acc *a) {
  if (a == NULL)
    return;
  rl__resp_acc_clear(a);
  a->next = *free_list;
  *free_list = a;
}

void rl__resp_acc_free_all(rl__resp_acc **free_list) {
  while (*free_list != NULL) {
    rl__resp_acc *a = *free_list;
    *free_list = a->next;
    rl__resp_acc_free(a);
    free(a);
  }
}

unsigned rl__resp_parts(const rl_host *host, const rl_request *req) {
  if (RL_HOST_HAS_RESPONSE_PARTS(host) && host->request_response_parts)
    return host->request_response_parts(req);
  return host->request_wants_response(req) ? RL_RESPONSE_ALL : 0;
}

void rl__resp_acc_header(rl__resp_acc *a, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len) {
  if (!(a->parts & RL_RESPONSE_HEADERS))
    return;
  size_t more = name_len + value_len + 2;
  if (a->hdr.oom || a->hdr.len + more > RL__RESP_MAX_HEADERS ||
      rl__buf_reserve(&a->hdr, more) != 0) {
    a->hdr.oom = 1;
    return;
  }
  rl__buf_add(&a->hdr, name, name_len);
  rl__buf_add(&a->hdr, "", 1);
  rl__buf_add(&a->hdr, value, value_len);
  rl__buf_add(&a->hdr, "", 1);
  a->n_hdr++;
}

void rl__resp_acc_data(rl__resp_acc *a, const uint8_t *data, size_t len) {
  if (!(a->parts & RL_RESPONSE_BODY))
    return;
  size_t room = RL__RESP_MAX_BODY - a->body.len;
  /* Cut at the limit, or where memory ran out (the buffer then refuses
   * the rest). */
  rl__buf_add(&a->body, data, len < room ? len : room);
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
  if (!a->hdr.oom && a->n_hdr > 0 && a->n_hdr <= a->kv_cap) {
    const char *p = a->hdr.p;
    for (size_t i = 0; i < a->n_hdr; i++) {
      a->kv[i].key = p;
      p += strlen(p) + 1;
      a->kv[i].value = p;
      p += strlen(p) + 1;
    }
    resp.headers = a->kv;
    resp.n_headers = a->n_hdr;
  }
  if (a->body.len > 0) {
    resp.body = (const uint8_t *)a->body.p;
    resp.body_len = a->body.len;
  }
  resp.json = a->json;
  host->request_response(req, &resp);
}
