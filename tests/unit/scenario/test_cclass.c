/*
 * User classes written in C into a plan (scenario/cclass.h), with the
 * built-in http1 plugin from the build tree: classes, tasks, waits,
 * requests compiled as steps (hosts from the class or the command line's
 * target, variables the code sets, captures), joined with a scenario's
 * classes, the listing, and an error for each way a class can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/user.h>

#include "base/clock.h"
#include "engine/cuser.h"
#include "engine/host.h"
#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "scenario/cclass.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"

static rl__plugin_set plugins;
static rl__target_options base;
static rl__wait no_wait;
static rl__scn_compile_options po;
static rl__plan *plan;
static char err[1024];

static int setup(void **state) {
  (void)state;
  rl__plugin_set_init(&plugins, rl__host());
  assert_int_equal(rl__plugin_set_add_dir(&plugins, RL_TEST_PLUGIN_DIR), 0);
  rl__plugin *p;
  assert_int_equal(rl__plugin_set_load(&plugins, "http1", &p, err, sizeof err),
                   0);
  memset(&base, 0, sizeof base);
  memset(&no_wait, 0, sizeof no_wait);
  /* The quick command line's target: where requests without a host go. */
  po = (rl__scn_compile_options){.base = &base,
                                 .host = "http://127.0.0.1:8089",
                                 .users = 10,
                                 .default_wait = &no_wait};
  plan = NULL;
  err[0] = 0;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rl__plan_del(plan);
  rl__plugin_set_free(&plugins);
  return 0;
}

static void task_a(rl_user *u, void *arg) {
  (void)u;
  (void)arg;
}

static void task_b(rl_user *u, void *arg) {
  (void)u;
  (void)arg;
}

static void on_stop(rl_user *u, void *arg) {
  (void)u;
  (void)arg;
}

static const char *const shop_requests[] = {
    "{http: POST /login, json: {user: 'u{{user_id}}'}, name: login, "
    "capture: {token: 'header:x-token'}}",
    "{http: 'GET /cart?item={{item}}', name: cart, headers: {authorization: "
    "'Bearer {{token}}'}}",
    "{http: GET /other, host: 'http://127.0.0.1:8090'}", NULL};

static const rl_task shop_tasks[] = {
    {.name = "browse", .weight = 3, .fn = task_a},
    {.name = NULL, .weight = 0, .fn = task_b},
};

static int the_arg;

static rl_user_class shop(void) {
  return (rl_user_class){.struct_size = sizeof(rl_user_class),
                         .name = "Shop",
                         .weight = 2,
                         .wait_time = "between(1, 2)",
                         .requests = shop_requests,
                         .tasks = shop_tasks,
                         .n_tasks = 2,
                         .on_stop = on_stop,
                         .arg = &the_arg};
}

static const rl_task one_task[] = {{.fn = task_a}};
static const char *const one_request[] = {"{http: GET /x}", NULL};

static rl_user_class admin(void) {
  return (rl_user_class){.struct_size = sizeof(rl_user_class),
                         .name = "Admin",
                         .fixed_count = 1,
                         .wait_time = "1.5",
                         .requests = one_request,
                         .tasks = one_task,
                         .n_tasks = 1};
}

static int make(const rl__scn *scn, const rl_user_class *const *k, size_t n) {
  return rl__cclass_plan(&plugins, scn, k, n, &po, &plan, err, sizeof err);
}

static const rl__plan_class *class_named(const char *name) {
  for (size_t i = 0; i < plan->n_classes; i++)
    if (strcmp(plan->classes[i].name, name) == 0)
      return &plan->classes[i];
  fail_msg("no class %s", name);
  return NULL;
}

static int has_var(const char *name) {
  for (size_t i = 0; i < plan->n_vars; i++)
    if (strcmp(plan->vars[i], name) == 0)
      return 1;
  return 0;
}

/* ---- a plan of C classes ------------------------------------------------- */

static void test_classes_tasks_waits_and_requests(void **state) {
  (void)state;
  rl_user_class a = shop(), b = admin();
  const rl_user_class *k[] = {&a, &b};
  if (make(NULL, k, 2))
    fail_msg("%s", err);
  assert_int_equal(plan->n_classes, 2);
  const rl__plan_class *s = class_named("Shop");
  assert_non_null(s->c);
  assert_ptr_equal(s->c->driver, &rl__cuser_driver);
  assert_ptr_equal(s->c->arg, &the_arg);
  assert_ptr_equal(s->c->on_stop, on_stop);
  assert_null(s->c->on_start);
  assert_true(plan->has_on_stop);
  assert_true(s->checks); /* its callbacks see every response */
  assert_true(s->weight == 2);
  assert_false(s->has_fixed);
  assert_int_equal(s->wait.kind, RL__WAIT_BETWEEN);
  assert_int_equal(s->wait.a_ns, RL__NS_PER_SEC);
  assert_int_equal(s->wait.b_ns, 2 * RL__NS_PER_SEC);
  assert_int_equal(s->n_tasks, 2);
  assert_string_equal(s->tasks[0].name, "browse");
  assert_ptr_equal(s->tasks[0].fn, task_a);
  assert_true(s->tasks[0].weight == 3);
  assert_null(s->tasks[1].name);
  assert_ptr_equal(s->tasks[1].fn, task_b);
  assert_true(s->tasks[1].weight == 1); /* 0: 1 */
  assert_int_equal(s->tasks[1].n_steps, 0);
  /* Its requests, compiled as steps: a relative one goes to the command
   * line's target, one with its own host there. */
  assert_int_equal(s->c->n_requests, 3);
  const rl__target *login = s->c->requests[0].target;
  assert_string_equal(login->host, "127.0.0.1");
  assert_int_equal(login->port, 8089);
  assert_string_equal(login->name, "login");
  assert_true(s->c->requests[0].has_checks); /* its capture */
  assert_string_equal(s->c->requests[1].target->name, "cart");
  assert_int_equal(s->c->requests[2].target->port, 8090);
  assert_int_equal(s->c->requests[0].endpoint, s->c->requests[1].endpoint);
  assert_int_not_equal(s->c->requests[0].endpoint, s->c->requests[2].endpoint);
  /* A variable the code sets and one a capture fills. */
  assert_true(has_var("item"));
  assert_true(has_var("token"));
  const rl__plan_class *ad = class_named("Admin");
  assert_true(ad->has_fixed);
  assert_int_equal(ad->fixed, 1);
  assert_int_equal(ad->wait.kind, RL__WAIT_CONSTANT);
  assert_int_equal(ad->wait.a_ns, 1500 * RL__NS_PER_MS);
  assert_null(ad->c->on_stop);
  assert_string_equal(ad->c->requests[0].target->host, "127.0.0.1");
  /* Users are dealt as for any plan: the fixed Admin first. */
  assert_ptr_equal(rl__plan_class_of(plan, 0), ad);
  assert_ptr_equal(rl__plan_class_of(plan, 1), s);
}

static void test_the_plan_keeps_its_own_copies(void **state) {
  (void)state;
  char name[] = "Mutable";
  char task_name[] = "t";
  char req[] = "{http: GET /copied, name: copied}";
  const char *reqs[] = {req, NULL};
  rl_task tasks[] = {{.name = task_name, .fn = task_a}};
  rl_user_class a = {.struct_size = sizeof a,
                     .name = name,
                     .requests = reqs,
                     .tasks = tasks,
                     .n_tasks = 1};
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), 0);
  /* The caller's strings change or go: the plan does not see it. */
  memset(name, 'x', sizeof name - 1);
  memset(task_name, 'x', sizeof task_name - 1);
  memset(req, ' ', sizeof req - 1);
  tasks[0].fn = task_b;
  assert_string_equal(plan->classes[0].name, "Mutable");
  assert_string_equal(plan->classes[0].tasks[0].name, "t");
  assert_ptr_equal(plan->classes[0].tasks[0].fn, task_a);
  assert_string_equal(plan->classes[0].c->requests[0].target->name, "copied");
}

static void test_waits_in_every_spelling(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int kind;
    uint64_t a_ns;
  } cases[] = {
      {"constant(2)", RL__WAIT_CONSTANT, 2 * RL__NS_PER_SEC},
      {"0.5", RL__WAIT_CONSTANT, 500 * RL__NS_PER_MS},
      {"constant_pacing(2)", RL__WAIT_PACING, 2 * RL__NS_PER_SEC},
      {"constant_throughput(4)", RL__WAIT_PACING, 250 * RL__NS_PER_MS},
      {"{between: [1, 3]}", RL__WAIT_BETWEEN, RL__NS_PER_SEC},
      {"between:1,3", RL__WAIT_BETWEEN, RL__NS_PER_SEC},
      {"sequence(1, 2)", RL__WAIT_SEQUENCE, 0},
      {"none", RL__WAIT_NONE, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl__wait w;
    assert_int_equal(
        rl__scn_parse_wait_text(cases[i].text, "W", &w, err, sizeof err), 0);
    assert_int_equal(w.kind, cases[i].kind);
    assert_int_equal(w.a_ns, cases[i].a_ns);
  }
}

/* ---- with a scenario ---------------------------------------------------- */

static void test_c_classes_join_a_scenarios(void **state) {
  (void)state;
  static const char yaml[] = "users:\n"
                             "  - name: Web\n"
                             "    tasks: [{steps: [{http: GET /x}]}]\n";
  rl__scn *scn;
  assert_int_equal(rl__scn_parse_string(yaml, strlen(yaml), "web.yaml", &scn,
                                        err, sizeof err),
                   0);
  rl_user_class a = shop();
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(scn, k, 1), 0);
  assert_int_equal(plan->n_classes, 2);
  assert_null(class_named("Web")->c);
  assert_non_null(class_named("Shop")->c);
  /* The scenario's step and the C requests to the same target share an
   * endpoint. */
  assert_int_equal(plan->n_endpoints, 2);
  /* --list and --show-task-ratio. */
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  rl__scn_print_list(plan, out);
  rl__plan_print_ratios(plan, out);
  fclose(out);
  assert_non_null(strstr(text, "Web (weight 1)\n  - task 1 (weight 1): http "
                               "GET /x\n"));
  assert_non_null(strstr(text, "Shop (weight 2, written in C)\n"
                               "  - browse (weight 3): a C function\n"
                               "  - task 2 (weight 1): a C function\n"
                               "  on_stop: a C function\n"
                               "  requests[0]: http POST /login\n"));
  assert_non_null(strstr(text, "  requests[2]: http GET /other\n"));
  assert_non_null(strstr(text, "browse"));
  free(text);
  rl__plan_del(plan);
  plan = NULL;
  /* A name both have is refused. */
  a.name = "Web";
  assert_int_equal(make(scn, k, 1), RL_ERR_INVAL);
  assert_null(plan);
  assert_string_equal(err, "user class 'Web': web.yaml:2:11 has a class of "
                           "that name: names must be unique");
  rl__scn_del(scn);
}

static void test_tags_leave_c_tasks_out(void **state) {
  (void)state;
  /* C tasks have no tags: with --tags none is left, as in Locust. */
  static const char *const tags[] = {"browse"};
  po.tags = tags;
  po.n_tags = 1;
  rl_user_class a = shop();
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), RL_ERR_INVAL);
  assert_non_null(strstr(err, "no user class has a task to run"));
}

/* API 1.3's task_tags: Locust's rules, and each plan task knows its
 * index in the class (what rl_user_phase tells the class's code). */
static const char *const tag_checkout[] = {"checkout", NULL};
static const char *const *const shop_tags[] = {NULL, tag_checkout};

static void test_task_tags_select_c_tasks(void **state) {
  (void)state;
  static const char *const tags[] = {"checkout"};
  po.tags = tags;
  po.n_tags = 1;
  rl_user_class a = shop();
  a.task_tags = shop_tags;
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), 0);
  const rl__plan_class *pc = class_named("Shop");
  assert_int_equal(pc->n_tasks, 1);
  assert_int_equal(pc->tasks[0].index, 1);
  assert_ptr_equal(pc->tasks[0].fn, task_b);
  rl__plan_del(plan);
  plan = NULL;
  /* --exclude-tags: the untagged one stays, at its own index. */
  po.tags = NULL;
  po.n_tags = 0;
  po.exclude_tags = tags;
  po.n_exclude_tags = 1;
  assert_int_equal(make(NULL, k, 1), 0);
  pc = class_named("Shop");
  assert_int_equal(pc->n_tasks, 1);
  assert_int_equal(pc->tasks[0].index, 0);
  assert_ptr_equal(pc->tasks[0].fn, task_a);
}

static void test_list_shows_tags_and_where_a_class_is_written(void **state) {
  (void)state;
  rl_user_class a = shop(), b = admin();
  a.task_tags = shop_tags;
  a.written_in = "Lua, shop.lua";
  const rl_user_class *k[] = {&a, &b};
  assert_int_equal(make(NULL, k, 2), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  rl__scn_print_list(plan, out);
  fclose(out);
  /* Its tasks with their tags, not the requests the language generated;
   * a C class's requests are still listed. */
  assert_string_equal(text, "Shop (weight 2, written in Lua, shop.lua)\n"
                            "  - browse (weight 3): a function\n"
                            "  - task 2 (weight 1): a function [tags: "
                            "checkout]\n"
                            "  on_stop: a function\n"
                            "Admin (fixed_count 1, written in C)\n"
                            "  - task 1 (weight 1): a C function\n"
                            "  requests[0]: http GET /x\n");
  free(text);
}

static void test_an_api_1_2_class_has_no_tags(void **state) {
  (void)state;
  /* Built against API 1.2's header: no task_tags member to read. */
  rl_user_class a = shop();
  a.task_tags = shop_tags; /* past its struct_size: never read */
  a.struct_size = (uint32_t)offsetof(rl_user_class, task_tags);
  static const char *const tags[] = {"checkout"};
  po.exclude_tags = tags;
  po.n_exclude_tags = 1;
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), 0);
  assert_int_equal(class_named("Shop")->n_tasks, 2);
}

static void test_list_only_needs_no_host(void **state) {
  (void)state;
  po.host = NULL;
  po.list_only = 1;
  rl_user_class a = admin();
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), 0);
  assert_int_equal(plan->classes[0].c->n_requests, 1);
  assert_null(plan->classes[0].c->requests[0].target);
}

/* ---- errors ----------------------------------------------------------------- */

/* Class `k` is refused with exactly `want`. */
static void refused(rl_user_class k, const char *want) {
  const rl_user_class *ks[] = {&k};
  err[0] = 0;
  assert_int_equal(make(NULL, ks, 1), RL_ERR_INVAL);
  assert_null(plan);
  if (strcmp(err, want) != 0)
    fail_msg("got:  %s\nwant: %s", err, want);
}

static void test_each_wrong_class_is_refused_by_name(void **state) {
  (void)state;
  rl_user_class k = admin();
  k.struct_size = 8;
  char want[256];
  snprintf(want, sizeof want,
           "user class #0: struct_size 8 is less than rl_user_class's %zu "
           "(set it to sizeof(rl_user_class))",
           sizeof(rl_user_class));
  refused(k, want);
  static const char *const empty_tag[] = {"a", "", NULL};
  static const char *const *const bad_tags[] = {empty_tag};
  k = admin();
  k.task_tags = bad_tags;
  refused(k, "user class 'Admin': task_tags[0][1] is empty");
  k = admin();
  k.name = "";
  refused(k, "user class #0 has no name");
  k = admin();
  k.tasks = NULL;
  refused(k, "user class 'Admin' has no task (tasks, n_tasks)");
  k = admin();
  k.n_tasks = 0;
  refused(k, "user class 'Admin' has no task (tasks, n_tasks)");
  static const rl_task no_fn[] = {{.name = "x"}};
  k = admin();
  k.tasks = no_fn;
  refused(k, "user class 'Admin': tasks[0] has no fn");
  static const rl_task negative[] = {{.weight = -1, .fn = task_a}};
  k = admin();
  k.tasks = negative;
  refused(k, "user class 'Admin': tasks[0]'s weight must be 0 (meaning 1) or "
             "more, got -1");
  k = admin();
  k.weight = -2;
  refused(k, "user class 'Admin': weight must be 0 (meaning 1) or more, got "
             "-2");
  k = admin();
  k.wait_time = "between(2, 1)";
  refused(k, "Admin.wait_time (read as {between: [2, 1]}):1:11: between: min "
             "2 is greater than max 1");
  k = admin();
  k.wait_time = "sometimes";
  refused(k, "Admin.wait_time:1:1: unknown wait 'sometimes': use constant:S, "
             "between:MIN,MAX, throughput:N, pacing:S, schedule:S, "
             "exponential:MEAN, sequence:S1,S2,... or none");
}

static void test_a_wrong_request_names_its_class_and_index(void **state) {
  (void)state;
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"{htp: GET /x}",
       "Admin.requests[1]:1:2: unknown protocol 'htp' (known: http, https"},
      {"{http: GET /x, sleep: 1}",
       "Admin.requests[1]:1:16: 'sleep' is not for a C class's request: a "
       "task sleeps by sending its next request later"},
      {"{http: GET /x, on_failure: stop_task}",
       "Admin.requests[1]:1:16: 'on_failure' is not for a C class's request: "
       "the task sees each failure in its done callback"},
      {"{http: 'GET /{{data.id}}'}",
       "Admin.requests[1]:1:14: {{data.id}} reads a data file: a class "
       "written in C has none (set a variable: rl_user_set_var)"},
      {"", "Admin.requests[1]:1:1: the request is empty: expected a step, "
           "e.g. {http: GET /path}"},
      {"{http: GET /x, expect: {stauts: 200}}",
       "Admin.requests[1]:1:25: unknown key 'stauts' in expect (did you "
       "mean 'status'?"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *reqs[] = {"{http: GET /fine}", cases[i].text, NULL};
    rl_user_class k = admin();
    k.requests = reqs;
    const rl_user_class *ks[] = {&k};
    err[0] = 0;
    assert_int_equal(make(NULL, ks, 1), RL_ERR_INVAL);
    assert_null(plan);
    if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
      fail_msg("got:  %s\nwant: %s", err, cases[i].want);
  }
}

static void test_two_classes_of_one_name_are_refused(void **state) {
  (void)state;
  rl_user_class a = admin(), b = admin();
  const rl_user_class *k[] = {&a, &b};
  assert_int_equal(make(NULL, k, 2), RL_ERR_INVAL);
  assert_string_equal(err, "user class 'Admin': the name of user class #0 "
                           "too: names must be unique");
}

static void test_no_request_anywhere_is_refused(void **state) {
  (void)state;
  rl_user_class a = admin();
  a.requests = NULL;
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), RL_ERR_INVAL);
  assert_non_null(strstr(err, "the C user classes: no step makes a request"));
}

static void test_a_request_without_a_host_says_where_to_give_one(void **state) {
  (void)state;
  po.host = NULL;
  rl_user_class a = admin();
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), RL_ERR_INVAL);
  assert_string_equal(err, "Admin.requests[0]:1:1: request has no host: give "
                           "host: in the request or the class, or the "
                           "environment a target");
}

/* runtime_host: true (user.h): compiled, for its row's name, against no
 * endpoint; sent only with rl_send_opts.host. Alone, the plan has no
 * host to hold a connection to: refused, saying so. */
static void test_a_runtime_host_request_has_no_endpoint(void **state) {
  (void)state;
  static const char *const reqs[] = {
      "{http: GET /x}", "{http: GET /y, runtime_host: true, name: y}", NULL};
  rl_user_class a = admin();
  a.requests = reqs;
  const rl_user_class *k[] = {&a};
  assert_int_equal(make(NULL, k, 1), 0);
  const rl__plan_class *c = class_named("Admin");
  assert_int_equal(c->c->n_requests, 2);
  assert_int_equal(c->c->requests[0].runtime_only, 0);
  assert_int_equal(c->c->requests[1].runtime_only, 1);
  assert_non_null(c->c->requests[1].target);
  assert_string_equal(c->c->requests[1].target->name, "y");
  assert_int_equal(plan->n_endpoints, 1);
  rl__plan_del(plan);
  plan = NULL;
  static const char *const only[] = {"{http: GET /y, runtime_host: true}",
                                     NULL};
  a.requests = only;
  assert_int_equal(make(NULL, k, 1), RL_ERR_INVAL);
  assert_non_null(strstr(err, "every request goes to a host given while the "
                              "run goes (host=)"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T(test_classes_tasks_waits_and_requests),
      T(test_the_plan_keeps_its_own_copies),
      T(test_waits_in_every_spelling),
      T(test_c_classes_join_a_scenarios),
      T(test_tags_leave_c_tasks_out),
      T(test_task_tags_select_c_tasks),
      T(test_an_api_1_2_class_has_no_tags),
      T(test_list_shows_tags_and_where_a_class_is_written),
      T(test_list_only_needs_no_host),
      T(test_each_wrong_class_is_refused_by_name),
      T(test_a_wrong_request_names_its_class_and_index),
      T(test_two_classes_of_one_name_are_refused),
      T(test_no_request_anywhere_is_refused),
      T(test_a_request_without_a_host_says_where_to_give_one),
      T(test_a_runtime_host_request_has_no_endpoint),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
