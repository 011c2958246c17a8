/* A batch job: its config, counters and events, and the tasks it hands to a worker pool
 * (pool.c) whose workers run the request policy (attempt.c). Only plain C data crosses threads;
 * the Lua binding converts on the owning thread. */
#ifndef CXB_JOB_H
#define CXB_JOB_H
#include "auth.h"
#include "limiter.h"
#include "task.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct cxb_config {
    const char *token_url, *client_id, *client_secret, *scope;
    int basic_auth;
    int workers;
    double rate, burst;
    const char *shared_limit;  /* NULL: process-local limiter */
    double shared_limit_timeout;        /* Redis unreachable this long -> batch fails (0: 30 s) */
    const char *shared_limit_fallback;  /* NULL or "local:RATE" while Redis is unreachable */
    int max_retries;
    double backoff_base, backoff_max, timeout, connect_timeout, pause_threshold;
    const char *ca_file;
    int insecure;
    size_t queue_size;         /* tasks buffered ahead of the workers */
    int preflight;             /* GET the contact before each PUT; 404 -> skipped */
    /* api = "cxone" (docs/cxone.md): password grant, discovery, set-disposition POST, and a
     * read-back before any resend of a POST whose outcome is unknown. */
    int cxone;
    const char *access_key_id, *access_key_secret, *issuer, *tenant_id, *api_base, *api_version;
    int max_unreachable;       /* consecutive attempts with no HTTP answer -> batch fails (0: never) */
} cxb_config;

typedef enum {
    CXB_EV_RETRY = 1, CXB_EV_PAUSE, CXB_EV_TOKEN, CXB_EV_REAUTH,
    CXB_EV_LIMITER /* the limiter's state was reset, or its store is unreachable (delay: wait) */
} cxb_event_type;

typedef struct cxb_event {
    cxb_event_type type;
    uint64_t index;
    int attempt;
    long status;
    double delay;
    char contact_id[64];
    char error[240];
} cxb_event;

#define CXB_EVENTS_CAP 1024

typedef struct cxb_counters {
    long total, succeeded, failed, retried, requests, replayed, invalid, cancelled, skipped;
    long http_429, http_5xx, transport_errors, token_refreshes, reauths, pauses, events_dropped;
    double pause_seconds;
    long by_status[600];
} cxb_counters;

/* Opaque: config, counters, events and the pool (job.c). */
typedef struct cxb_job cxb_job;

/* Creates the job and starts its workers. Returns NULL with a message in err. */
cxb_job *cxb_job_new(const cxb_config *cfg, char *err, size_t errlen);

/* Non-blocking: queues a task (takes ownership) or returns -1 when no slot is free. An invalid
 * task (invalid_msg != NULL) becomes a result at once, without a request. */
int cxb_job_submit(cxb_job *j, cxb_task *t, const char *invalid_msg);

/* Queues an auxiliary GET of t->url with the job's token and limiter (t->fetch is set here).
 * Its result comes back through cxb_job_take like a task's, with the body in t->response, and it
 * is not counted in the task counters. Never blocks; -1 when no slot is free. */
int cxb_job_submit_fetch(cxb_job *j, cxb_task *t);

/* No more tasks will be submitted. */
void cxb_job_close_input(cxb_job *j);

/* Takes up to max finished results into out; waits up to `wait` seconds for at least one (or
 * for a free slot when want_slot). Returns the count. */
size_t cxb_job_take(cxb_job *j, cxb_task **out, size_t max, double wait, int want_slot);

/* Takes up to max queued events. */
size_t cxb_job_events(cxb_job *j, cxb_event *out, size_t max);

/* 1 when input is closed and every submitted task's result has been taken. */
int cxb_job_finished(cxb_job *j);
int cxb_job_has_slot(cxb_job *j);

/* Returns at once; unsent tasks become cancelled results, in-flight transfers abort promptly.
 * reason (may be NULL) prefixes the cancelled results' messages. */
void cxb_job_cancel(cxb_job *j);
void cxb_job_cancel_reason(cxb_job *j, const char *reason);

/* Snapshot of the counters (and the fatal message, if any). */
void cxb_job_counters(cxb_job *j, cxb_counters *out, char *fatal, size_t fatallen);

/* Cancels and waits (bounded by the transfer abort time) for every worker, then frees. */
void cxb_job_close(cxb_job *j);

/* Cancels and drops the owner's reference without waiting: the last worker out frees the job.
 * For __gc inside event loops that must never block. */
void cxb_job_release(cxb_job *j);

#endif
