#include "h2codec.h"

#include <stdio.h>
#include <stdlib.h>

int rl__h2codec_start(rl__h2codec *c, const rl_host *host, rl_conn *conn,
                      const rl_conn_info *info, const h2_callbacks *cb,
                      size_t stream_size) {
  c->host = host;
  c->conn = conn;
  c->plain = info != NULL && !info->tls;
  c->has_retry = RL_HOST_HAS(host, conn_drain);
  c->has_responses = RL_HOST_HAS_RESPONSES(host) &&
                     host->request_wants_response != NULL &&
                     host->request_response != NULL;
  h2_config cfg = {0};
  cfg.stream_data_size = stream_size;
  cfg.manual_window = c->manual_window;
  int rc = h2_session_new(cb, c, &cfg, &c->h2);
  if (rc == 0)
    rc = h2_session_flush(c->h2);
  if (rc != 0) {
    h2_session_del(c->h2);
    c->h2 = NULL;
  }
  return rc;
}

int rl__h2codec_write(void *session_data, const uint8_t *data, size_t len) {
  rl__h2codec *c = session_data;
  return c->host->conn_write(c->conn, data, len);
}

void rl__h2codec_goaway(void *session_data, uint32_t error_code,
                        int32_t last_stream_id) {
  rl__h2codec *c = session_data;
  (void)error_code;
  (void)last_stream_id;
  if (c->has_retry)
    c->host->conn_drain(c->conn);
}

int rl__h2codec_admit(const rl__h2codec *c, uint32_t cap_before_settings) {
  if (h2_session_closing(c->h2, NULL))
    return RL_ERR_CLOSED;
  uint32_t limit = h2_session_max_concurrent(c->h2, cap_before_settings);
  if (h2_session_active(c->h2) >= (limit > 0 ? limit : 1))
    return RL_ERR_BUSY;
  return 0;
}

int rl__h2codec_collector(rl__h2codec *c, rl_request *req, rl__resp_acc **acc) {
  *acc = NULL;
  unsigned parts = c->has_responses ? rl__resp_parts(c->host, req) : 0;
  if (parts && (*acc = rl__resp_acc_get(&c->free_accs)) == NULL)
    return RL_ERR_NOMEM;
  if (*acc)
    (*acc)->parts = parts;
  return 0;
}

int rl__h2codec_submitted(rl__h2codec *c, int rc, rl__resp_acc *acc) {
  if (rc != 0) {
    rl__resp_acc_put(&c->free_accs, acc);
    return rc;
  }
  /* The last stream id is spent: new requests need a new connection. */
  if (c->has_retry && h2_session_closing(c->h2, NULL))
    c->host->conn_drain(c->conn);
  return rc;
}

int rl__h2codec_read(rl__h2codec *c, const uint8_t *data, size_t len) {
  int rc = h2_session_recv(c->h2, data, len);
  if (rc == RL_ERR_PROTO) {
    c->abort_reason = h2_session_error(c->h2);
    if (c->abort_reason[0] == '\0')
      c->abort_reason = rl_strerror(rc);
    if (c->plain && !c->read_ok) {
      /* A TLS server (or nginx's 400 for plain text on its TLS port)
       * answers the preface with what is not HTTP/2 at all. */
      snprintf(c->hint, sizeof c->hint, "%s (does it want TLS?)",
               c->abort_reason);
      c->abort_reason = c->hint;
    }
    h2_session_abort(c->h2);
    c->abort_reason = NULL;
  } else if (rc == 0) {
    c->read_ok = 1;
  }
  return rc;
}

int rl__h2codec_goaway_error(const rl__h2codec *c, int err, uint32_t *code) {
  *code = NGHTTP2_NO_ERROR;
  return err == RL_ERR_CLOSED && h2_session_goaway(c->h2, code) &&
         *code != NGHTTP2_NO_ERROR;
}

void rl__h2codec_end(rl__h2codec *c, const char *reason) {
  c->abort_reason = reason;
  h2_session_del(c->h2);
  c->h2 = NULL;
  c->abort_reason = NULL;
  rl__resp_acc_free_all(&c->free_accs);
}

void rl__h2codec_free_body(void *body) { free(body); }
