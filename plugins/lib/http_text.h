/*
 * Text helpers the HTTP plugins share (http1, http2; grpc for its
 * messages): error messages, printing user input safely, and RFC 9110
 * token checks. Part of plugins/lib, linked into each plugin module
 * (hidden there), so no plugin depends on another.
 */
#ifndef RL_HTTP_TEXT_H
#define RL_HTTP_TEXT_H

#include <stddef.h>

#include <rpcload/plugin.h>

/* User input longer than this is cut with "..." when shown in a message. */
#define RL__HTTP_SHOW_MAX 64
/* Bytes a buffer for rl__http_show() needs: 4 per input byte, the dots,
 * the NUL. */
#define RL__HTTP_SHOW_BUF_LEN (RL__HTTP_SHOW_MAX * 4 + 4)

/* Writes a formatted one-line message into err (may be NULL or 0 long). */
void rl__http_set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * Copies n bytes of user input into out (the caller's, at least
 * RL__HTTP_SHOW_BUF_LEN bytes) in a form safe to print on one line:
 * control and non-ASCII bytes become \r, \n, \t or \xHH, and input longer
 * than RL__HTTP_SHOW_MAX is cut with "...". Returns out.
 */
const char *rl__http_show(const char *s, size_t n, char *out);

int rl__http_ascii_lower(int c);

/* Case-insensitive (ASCII) compare of a counted name with a C string. */
int rl__http_name_is(const char *name, size_t len, const char *want);

/* RFC 9110 tchar: what a method or a header name may contain. */
int rl__http_is_tchar(unsigned char c);

/* A non-empty run of tchars. */
int rl__http_is_token(const char *s, size_t n);

/* Optional whitespace (RFC 9110 OWS): space or tab. */
int rl__http_is_ows(char c);

/* True if s has a byte that cannot appear in a request-target or Host
 * value: controls, space, DEL. */
int rl__http_has_space_or_ctl(const char *s);

/*
 * The checks every HTTP plugin makes of a step's target: a path and host
 * without spaces or controls, no body length without a body, and no plugin
 * option (`plugin` names the plugin in the message: HTTP takes none, so a
 * typo must not pass silently). Returns 0 or RL_ERR_INVAL with err set.
 */
int rl__http_check_target(const rl_step_spec *spec, const char *path,
                          const char *plugin, char *err, size_t errlen);

/* A malloc'd copy of s (the caller frees it), or NULL. */
char *rl__http_dup_str(const char *s);

#endif /* RL_HTTP_TEXT_H */
