/*
 * pbjson_cli: rpcload's protobuf JSON mapping from the command line, for
 * tests (tests/integration/test_pbjson_roundtrip.py) and for looking at a
 * .proto by hand.
 *
 *   pbjson_cli (--proto FILE [-I DIR]... | --protoset FILE) COMMAND [FLAGS]
 *
 * Commands:
 *   --list                      services and methods (rl__pb_pool_list)
 *   --method NAME               the method NAME finds: full name, path,
 *                               request and response types, streaming
 *   --message T --json TEXT     the wire bytes of JSON TEXT as T, in hex
 *   --message T --decode HEX    wire bytes (hex) of a T as JSON
 *   --batch                     lines on stdin, one answer line each:
 *                                 E <type> <json>  ->  OK <hex> | ERR <why>
 *                                 D <type> <hex>   ->  OK <json> | ERR <why>
 * Flags (for JSON output): --emit-defaults --proto-names --enums-as-ints
 * --pretty.
 *
 * Exit status: 0 done, 1 an error (on stderr), 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "grpc/pbdesc.h"
#include "grpc/pbjson.h"

#define MAX_IMPORTS 64

static void usage(void) {
  fprintf(stderr,
          "usage: pbjson_cli (--proto FILE [-I DIR]... | --protoset FILE)\n"
          "         (--list | --method NAME | --message TYPE (--json TEXT | "
          "--decode HEX) | --batch)\n"
          "         [--emit-defaults] [--proto-names] [--enums-as-ints] "
          "[--pretty]\n");
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Hex text to bytes (caller frees); NULL if not hex. */
static uint8_t *from_hex(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2 != 0)
    return NULL;
  uint8_t *b = malloc(n / 2 + 1);
  if (b == NULL)
    return NULL;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval((unsigned char)hex[2 * i]);
    int lo = hexval((unsigned char)hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(b);
      return NULL;
    }
    b[i] = (uint8_t)(hi * 16 + lo);
  }
  *len = n / 2;
  return b;
}

/* JSON text as TYPE -> hex of the wire bytes in *out (caller frees). */
static int encode(const rl__pb_pool *pool, const char *type, const char *json,
                  char **out, char *err, size_t errlen) {
  const ProtobufCMessageDescriptor *d = rl__pb_pool_find_message(pool, type);
  if (d == NULL) {
    snprintf(err, errlen, "no message type '%s' in the descriptor set", type);
    return RL_ERR_NOTFOUND;
  }
  uint8_t *bytes;
  size_t len;
  int rc = rl__pb_json_to_wire(pool, d, json, &bytes, &len, err, errlen);
  if (rc)
    return rc;
  char *hex = malloc(2 * len + 1);
  if (hex == NULL) {
    free(bytes);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  for (size_t i = 0; i < len; i++)
    snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
  hex[2 * len] = '\0';
  free(bytes);
  *out = hex;
  return 0;
}

/* Hex wire bytes of a TYPE -> JSON in *out (caller frees). */
static int decode(const rl__pb_pool *pool, const char *type, const char *hex,
                  unsigned flags, char **out, char *err, size_t errlen) {
  const ProtobufCMessageDescriptor *d = rl__pb_pool_find_message(pool, type);
  if (d == NULL) {
    snprintf(err, errlen, "no message type '%s' in the descriptor set", type);
    return RL_ERR_NOTFOUND;
  }
  size_t len = 0;
  uint8_t *bytes = from_hex(hex, &len);
  if (bytes == NULL) {
    snprintf(err, errlen, "not hex: '%s'", hex);
    return RL_ERR_INVAL;
  }
  ProtobufCMessage *msg;
  int rc = rl__pb_decode(d, bytes, len, &msg, err, errlen);
  free(bytes);
  if (rc)
    return rc;
  rc = rl__pb_to_json(pool, msg, flags, out, err, errlen);
  rl__pb_message_free(msg);
  return rc;
}

/* One line per request on stdin, one answer line per request on stdout. */
static int batch(const rl__pb_pool *pool, unsigned flags) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  char err[1024];
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = '\0';
    if (n == 0)
      continue;
    char *type = strchr(line, ' ');
    char *arg = type != NULL ? strchr(type + 1, ' ') : NULL;
    char *out = NULL;
    int rc;
    if (arg == NULL || (line[0] != 'E' && line[0] != 'D') || type != line + 1) {
      snprintf(err, sizeof err, "bad request line");
      rc = RL_ERR_INVAL;
    } else {
      *arg++ = '\0';
      type++;
      rc = line[0] == 'E'
               ? encode(pool, type, arg, &out, err, sizeof err)
               : decode(pool, type, arg, flags, &out, err, sizeof err);
    }
    if (rc == 0) {
      printf("OK %s\n", out);
    } else {
      for (char *p = err; *p; p++) {
        if (*p == '\n')
          *p = ' ';
      }
      printf("ERR %s\n", err);
    }
    free(out);
    fflush(stdout);
  }
  free(line);
  return 0;
}

int main(int argc, char **argv) {
  const char *proto = NULL, *protoset = NULL, *method = NULL;
  const char *message = NULL, *json = NULL, *hex = NULL;
  const char *imports[MAX_IMPORTS];
  size_t n_imports = 0;
  int list = 0, do_batch = 0;
  unsigned flags = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--list") == 0) {
      list = 1;
    } else if (strcmp(a, "--batch") == 0) {
      do_batch = 1;
    } else if (strcmp(a, "--emit-defaults") == 0) {
      flags |= RL_PB_JSON_EMIT_DEFAULTS;
    } else if (strcmp(a, "--proto-names") == 0) {
      flags |= RL_PB_JSON_PROTO_NAMES;
    } else if (strcmp(a, "--enums-as-ints") == 0) {
      flags |= RL_PB_JSON_ENUMS_AS_INTS;
    } else if (strcmp(a, "--pretty") == 0) {
      flags |= RL_PB_JSON_PRETTY;
    } else if (next != NULL && strcmp(a, "--proto") == 0) {
      proto = argv[++i];
    } else if (next != NULL && strcmp(a, "--protoset") == 0) {
      protoset = argv[++i];
    } else if (next != NULL && strcmp(a, "-I") == 0) {
      if (n_imports == MAX_IMPORTS) {
        fprintf(stderr, "pbjson_cli: too many -I\n");
        return 2;
      }
      imports[n_imports++] = argv[++i];
    } else if (next != NULL && strcmp(a, "--method") == 0) {
      method = argv[++i];
    } else if (next != NULL && strcmp(a, "--message") == 0) {
      message = argv[++i];
    } else if (next != NULL && strcmp(a, "--json") == 0) {
      json = argv[++i];
    } else if (next != NULL && strcmp(a, "--decode") == 0) {
      hex = argv[++i];
    } else {
      usage();
      return 2;
    }
  }
  if ((proto == NULL) == (protoset == NULL)) {
    usage();
    return 2;
  }
  char err[4096];
  rl__pb_pool *pool = NULL;
  int rc = proto != NULL
               ? rl__pb_pool_new_from_proto(proto, imports, n_imports, &pool,
                                            err, sizeof err)
               : rl__pb_pool_new_from_file(protoset, &pool, err, sizeof err);
  if (rc) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  char *out = NULL;
  if (list) {
    rl__pb_pool_list(pool, stdout);
  } else if (do_batch) {
    rc = batch(pool, flags);
  } else if (method != NULL) {
    const rl__pb_method *m;
    rc = rl__pb_pool_find_method(pool, method, &m, err, sizeof err);
    if (rc == 0)
      printf("%s %s %s %s%s%s\n", m->full_name, m->path, m->input->name,
             m->output->name, m->client_streaming ? " client-streaming" : "",
             m->server_streaming ? " server-streaming" : "");
  } else if (message != NULL && json != NULL) {
    rc = encode(pool, message, json, &out, err, sizeof err);
  } else if (message != NULL && hex != NULL) {
    rc = decode(pool, message, hex, flags, &out, err, sizeof err);
  } else {
    usage();
    rl__pb_pool_del(pool);
    return 2;
  }
  if (rc)
    fprintf(stderr, "%s\n", err);
  else if (out != NULL)
    printf("%s\n", out);
  free(out);
  rl__pb_pool_del(pool);
  return rc ? 1 : 0;
}
