/* A job's books: counters, the events queue for the owner, and the batch's fatal state (its kind
 * and message), with the unreachable-API count that trips it. The request policy (attempt.c)
 * writes here and knows nothing else of the job; the job reads it for the owner. Every function
 * takes the ledger's own lock briefly, or none (the per-task gauges are atomics), and calls out
 * (the cancel hook) without holding it. */
#ifndef CXB_LEDGER_H
#define CXB_LEDGER_H
#include "common/kind.h"
#include "engine/task.h"
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CXB_EV_RETRY = 1, CXB_EV_PAUSE, CXB_EV_TOKEN, CXB_EV_REAUTH,
    CXB_EV_LIMITER, /* the limiter's state was reset, or its store is unreachable (delay: wait) */
    CXB_EV_RATE     /* the rate in force changed (rate, rate_prev, reason) */
} cxb_event_type;

typedef struct cxb_event {
    cxb_event_type type;
    double at;            /* when it happened: Unix time (CLOCK_REALTIME), seconds */
    uint64_t index;
    int attempt;
    long status;
    double delay;
    double rate, rate_prev;   /* CXB_EV_RATE */
    int reason;               /* CXB_EV_RATE: a cxb_rate_reason (rate_ctl.h) */
    char contact_id[64];
    char error[240];
} cxb_event;

#define CXB_EVENTS_CAP 1024

typedef struct cxb_counters {
    long total, succeeded, failed, retried, requests, replayed, invalid, cancelled, skipped, verified;
    long http_429, http_5xx, transport_errors, token_refreshes, reauths, pauses, events_dropped;
    double pause_seconds;
    long by_status[600];
} cxb_counters;

/* What job:metrics() reports beyond the counters (docs/api.md "Prometheus metrics"). */
typedef enum { CXB_METHOD_GET, CXB_METHOD_PUT, CXB_METHOD_POST, CXB_METHOD_OTHER, CXB_METHODS } cxb_method;
typedef enum {
    CXB_OUTCOME_SUCCEEDED, CXB_OUTCOME_FAILED, CXB_OUTCOME_INVALID, CXB_OUTCOME_CANCELLED,
    CXB_OUTCOME_SKIPPED, CXB_OUTCOMES
} cxb_outcome;
/* Upper bounds (seconds) of the request latency histogram's buckets; one more bucket is +Inf. */
#define CXB_LATENCY_BOUNDS 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
#define CXB_LATENCY_BUCKETS 12

typedef struct cxb_metrics {
    long requests[CXB_METHODS][600];          /* sent, by method and HTTP status (0: no answer) */
    long latency[CXB_LATENCY_BUCKETS];        /* per bucket, not cumulative; the last is +Inf */
    double latency_sum;                       /* seconds, over the requests that came back */
    long latency_count;
    double limiter_wait_seconds;              /* spent waiting for a limiter slot (pauses too) */
    long limiter_waits;                       /* slots taken */
    long results[CXB_OUTCOMES][CXB_KIND_COUNT]; /* results by outcome and kind (NONE when ok) */
    long queued, in_flight;                   /* tasks waiting for a worker / at a worker */
    double started;                           /* Unix time the job started */
} cxb_metrics;

const char *cxb_method_name(cxb_method m);
const char *cxb_outcome_name(cxb_outcome o);

typedef struct cxb_ledger cxb_ledger;

/* max_unreachable: consecutive attempts without an answer that fail the batch (0: never).
 * cancel(arg) is called (without the lock) when the batch turns fatal. */
cxb_ledger *cxb_ledger_new(int max_unreachable, void (*cancel)(void *), void *arg);
void cxb_ledger_free(cxb_ledger *l);

/* Queues an event for the owner (the oldest is dropped when the owner is not draining) and
 * counts it. t may be NULL (a token refresh). */
void cxb_ledger_event(cxb_ledger *l, cxb_event_type type, const cxb_task *t, int attempt, long status,
                      double delay, const char *error);
/* Queues a CXB_EV_RATE event: the rate in force changed from prev to rate, for reason. */
void cxb_ledger_rate_event(cxb_ledger *l, double rate, double prev, int reason, const char *msg);
/* Counts one request of t sent at sent_mono (CLOCK_MONOTONIC) with method: its HTTP status (0:
 * none) and whether the transport failed (neither: aborted by a cancel). A status means the API
 * answered: the unreachable count starts over, as cxb_ledger_note_reach(l, 1, ...) does. Its latency (now -
 * sent_mono) goes to the histogram unless it was aborted, and the request is noted on t. */
void cxb_ledger_count_response(cxb_ledger *l, cxb_task *t, const char *method, long status,
                               int transport_error, double sent_mono);
/* A limiter slot was taken after waiting `seconds` for it. */
void cxb_ledger_limiter_wait(cxb_ledger *l, double seconds);
/* A task reached a worker (running 1) or left it (running 0): the queued / in-flight gauges. */
void cxb_ledger_task_running(cxb_ledger *l, int running);
/* A task is queued for the workers (delta 1), or was not after all (-1: the queue was full). */
void cxb_ledger_count_queued(cxb_ledger *l, int delta);
/* The whole batch fails with kind and msg (the first one wins); the batch is cancelled. */
void cxb_ledger_set_fatal(cxb_ledger *l, cxb_kind kind, const char *msg);
/* answered 0: one more attempt that could not reach the API (kind: NETWORK or TLS; last: its
 * message); 1: the API answered, the count starts over. Past max_unreachable: fatal. */
void cxb_ledger_note_reach(cxb_ledger *l, int answered, cxb_kind kind, const char *last);
/* Why the owner cancelled ("deadline of 30 s passed"); the first reason given stays. */
void cxb_ledger_cancel_reason(cxb_ledger *l, const char *reason);
/* Marks the task cancelled, naming the batch's fatal error or the owner's reason. */
void cxb_ledger_task_cancelled(cxb_ledger *l, cxb_task *t, int in_flight);
/* A task was taken (total) / its result is final (succeeded, failed, ...). */
void cxb_ledger_count_taken(cxb_ledger *l);
void cxb_ledger_count_result(cxb_ledger *l, const cxb_task *t);

/* Takes up to max queued events. */
size_t cxb_ledger_events(cxb_ledger *l, cxb_event *out, size_t max);
/* Snapshot of what job:metrics() reports beyond the counters. */
void cxb_ledger_metrics(cxb_ledger *l, cxb_metrics *out);
/* Snapshot of the counters, and the fatal kind and message (NONE and "" when none). */
void cxb_ledger_snapshot(cxb_ledger *l, cxb_counters *out, cxb_kind *fatal_kind, char *fatal, size_t len);
#endif
