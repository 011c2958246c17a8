/* The worker pool: threads, the per-task attempt loop, the two queues and the counters.
 * Only plain C data crosses threads; the Lua binding converts on the owning thread. */
#ifndef CXB_JOB_H
#define CXB_JOB_H
#include "auth.h"
#include "http.h"
#include "idempotency.h"
#include "limiter.h"
#include "queue.h"
#include <pthread.h>
#include <stdatomic.h>
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

/* A task travels to a worker and comes back as its result: one allocation per task. */
typedef struct cxb_task {
    uint64_t index;
    char *contact_id;     /* points into the same allocation */
    char *url;            /* full URL of the contact resource */
    char *body;           /* JSON request body (built by the Lua facade) */
    size_t body_len;
    char *key;            /* Idempotency-Key */
    /* result */
    int fetch;            /* an auxiliary GET (e.g. the outcome hierarchy), not a contact task */
    int ok, attempts, replayed, cancelled, invalid, skipped;
    int verified;         /* cxone: the read-back showed the wanted disposition; no resend */
    int unknown;          /* sticky: an attempt of the PUT may have been applied unanswered */
    int unknown_attempt;  /* the first such attempt (1-based) */
    long unknown_status;  /* its 5xx status, 0 when no HTTP answer came back */
    long status;
    double started, elapsed;
    char *error;          /* malloc'd message or NULL */
    char *response;       /* fetch only: the response body (malloc'd) */
    size_t response_len;
} cxb_task;

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

typedef struct cxb_job {
    cxb_config cfg;
    char *strings;            /* owned copies of the config strings */
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   /* workers: a task arrived or input closed */
    pthread_cond_t cv_owner;  /* owner: a result arrived or a slot freed */
    cxb_queue tasks;
    cxb_task **results;       /* FIFO ring of finished tasks, capacity = max outstanding */
    size_t res_cap, res_head, res_len;
    cxb_event events[CXB_EVENTS_CAP];
    size_t ev_head, ev_len;
    size_t outstanding;       /* submitted and not yet taken by the owner */
    size_t max_outstanding;
    int input_closed;
    int owner_waiting;
    double last_wake;         /* when a worker last woke the owner (coalescing) */
    int fatal;
    char fatal_msg[512];
    char cancel_reason[160];  /* why the owner cancelled (e.g. "deadline of 30 s passed") */
    int unreachable;          /* consecutive attempts with no HTTP answer (under mu) */
    atomic_int cancel;
    cxb_counters c;
    double started;
    cxb_limiter *lim;
    cxb_auth auth;
    pthread_t *threads;
    int nthreads;
    int live_workers;         /* threads still running */
    int refs;                 /* owner + live workers; the last one out frees the job */
    int joined;
    pid_t pid;                /* the process that created the job (fork detection) */
} cxb_job;

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

/* Allocates a task with its strings in one block (NULL on allocation failure). */
cxb_task *cxb_task_new(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                       size_t url_len, const char *body, size_t body_len, const char *key,
                       size_t key_len);
void cxb_task_free(cxb_task *t);
#endif
