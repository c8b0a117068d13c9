/*
 * hello_server's shared types: the server, its worker threads and the tags
 * handed to grpc core. Private to examples/hello/.
 *
 * Threads: each worker owns one completion queue and is the only thread
 * that calls grpc_completion_queue_next() on it. Every call is bound to the
 * queue of the worker that accepted it, so all of a call's events, its
 * delay timer and its counters belong to one thread: calls, timers and
 * counters need no lock. The main thread only starts and stops the server
 * (hello_server.c) and talks to workers through the atomics of hs_server.
 */
#ifndef HS_SERVER_H
#define HS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "delay_heap.h"
#include "reflection.h"

/* The object that embeds member `member` at address ptr (the usual C
 * container_of): a tag is embedded in the object that owns the operation. */
#define HS_CONTAINER_OF(ptr, type, member)                                     \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Every tag given to grpc core points at one of these. The worker that
 * takes the event calls fn(tag, ok) with the event's success bit; fn then
 * owns whatever the tag's object owns (it may free it). */
typedef struct hs_tag hs_tag;
struct hs_tag {
  void (*fn)(hs_tag *tag, int ok);
};

/* What a worker did, printed at exit. Written by the owning worker only,
 * read by the main thread after joining it. */
typedef struct hs_counts {
  uint64_t hello_ok; /* SayHello answered with status OK */
  uint64_t
      hello_status; /* SayHello answered with a non-OK status (x-status, bad knobs, busy) */
  uint64_t reflection;    /* reflection streams closed with a status */
  uint64_t unimplemented; /* calls to other methods, answered UNIMPLEMENTED */
  uint64_t
      failed; /* cancelled by the client, or broke before the status went out */
  /* The streaming methods: calls answered with status OK, with another
   * status, the others (cancelled by the client, broken); their messages
   * read and written (a write counts once grpc took it). */
  uint64_t stream_ok, stream_status, stream_failed;
  uint64_t msgs_in, msgs_out;
} hs_counts;

/* Shutdown phases, in order (hs_server.phase). */
enum {
  HS_RUNNING = 0,
  HS_DRAINING,   /* grpc_server_shutdown_and_notify() called: no new calls */
  HS_CANCELLING, /* grace time over: calls cancelled, delayed answers go now */
};

typedef struct hs_worker hs_worker;

/* The server. Everything but `phase` and `workers_down` is written by the
 * main thread before the workers start and only read after. */
typedef struct hs_server {
  grpc_server *server;
  void *m_hello;        /* registered /locust.hello.HelloService/SayHello */
  void *m_stream;       /* ... SayHelloStream (server streaming) */
  void *m_to_all;       /* ... SayHelloToAll (client streaming) */
  void *m_chat;         /* ... SayHelloChat (bidirectional) */
  void *m_refl_v1;      /* registered reflection v1 method, or NULL */
  void *m_refl_v1alpha; /* registered reflection v1alpha method, or NULL */
  const hs_reflection *refl; /* NULL when reflection is off */
  hs_worker *workers;
  size_t nworkers;
  atomic_int phase;        /* HS_RUNNING... */
  atomic_int workers_down; /* workers whose server-shutdown tag arrived */
} hs_server;

struct hs_worker {
  hs_server *srv;
  grpc_completion_queue *cq; /* owned; destroyed by main after the join */
  pthread_t thread;
  hs_delay_heap delays; /* delayed SayHello answers, owned */
  hs_counts counts;
  hs_tag server_down;  /* grpc_server_shutdown_and_notify's tag */
  int cq_shut;         /* grpc_completion_queue_shutdown() called */
  int requests_failed; /* a request_*_call was refused: logged once */
};

/* The monotonic clock in nanoseconds, on grpc's monotonic clock (the clock
 * of the deadlines given to grpc_completion_queue_next()). */
int64_t hs_now_ns(void);

/* Logs a line on stderr, prefixed "hello_server: ". */
void hs_log(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- hello_service.c ------------------------------------------------------
 * SayHello and the answer to unknown methods. */

/* Asks grpc for the next SayHello call on w's queue. Returns 0, or -1 when
 * grpc refused (logged; the server is shutting down). */
int hs_hello_request(hs_worker *w);

/* Asks grpc for the next call to a method that is not registered, answered
 * UNIMPLEMENTED (otherwise such calls would wait in grpc core forever). */
int hs_unknown_request(hs_worker *w);

/* ---- hello_stream.c ---------------------------------------------------------
 * The streaming methods: SayHelloStream (server streaming), SayHelloToAll
 * (client streaming), SayHelloChat (bidirectional). `method` is one of
 * srv->m_stream, m_to_all, m_chat. */
int hs_stream_request(hs_worker *w, void *method);

/* ---- reflection_call.c ----------------------------------------------------
 * The ServerReflectionInfo bidi stream. method is srv->m_refl_v1 or
 * srv->m_refl_v1alpha. */
int hs_reflection_request(hs_worker *w, void *method);

#endif
