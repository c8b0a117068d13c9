#include "host.h"

#include <stdarg.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "request.h"
#include "target.h"

static void *host_request_step(const rl_request *req) {
  return req->target->step;
}

static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__vlog(level, fmt, ap);
  va_end(ap);
}

static const rl_host host_table = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_host),
    .request_step = host_request_step,
    .request_done = rl__request_done,
    .conn_write = rl__conn_write,
    .conn_close = rl__conn_close_later,
    .now_ns = rl__now_ns,
    .log = host_log,
};

const rl_host *rl__host(void) { return &host_table; }
