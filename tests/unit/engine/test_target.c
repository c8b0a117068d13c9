/*
 * Targets (engine/target.h): a URL compiled into a plugin's step, picked
 * by scheme or by name, resolved, and over TLS given the other plugins of
 * its scheme as ALPN variants. The plugins are fakes filled in C here and
 * added to the set from memory (rl__plugin_set_add); their step_new keeps
 * the spec it was handed so the tests can see what the plugin was told.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/host.h"
#include "engine/plugin_loader.h"
#include "engine/target.h"

/* ---- the fake plugins --------------------------------------------------- */

/* What the last step_new was told (copied: the spec lives only during the
 * call). */
static struct {
  const rl_host *host;
  char url[128], scheme[16], host_name[64], path[64], method[16], name[32];
  int has_url, has_host;
  uint16_t port;
  int tls, list_only;
  uint64_t timeout_ns, connect_timeout_ns;
} seen;

static struct {
  int steps_live;   /* made and not yet deleted */
  int inits, finis; /* plugin init/fini calls */
} counts;

typedef struct step {
  char name[64];
} step;

static int step_new(const rl_host *host, const rl_step_spec *spec, void **out,
                    char *err, size_t errlen, const char *refuse) {
  for (size_t i = 0; i < spec->n_options; i++)
    if (strcmp(spec->options[i].key, refuse) == 0) {
      snprintf(err, errlen, "unknown option %s", refuse);
      return RL_ERR_INVAL;
    }
  memset(&seen, 0, sizeof seen);
  seen.host = host;
  seen.has_url = spec->url != NULL;
  seen.has_host = spec->host != NULL;
  snprintf(seen.url, sizeof seen.url, "%s", spec->url ? spec->url : "");
  snprintf(seen.scheme, sizeof seen.scheme, "%s", spec->scheme);
  snprintf(seen.host_name, sizeof seen.host_name, "%s",
           spec->host ? spec->host : "");
  snprintf(seen.path, sizeof seen.path, "%s", spec->path ? spec->path : "");
  snprintf(seen.method, sizeof seen.method, "%s",
           spec->method ? spec->method : "");
  snprintf(seen.name, sizeof seen.name, "%s", spec->name ? spec->name : "");
  seen.port = spec->port;
  seen.tls = spec->tls;
  seen.list_only = spec->list_only;
  seen.timeout_ns = spec->timeout_ns;
  seen.connect_timeout_ns = spec->connect_timeout_ns;
  step *s = calloc(1, sizeof *s);
  if (!s)
    return RL_ERR_NOMEM;
  snprintf(s->name, sizeof s->name, "%s",
           spec->name ? spec->name : (spec->path ? spec->path : "-"));
  counts.steps_live++;
  *out = s;
  return 0;
}

static int fk_step_new(const rl_host *host, const rl_step_spec *spec,
                       void **out, char *err, size_t errlen) {
  return step_new(host, spec, out, err, errlen, "bad");
}
/* The HTTP/2 fake refuses what only HTTP/1.1 takes. */
static int h2_step_new(const rl_host *host, const rl_step_spec *spec,
                       void **out, char *err, size_t errlen) {
  return step_new(host, spec, out, err, errlen, "h1only");
}
static void step_del(void *s) {
  if (s)
    counts.steps_live--;
  free(s);
}
static void step_describe(void *s, const char **type, const char **name) {
  *type = "FK";
  *name = ((step *)s)->name;
}
static int session_new(const rl_host *host, rl_conn *conn,
                       const rl_conn_info *info, void **session) {
  (void)host;
  (void)conn;
  (void)info;
  *session = NULL;
  return 0;
}
static int session_submit(void *session, rl_request *req) {
  (void)session;
  (void)req;
  return RL_ERR_UNSUPPORTED;
}
static int session_on_read(void *session, const uint8_t *data, size_t len) {
  (void)session;
  (void)data;
  (void)len;
  return 0;
}
static void session_del(void *session, int err, const char *reason) {
  (void)session;
  (void)err;
  (void)reason;
}
static int transport_new(const rl_host *host, rl_loop *loop, void *s,
                         const rl_transport_info *info, void **transport) {
  (void)host;
  (void)loop;
  (void)s;
  (void)info;
  *transport = NULL;
  return 0;
}
static int transport_submit(void *transport, rl_request *req) {
  (void)transport;
  (void)req;
  return RL_ERR_UNSUPPORTED;
}
static void transport_del(void *transport, int err, const char *reason) {
  (void)transport;
  (void)err;
  (void)reason;
}
static int counted_init(const rl_host *host) {
  (void)host;
  counts.inits++;
  return 0;
}
static void counted_fini(void) { counts.finis++; }
static int failing_init(const rl_host *host) {
  (void)host;
  return RL_ERR_IO;
}

#define CODEC(NAME, SCHEMES, ALPN, STEP_NEW)                                   \
  {                                                                            \
    .abi_version = RL_ABI_VERSION, .struct_size = sizeof(rl_plugin),           \
    .name = (NAME), .version = "1", .schemes = (SCHEMES), .alpn = (ALPN),      \
    .kind = RL_PLUGIN_CODEC, .step_new = (STEP_NEW), .step_del = step_del,     \
    .session_new = session_new, .session_submit = session_submit,              \
    .session_on_read = session_on_read, .session_del = session_del,            \
    .step_describe = step_describe,                                            \
  }

static const rl_scheme fk_schemes[] = {
    {"fk", 7000, 0}, {"fk0", 0, 0}, {"fks", 7443, 1}, {NULL, 0, 0}};
static const rl_scheme web_schemes[] = {
    {"web", 80, 0}, {"webs", 443, 1}, {NULL, 0, 0}};
static const rl_scheme webs_schemes[] = {{"webs", 443, 1}, {NULL, 0, 0}};
static const rl_scheme bad_schemes[] = {{"bad", 1, 0}, {NULL, 0, 0}};
static const char *const h1_alpn[] = {"http/1.1", NULL};
static const char *const h2_alpn[] = {"h2", NULL};

static rl_host test_host;
static rl__plugin_set set;
static rl__plugin *fk, *h1, *h2, *tp;

/* The set every test starts from: h1 is added before h2, so by scheme
 * "webs" finds h1 first, and ALPN's preference must put h2 first; the
 * transport plugin of the same scheme comes last. */
static int setup(void **state) {
  (void)state;
  static rl_plugin fk_desc = CODEC("fk", fk_schemes, NULL, fk_step_new);
  static const rl_plugin h1_desc =
      CODEC("h1x", web_schemes, h1_alpn, fk_step_new);
  static const rl_plugin h2_desc =
      CODEC("h2x", webs_schemes, h2_alpn, h2_step_new);
  static rl_plugin bad_desc = CODEC("initfail", bad_schemes, NULL, fk_step_new);
  static rl_plugin tp_desc = CODEC("tpx", webs_schemes, h2_alpn, fk_step_new);
  fk_desc.init = counted_init;
  fk_desc.fini = counted_fini;
  bad_desc.init = failing_init;
  tp_desc.kind = RL_PLUGIN_TRANSPORT;
  tp_desc.transport_new = transport_new;
  tp_desc.transport_submit = transport_submit;
  tp_desc.transport_del = transport_del;
  char err[256] = "";
  rl__plugin *bad;
  /* Only the plugins added here: no RPCLOAD_PLUGIN_PATH scan. */
  unsetenv("RPCLOAD_PLUGIN_PATH");
  memset(&seen, 0, sizeof seen);
  memset(&counts, 0, sizeof counts);
  test_host = *rl__host();
  rl__plugin_set_init(&set, &test_host);
  if (rl__plugin_set_add(&set, &fk_desc, "<fk>", &fk, err, sizeof err) ||
      rl__plugin_set_add(&set, &h1_desc, "<h1x>", &h1, err, sizeof err) ||
      rl__plugin_set_add(&set, &h2_desc, "<h2x>", &h2, err, sizeof err) ||
      rl__plugin_set_add(&set, &tp_desc, "<tpx>", &tp, err, sizeof err) ||
      rl__plugin_set_add(&set, &bad_desc, "<bad>", &bad, err, sizeof err))
    fail_msg("%s", err);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rl__plugin_set_free(&set);
  assert_int_equal(counts.steps_live, 0);       /* every step deleted */
  assert_int_equal(counts.finis, counts.inits); /* fini for the inited */
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static rl__target *make(const rl__target_options *o) {
  rl__target *t = NULL;
  char err[512] = "";
  int rc = rl__target_new(&set, o, &t, err, sizeof err);
  if (rc)
    fail_msg("%s: %s", o->url ? o->url : "(no url)", err);
  assert_non_null(t);
  return t;
}

static void refused(const rl__target_options *o, int want_rc,
                    const char *want) {
  rl__target *t = NULL;
  char err[512] = "";
  assert_int_equal(rl__target_new(&set, o, &t, err, sizeof err), want_rc);
  assert_null(t);
  assert_string_equal(err, want);
}

static uint16_t addr_port(const rl__target *t) {
  if (t->addr.ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&t->addr)->sin6_port);
}

/* ---- tests --------------------------------------------------------------- */

static void test_by_scheme(void **state) {
  (void)state;
  rl__target_options o = {.url = "FK://127.0.0.1:1234/a?b=1",
                          .method = "PUT",
                          .connect_timeout_ns = 111,
                          .request_timeout_ns = 222};
  rl__target *t = make(&o);
  assert_ptr_equal(t->plugin, fk);
  assert_int_equal(t->nv, 1);
  assert_ptr_equal(t->v[0].plugin, fk);
  assert_ptr_equal(t->step, t->v[0].step);
  /* The plugin's default type and name, for failures the core reports. */
  assert_string_equal(t->type, "FK");
  assert_string_equal(t->name, "/a?b=1");
  assert_string_equal(t->host, "127.0.0.1");
  assert_int_equal(t->port, 1234);
  assert_int_equal(t->tls, 0);
  assert_null(t->ssl_ctx);
  assert_int_equal(t->connect_timeout_ns, 111);
  assert_int_equal(t->request_timeout_ns, 222);
  /* What the plugin was told, the scheme lower-cased. */
  assert_ptr_equal(seen.host, &test_host);
  assert_string_equal(seen.url, "FK://127.0.0.1:1234/a?b=1");
  assert_string_equal(seen.scheme, "fk");
  assert_string_equal(seen.host_name, "127.0.0.1");
  assert_int_equal(seen.port, 1234);
  assert_string_equal(seen.path, "/a?b=1");
  assert_string_equal(seen.method, "PUT");
  assert_int_equal(seen.timeout_ns, 222);
  assert_int_equal(seen.connect_timeout_ns, 111);
  assert_int_equal(seen.list_only, 0);
  /* The plugin was initialised once, with the set's host. */
  assert_int_equal(counts.inits, 1);
  rl__target_del(t);
  assert_int_equal(counts.steps_live, 0);

  /* No port: the scheme's default; no path: "/". */
  o.url = "fk://127.0.0.1";
  o.name = "home";
  t = make(&o);
  assert_int_equal(t->port, 7000);
  assert_string_equal(seen.path, "/");
  assert_string_equal(t->name, "home");
  assert_int_equal(counts.inits, 1);
  rl__target_del(t);
  rl__target_del(NULL);
}

static void test_by_plugin_name(void **state) {
  (void)state;
  /* --plugin NAME: "host:port" needs no scheme; the plugin's first
   * scheme is the one its step is told. */
  rl__target_options o = {.url = "127.0.0.1:99", .plugin = "fk"};
  rl__target *t = make(&o);
  assert_ptr_equal(t->plugin, fk);
  assert_int_equal(t->port, 99);
  assert_string_equal(seen.scheme, "fk");
  rl__target_del(t);
  /* A scheme the named plugin serves picks its TLS... */
  o.url = "fks://127.0.0.1";
  o.tls.insecure = 1;
  t = make(&o);
  assert_int_equal(t->tls, 1);
  assert_int_equal(t->port, 7443);
  assert_non_null(t->ssl_ctx);
  /* ...and naming the plugin means no ALPN alternates. */
  assert_int_equal(t->nv, 1);
  rl__target_del(t);
  /* One it does not serve is refused. */
  o.url = "web://127.0.0.1";
  refused(&o, RL_ERR_INVAL, "plugin fk does not serve URL scheme 'web'");
  /* A plugin that is not there, by name. */
  o.plugin = "nosuchplugin";
  rl__target *none = NULL;
  char err[1024] = "";
  assert_int_equal(rl__target_new(&set, &o, &none, err, sizeof err),
                   RL_ERR_NOTFOUND);
  assert_null(none);
  assert_non_null(strstr(err, "plugin 'nosuchplugin' not found in:"));
}

static void test_url_errors(void **state) {
  (void)state;
  rl__target_options o = {.url = "fk://"};
  refused(&o, RL_ERR_INVAL, "bad URL 'fk://': no host");
  o.url = "fk://127.0.0.1:/";
  refused(&o, RL_ERR_INVAL, "bad URL 'fk://127.0.0.1:/': bad port");
  o.url = "fk://127.0.0.1:70000/";
  refused(&o, RL_ERR_INVAL,
          "bad URL 'fk://127.0.0.1:70000/': port must be 1-65535");
  o.url = "fk://[::1/";
  refused(&o, RL_ERR_INVAL,
          "bad URL 'fk://[::1/': missing ']' after IPv6 address");
  o.url = NULL;
  refused(&o, RL_ERR_INVAL, "no target given");
}

static void test_default_scheme_and_unknown_scheme(void **state) {
  (void)state;
  rl__target_options o = {.url = "127.0.0.1:81"};
  refused(&o, RL_ERR_INVAL,
          "target '127.0.0.1:81' has no scheme: write e.g. "
          "http://127.0.0.1:81 or choose a plugin with --plugin");
  o.default_scheme = "fk";
  rl__target *t = make(&o);
  assert_ptr_equal(t->plugin, fk);
  assert_int_equal(t->port, 81);
  assert_string_equal(seen.scheme, "fk");
  rl__target_del(t);
  o.url = "nope://127.0.0.1:1";
  refused(&o, RL_ERR_NOTFOUND,
          "no plugin serves URL scheme 'nope' (see rpcload --plugins)");
  /* A scheme with no default port needs one in the URL. */
  o.url = "fk0://127.0.0.1";
  refused(&o, RL_ERR_INVAL,
          "target 'fk0://127.0.0.1' needs a port (fk has no default one)");
}

static void test_plugin_errors(void **state) {
  (void)state;
  /* step_new's reason, prefixed with the plugin's name. */
  rl_kv opt = {"bad", "1"};
  rl__target_options o = {
      .url = "fk://127.0.0.1:1", .options = &opt, .n_options = 1};
  refused(&o, RL_ERR_INVAL, "fk: unknown option bad");
  assert_int_equal(counts.steps_live, 0);
  o.url = "bad://127.0.0.1";
  o.options = NULL;
  o.n_options = 0;
  refused(&o, RL_ERR_IO, "plugin initfail failed to initialise: I/O error");
}

static void test_resolves_loopback(void **state) {
  (void)state;
  rl__target_options o = {.url = "fk://127.0.0.1:8080"};
  rl__target *t = make(&o);
  assert_int_equal(t->addr.ss_family, AF_INET);
  assert_int_equal(t->addrlen, sizeof(struct sockaddr_in));
  const struct sockaddr_in *in = (const struct sockaddr_in *)&t->addr;
  assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
  assert_int_equal(addr_port(t), 8080);
  rl__target_del(t);

  o.url = "fk://[::1]:8081/x";
  t = make(&o);
  assert_string_equal(t->host, "::1"); /* no brackets */
  assert_int_equal(t->addr.ss_family, AF_INET6);
  assert_int_equal(t->addrlen, sizeof(struct sockaddr_in6));
  const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&t->addr;
  assert_memory_equal(&in6->sin6_addr, &in6addr_loopback,
                      sizeof in6addr_loopback);
  assert_int_equal(addr_port(t), 8081);
  rl__target_del(t);
}

static void test_alpn_variants(void **state) {
  (void)state;
  /* webs:// over TLS: h1x serves it (found first by scheme), h2x joins as
   * an alternate and goes first (h2 preferred); the transport plugin of
   * the same scheme does not join. */
  rl__target_options o = {.url = "webs://127.0.0.1", .tls.insecure = 1};
  rl__target *t = make(&o);
  assert_int_equal(t->tls, 1);
  assert_int_equal(t->port, 443);
  assert_non_null(t->ssl_ctx);
  assert_int_equal(t->nv, 2);
  assert_ptr_equal(t->v[0].plugin, h2);
  assert_ptr_equal(t->v[1].plugin, h1);
  assert_ptr_equal(t->plugin, h2);
  assert_ptr_equal(t->step, t->v[0].step);
  assert_ptr_not_equal(t->v[0].step, t->v[1].step);
  assert_string_equal(t->v[1].type, "FK");
  assert_ptr_equal(rl__target_variant_for_alpn(t, "h2"), &t->v[0]);
  assert_ptr_equal(rl__target_variant_for_alpn(t, "http/1.1"), &t->v[1]);
  assert_null(rl__target_variant_for_alpn(t, "spdy/3"));
  /* No ALPN agreed: the server speaks HTTP/1.1 (RFC 7301)... */
  assert_ptr_equal(rl__target_variant_for_alpn(t, NULL), &t->v[1]);
  rl__target_del(t);
  /* ...unless the run insists on ALPN (--http2). */
  o.alpn_required = 1;
  t = make(&o);
  assert_null(rl__target_variant_for_alpn(t, NULL));
  rl__target_del(t);
  o.alpn_required = 0;

  /* A plugin whose step_new refuses the request does not join. */
  rl_kv opt = {"h1only", "1"};
  o.options = &opt;
  o.n_options = 1;
  t = make(&o);
  assert_int_equal(t->nv, 1);
  assert_ptr_equal(t->plugin, h1);
  rl__target_del(t);
  o.options = NULL;
  o.n_options = 0;

  /* Without TLS there is no choice: the first plugin carries it. */
  o.url = "web://127.0.0.1";
  t = make(&o);
  assert_int_equal(t->nv, 1);
  assert_null(t->ssl_ctx);
  assert_ptr_equal(rl__target_variant_for_alpn(t, NULL), &t->v[0]);
  rl__target_del(t);

  /* A plugin naming no ALPN id takes any connection without ALPN. */
  o.url = "fks://127.0.0.1";
  t = make(&o);
  assert_int_equal(t->nv, 1);
  assert_ptr_equal(rl__target_variant_for_alpn(t, NULL), &t->v[0]);
  assert_null(rl__target_variant_for_alpn(t, "h2"));
  rl__target_del(t);

  /* A transport plugin does its own TLS: no context, no alternates. */
  o.url = "webs://127.0.0.1";
  o.plugin = "tpx";
  t = make(&o);
  assert_ptr_equal(t->plugin, tp);
  assert_int_equal(t->tls, 1);
  assert_int_equal(t->nv, 1);
  assert_null(t->ssl_ctx);
  rl__target_del(t);
}

static void test_list_only(void **state) {
  (void)state;
  /* rpcload --list: no URL, the default scheme's plugin, nothing resolved
   * and no TLS context even for a TLS scheme. */
  rl__target_options o = {.default_scheme = "fks", .list_only = 1};
  rl__target *t = make(&o);
  assert_ptr_equal(t->plugin, fk);
  assert_int_equal(seen.list_only, 1);
  assert_int_equal(seen.has_url, 0);
  assert_int_equal(seen.has_host, 0);
  assert_null(t->host);
  assert_int_equal(t->addrlen, 0);
  assert_null(t->ssl_ctx);
  rl__target_del(t);
  /* A scheme without a default port is no error when only listing. */
  o.url = "fk0://127.0.0.1";
  t = make(&o);
  assert_int_equal(t->addrlen, 0);
  rl__target_del(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_by_scheme, setup, teardown),
      cmocka_unit_test_setup_teardown(test_by_plugin_name, setup, teardown),
      cmocka_unit_test_setup_teardown(test_url_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_scheme_and_unknown_scheme,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_plugin_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resolves_loopback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alpn_variants, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_only, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
