#include "engine/request.h"

#include <string.h>

#include "engine/target.h"

void rl__request_end(rl_request *req, const rl_result *result) {
  req->end(req, result);
}

void rl__request_fail(rl_request *req, const char *reason) {
  rl_result res = {.type = req->target->type,
                   .name = req->target->name,
                   .response_bytes = 0,
                   .error = reason ? reason : "failed"};
  rl__request_end(req, &res);
}

void rl__request_record(rl__stats *stats, rl_request *req,
                        const rl_result *result, const char *error,
                        uint64_t rt_ns, uint64_t sec) {
  const char *type = result && result->type ? result->type : req->target->type;
  const char *name = result && result->name ? result->name : req->target->name;
  rl__stats_entry *e = req->cached_entry;
  if (!e || strcmp(e->name, name) != 0 || strcmp(e->type, type) != 0)
    req->cached_entry = rl__stats_entry_get(stats, type, name);
  if (req->cached_entry)
    rl__stats_record(stats, req->cached_entry, rt_ns,
                     result ? result->response_bytes : 0, error, sec);
}
