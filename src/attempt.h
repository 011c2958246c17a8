/* The request policy: what a worker does with one task. One attempt (limiter, token, the
 * request, its classification) comes to a small outcome (ok / fail / retry / reauth / cancelled
 * / fatal) and a short loop decides: done, one re-authentication, a retry after backoff or
 * Retry-After (the pool-wide pause for a long one), or give up. The tutorial PUT (+ optional
 * pre-flight GET) and the cxone set-disposition (read-back before any resend) live here. */
#ifndef CXB_ATTEMPT_H
#define CXB_ATTEMPT_H
#include "job.h"

/* A worker's own state (HTTP handle, token copy, header buffers): never shared. */
typedef struct cxb_worker cxb_worker;

/* NULL on allocation failure. A worker whose HTTP handle could not be created still answers
 * every task (with an error). */
cxb_worker *cxb_worker_new(cxb_job *j);
void cxb_worker_free(cxb_worker *w);

/* Runs the task until it has its result: ok, failed, skipped or cancelled, with t->error set
 * unless ok. */
void cxb_worker_run(cxb_worker *w, cxb_task *t);
#endif
