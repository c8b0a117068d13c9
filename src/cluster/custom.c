/* Custom messages between the wire and the run's event table (custom.h). */
#include "cluster/custom.h"

#include <string.h>

#include "base/log.h"
#include "events/events.h"

void rl__cluster_custom_post(rl__runner *r, const rl__msg *m) {
  rl__events *ev = r->cfg->events;
  if (!ev) {
    rl__log(RL__LOG_WARN, "cluster: unknown message type received: %s",
            m->type);
    return;
  }
  /* The data back to bytes: the event table carries msgpack bytes, the
   * form a handler in C or Lua reads. It was checked by rl__msg_decode. */
  rl__msg_out o;
  rl__msg_out_init(&o);
  msgpack_pack_object(&o.pk, m->data);
  int rc = o.failed
               ? RL_ERR_NOMEM
               : rl__events_post(ev, m->type, o.sb.data, o.sb.size, m->node_id);
  rl__msg_out_free(&o);
  if (rc != 0) {
    rl__log(RL__LOG_ERROR, "cluster: out of memory: a %s message dropped",
            m->type);
    return;
  }
  rl__runner_ctl wake = {0};
  rl__runner_control(r, &wake);
}

/* One frame of message m to `to` (NULL: a DEALER's master). */
static int send_one(rl__wire *wire, rl__msg_out *out, const rl__events_msg *m,
                    const char *node_id, const char *to) {
  char why[200];
  if (m->len && rl__msg_value_check(m->data, m->len, why, sizeof why) != 0) {
    rl__log(RL__LOG_WARN,
            "cluster: a %s message dropped: its data is not one msgpack "
            "value (%s)",
            m->type, why);
    return 0;
  }
  rl__msg_begin(out, m->type);
  /* The data is one msgpack value already (a script's or a listener's
   * bytes): written as it is. */
  if (m->len == 0)
    msgpack_pack_nil(&out->pk);
  else if (msgpack_sbuffer_write(&out->sb, m->data, m->len) != 0)
    out->failed = 1;
  int rc = rl__msg_end(out, node_id);
  if (rc == 0)
    rc = rl__wire_send(wire, to, out->sb.data, out->sb.size);
  if (rc != 0)
    rl__log(RL__LOG_WARN, "cluster: cannot send the %s message%s%s: %s",
            m->type, to ? " to " : "", to ? to : "", rl_strerror(rc));
  return rc == 0;
}

int rl__cluster_custom_flush(rl__runner *r, rl__wire *wire, rl__msg_out *out,
                             const char *node_id, const char *const *all,
                             size_t nall) {
  rl__events *ev = r->cfg->events;
  if (!ev)
    return 0;
  int sent = 0;
  for (rl__events_msg *m = rl__events_take_sent(ev), *next; m; m = next) {
    next = m->next;
    if (!all) {
      sent += send_one(wire, out, m, node_id, NULL);
    } else if (*m->node_id) {
      size_t i = 0;
      while (i < nall && strcmp(all[i], m->node_id) != 0)
        i++;
      if (i < nall)
        sent += send_one(wire, out, m, all[i], all[i]);
      else
        rl__log(RL__LOG_WARN,
                "cluster: a %s message to %s dropped: no such worker", m->type,
                m->node_id);
    } else {
      for (size_t i = 0; i < nall; i++)
        sent += send_one(wire, out, m, all[i], all[i]);
    }
    rl__events_msg_del(m);
  }
  return sent;
}
