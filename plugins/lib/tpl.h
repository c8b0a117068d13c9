/*
 * tpl: the host's request templates ({{...}}, plugin ABI 1.1) as the
 * plugins use them when they compile a step: whether the host offers them,
 * compiling one piece of a request (a path, a header value, a body) with
 * the piece named in the error, and the text around the expressions, for
 * checking what is constant. Expanding is the host's (template_expand),
 * per request.
 *
 * Part of plugins/lib (hidden in each plugin). No state.
 */
#ifndef RL_TPL_H
#define RL_TPL_H

#include <stddef.h>

#include <rpcload/plugin.h>

/* True when `host` (NULL is fine) offers templates: ABI 1.1 or newer, with
 * template_new and template_expand set. */
int rl__tpl_available(const rl_host *host);

/* True when n bytes of s hold "{{": only such text needs compiling. */
int rl__tpl_has_open(const char *s, size_t n);

/*
 * Compiles `len` bytes of text as a request template, with `host`'s
 * template services (the caller checked rl__tpl_available). *out is NULL
 * when the text expands to itself (no "{{", or only constant text): it is
 * then sent as it is; else the template, owned by the caller until
 * host->template_del. Returns 0, or an RL_ERR_* code with the host's
 * complaint in err, prefixed with `what` ("path: ...", "header 'X-A':
 * ...", "body: ..."). Borrows everything.
 */
int rl__tpl_compile(const rl_host *host, const char *text, size_t len,
                    const char *what, rl_template **out, char *err,
                    size_t errlen);

/*
 * A copy of the first `len` bytes of s, NUL-terminated, with every
 * complete {{...}} replaced by `with`: "" gives the constant
 * text of a templated path, to check it; "1" a stand-in that lets a
 * templated JSON message be checked against its type. A "{{" without its
 * "}}" stays as it is. The caller frees it; NULL when out of memory.
 */
char *rl__tpl_replace(const char *s, size_t len, const char *with);

#endif /* RL_TPL_H */
