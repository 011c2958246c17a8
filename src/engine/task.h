/* A task: what a worker sends, and the result it comes back as (one allocation per task),
 * with the wording of its failure and cancellation messages. */
#ifndef CXB_TASK_H
#define CXB_TASK_H
#include "common/kind.h"
#include <stddef.h>
#include <stdint.h>

/* One request of a task, kept for the run report (docs/api.md "result": `tries`): when it left
 * (seconds after the task's first request), its HTTP status (0: no answer), how long it took
 * (send to answer, seconds) and the pool-wide pause its answer set (seconds, 0: none). */
typedef struct cxb_try {
    float offset, latency, pause;
    int status;
} cxb_try;

/* Requests of a task kept one by one; `attempts` counts them all. */
#define CXB_TRIES_MAX 16

/* A task travels to a worker and comes back as its result: one allocation per task. */
typedef struct cxb_task {
    uint64_t index;
    char *contact_id;     /* points into the same allocation */
    char *url;            /* full URL of the contact resource */
    char *body;           /* JSON request body (built by the Lua facade) */
    size_t body_len;
    char *key;            /* Idempotency-Key */
    /* What the task asks the contact to show, kept for a read-back (no body to re-parse): the
     * two outcome values (category, subcategory | skill, disposition_code) and the notes (NULL:
     * not given). NULL when the task was made without them (fetches, invalid tasks). */
    const char *want[2], *want_notes;
    /* result */
    int fetch;            /* an auxiliary GET (e.g. the outcome hierarchy), not a contact task */
    struct cxb_task *next_fetched; /* a finished fetch waiting in its job's own list (job.c) */
    int verify;           /* read the contact back before the first write: an earlier run may
                             have applied it (journal intent, or a failed file's "outcome
                             unknown"); a matching read-back settles the task without a write */
    int read_only;        /* a plan's read: read the contact, keep what it shows, never write */
    int keep_before;      /* read the contact before the first write and keep what it shows (the
                             before-image an undo restores) */
    int skip_unchanged;   /* a first read that shows the wanted value settles the task: no write */
    int ok, attempts, replayed, cancelled, invalid, skipped;
    int verified;         /* a read-back showed the wanted value: no (re)send was needed */
    int unchanged;        /* the first read showed the wanted value (read_only, skip_unchanged) */
    int was_read;         /* the first read of a read_only / keep_before / skip_unchanged task is done */
    int unknown;          /* sticky: an attempt of the PUT may have been applied unanswered */
    int unknown_attempt;  /* the first such attempt (1-based) */
    long unknown_status;  /* its 5xx status, 0 when no HTTP answer came back */
    long status;
    double started, elapsed;
    cxb_kind kind;        /* what the failure was, set where it was detected (NONE when ok) */
    char *error;          /* malloc'd message or NULL */
    char *response;       /* fetch only: the response body (malloc'd) */
    size_t response_len;
    char *before;         /* the first read's body (malloc'd), kept for read_only / keep_before
                             unless it only showed a value an earlier run may have written */
    size_t before_len;
    /* Its requests, for the run report: the first one's wall-clock (CLOCK_REALTIME) and
     * monotonic send time (0: none sent), the last one's latency, and the first CXB_TRIES_MAX. */
    double first_sent_wall, first_sent_mono;
    float last_latency;
    int tries_n;
    cxb_try tries[CXB_TRIES_MAX];
} cxb_task;

/* Allocates a task with its strings in one block (NULL on allocation failure). */
cxb_task *cxb_task_new(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                       size_t url_len, const char *body, size_t body_len, const char *key,
                       size_t key_len);

/* What a read-back compares with (see cxb_task.want): NUL-terminated, notes may be NULL. */
typedef struct cxb_task_want {
    const char *value[2], *notes;
} cxb_task_want;

/* cxb_task_new, with the wanted values copied into the same block (want may be NULL). */
cxb_task *cxb_task_new_wanted(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                              size_t url_len, const char *body, size_t body_len, const char *key,
                              size_t key_len, const cxb_task_want *want);
void cxb_task_free(cxb_task *t);

/* Replaces t->error (left NULL on OOM: the result still carries ok=false and its status). */
void cxb_task_set_error(cxb_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Attempt t->attempts of the PUT/POST may have been applied without a definitive answer: no
 * HTTP answer (transport error, timeout, abort in flight; status 0) or a 5xx. Sticky: only a
 * later 2xx clears t->unknown. */
void cxb_task_may_have_applied(cxb_task *t, long status);

/* One request of the task left at sent_mono (CLOCK_MONOTONIC) and took `latency` seconds to its
 * answer (status 0: none). Kept for the result's `at`, `latency` and `tries`. */
void cxb_task_note_request(cxb_task *t, double sent_mono, double latency, long status);

/* The answer of the task's last request paused the whole pool for `seconds`. */
void cxb_task_note_pause(cxb_task *t, double seconds);

/* The final failure of kind: msg, plus the unknown-outcome note when an attempt may have been
 * applied, so the wording never claims less than the server may have seen. */
void cxb_task_fail(cxb_task *t, cxb_kind kind, const char *msg);

/* Marks the task cancelled. fatal: the batch's fatal message, or NULL; why: the owner's reason
 * ("" or "deadline ...: "); in_flight: the transfer was aborted mid-way (a PUT's attempt is then
 * already recorded as may-have-applied). */
void cxb_task_cancelled(cxb_task *t, const char *fatal, const char *why, int in_flight);
#endif
