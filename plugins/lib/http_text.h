/*
 * Text helpers the HTTP plugins share (http1, http2; grpc for its
 * messages): error messages, printing user input safely, RFC 9110 token
 * and field checks, the user's -H headers (one parser, one rule for both
 * HTTP versions), and the pieces of a request target both build. Part of
 * plugins/lib, linked into each plugin module (hidden there), so no plugin
 * depends on another.
 */
#ifndef RL_HTTP_TEXT_H
#define RL_HTTP_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "buf.h"

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

/* True when n bytes of s hold a CR or an LF. */
int rl__http_has_crlf(const char *s, size_t n);

/* Optional whitespace (RFC 9110 OWS): space or tab. */
int rl__http_is_ows(char c);

/* True if s has a byte that cannot appear in a request-target or Host
 * value: controls, space, DEL. */
int rl__http_has_space_or_ctl(const char *s);

/* The spec has the members up to `name` (ABI 1.0's), all an HTTP plugin
 * reads without checking struct_size. 0, or RL_ERR_ABI with err set. */
int rl__http_check_spec_size(const rl_step_spec *spec, char *err,
                             size_t errlen);

/*
 * The checks every HTTP plugin makes of a step's target: a path and host
 * without spaces or controls (no host only in a list-only step), and no
 * body length without a body. (Its options are lib/http_session's.)
 * Returns 0 or RL_ERR_INVAL with err set.
 */
int rl__http_check_target(const rl_step_spec *spec, const char *path, char *err,
                          size_t errlen);

/* A malloc'd copy of s (the caller frees it), or NULL. */
char *rl__http_dup_str(const char *s);

/* True when a field value has a byte it cannot hold: a control character
 * other than HTAB (CR, LF and NUL among them), or DEL. RFC 9110 5.5 allows
 * visible characters, SP, HTAB and obs-text (bytes >= 0x80) only. For
 * template expansions, checked per request. */
int rl__http_bad_value(const char *v, size_t len);

/* ABI 1.7: the header fields req adds to its step's (host->request_headers;
 * none from an older host), *n their count. Borrowed until request_done. */
const rl_kv *rl__http_extra(const rl_host *host, const rl_request *req,
                            size_t *n);

/* Checks a request's extra fields before they are written: a name must be
 * a token (so no pseudo-header), not Content-Length or Transfer-Encoding
 * (the body frames itself), and a value must pass rl__http_bad_value.
 * 0, or RL_ERR_INVAL with the reason in why (for host->request_refuse). */
int rl__http_check_extra(const rl_kv *h, size_t n, char *why, size_t whylen);

/* True when a field named `name` (len bytes) is among the n extra ones
 * (ASCII case-insensitive): the step's field of that name is replaced. */
int rl__http_extra_has(const rl_kv *h, size_t n, const char *name, size_t len);

/* One user header, split and trimmed; points into the strings it was
 * parsed from. */
typedef struct rl__http_hdr {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} rl__http_hdr;

/*
 * Splits and checks one user header (-H, or a scenario step's headers):
 * kv->value NULL means kv->key is the raw "Name: value" line as the user
 * typed it; otherwise kv->key is the name and kv->value the value. Blanks
 * (SP, HTAB) around the value are not part of it (RFC 9110 5.5) and are
 * dropped. Refused, with RL_ERR_INVAL and one line in err, in this order:
 *   - a raw line without ':'               "header 'X-Foo bar' has no ':'"
 *   - CR or LF in the name or the value: it would end the field early and
 *     smuggle another one in               "header 'X-A' contains CR or LF"
 *   - an empty name                        "header ': v' has an empty name"
 *   - a name that is not an RFC 9110 token (5.1: tchars only, so no blank,
 *     no ':' (pseudo-headers such as ":path" are the plugin's to write),
 *     no control or non-ASCII byte)
 *                          "header name 'X A' is not a valid HTTP token"
 *   - any other control character in the value (HTAB excepted) or DEL, as
 *     rl__http_bad_value says
 *                 "header 'X-A' value contains a control character"
 * A NUL cannot occur: the strings end there. Bytes >= 0x80 in a value
 * (obs-text, UTF-8) are kept. On 0, *h points into kv's strings (borrowed:
 * valid while they are).
 */
int rl__http_parse_header(const rl_kv *kv, rl__http_hdr *h, char *err,
                          size_t errlen);

/* Every header of spec, parsed, in a new array (the caller frees it; NULL
 * when there are none). 0, or an RL_ERR_* code with err set. */
int rl__http_parse_headers(const rl_step_spec *spec, rl__http_hdr **out,
                           char *err, size_t errlen);

/* The last of n headers named `name` (ASCII case ignored), or NULL. */
/* The media type a scenario's JSON body is to be labelled with
 * (spec->body_type, ABI 1.3), or NULL: none, or a host older than 1.3. */
const char *rl__http_body_type(const rl_step_spec *spec);

const rl__http_hdr *rl__http_find_header(const rl__http_hdr *hs, size_t n,
                                         const char *name);

/* A header the HTTP plugins write themselves (Host, User-Agent,
 * Content-Length): the user's replaces theirs, and an empty value just
 * removes theirs, as curl does. */
int rl__http_is_default_header(const rl__http_hdr *h);

/* Whether a request says Content-Length: with a body, and for POST, PUT
 * and PATCH also without one ("0", RFC 9110 8.6: some servers answer 411
 * otherwise). */
int rl__http_wants_length(const char *method, int has_body);

/* The default port of spec's scheme in `schemes` (the plugin's table),
 * else 443 with TLS and 80 without. */
uint16_t rl__http_default_port(const rl_scheme *schemes,
                               const rl_step_spec *spec);

/* Appends the authority of spec's URL: host, with an IPv6 literal's
 * brackets put back (the spec gives it without), and ":port" only when the
 * port is not the scheme's default. Nothing for a list-only step without a
 * host. */
void rl__http_add_authority(rl__buf *b, const rl_scheme *schemes,
                            const rl_step_spec *spec);

/*
 * The constant part of a templated path (its {{...}} left out), checked
 * for spaces and controls: an expansion is percent-encoded per request
 * where it must be, the constant part is the user's to encode. On 0,
 * *skeleton is a new string (the caller frees it) to check the rest of the
 * target with; else RL_ERR_INVAL (the message quotes the whole path) or
 * RL_ERR_NOMEM, with err set.
 */
int rl__http_path_skeleton(const char *path, char **skeleton, char *err,
                           size_t errlen);

/*
 * What an HTTP step spec asks for, as a plugin reads it in step_new (each
 * plugin checks it in its own order, then builds its request from it):
 * the method (POST with a body, GET without, unless given), the path ("/"
 * unless given), the scheme (the URL's, else https or http), the user's
 * headers, and the templates compiled from them, each NULL when its text
 * goes out as it is. The strings are the spec's (borrowed); hs and the
 * templates are owned until the plugin takes them (and sets them NULL).
 */
typedef struct rl__http_parts {
  const char *method;
  const char *path;
  const char *scheme;
  int has_body;
  rl__http_hdr *hs; /* the user's headers, n of them */
  size_t n;
  rl_template *path_tpl;
  rl_template **value_tpl; /* n of them, or NULL when no value has any */
  rl_template *body_tpl;
} rl__http_parts;

/* Zeroes *pt and sets method, path, scheme and has_body from spec. */
void rl__http_parts_init(rl__http_parts *pt, const rl_step_spec *spec);

/* Frees what *pt still owns (host frees the templates); *pt is zeroed. */
void rl__http_parts_free(const rl_host *host, rl__http_parts *pt);

/* Takes header i's value template out of *pt: the caller owns it (NULL
 * when the value has none). */
rl_template *rl__http_parts_take_value(rl__http_parts *pt, size_t i);

/*
 * The authority a step sends (its cookies' and redirects' origin): the
 * user's Host header, else the URL's authority. NULL when the header is
 * templated (known per request only), or when it is given empty and
 * `empty_removes` (HTTP/1.1: an empty Host is sent as such; HTTP/2 then
 * takes the URL's :authority). A new string (the caller frees it), or
 * NULL (also when out of memory).
 */
char *rl__http_authority_sent(const rl_step_spec *spec,
                              const rl__http_parts *pt,
                              const rl_scheme *schemes, int empty_removes);

/* Appends an expanded path, percent-encoding what cannot go in a request
 * target as it is (controls, space, DEL, and non-ASCII bytes: RFC 3986
 * wants UTF-8 percent-encoded); everything else ('%', '?', '&', '/') stays
 * as the user made it. */
void rl__http_add_path(rl__buf *b, const char *text, size_t len);

#endif /* RL_HTTP_TEXT_H */
