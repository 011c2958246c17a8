/* What the request policy (attempt.c) needs from its job: private to job.c and attempt.c. Every
 * function here takes the job's own lock briefly and never calls into the pool while holding it. */
#ifndef CXB_JOB_INTERNAL_H
#define CXB_JOB_INTERNAL_H
#include "job.h"

const cxb_config *cxb_job_config(const cxb_job *j);
cxb_limiter *cxb_job_limiter(cxb_job *j);
cxb_auth *cxb_job_auth(cxb_job *j);
const atomic_int *cxb_job_cancel_flag(const cxb_job *j);

/* Queues an event for the owner (the oldest is dropped when the owner is not draining) and
 * counts it. t may be NULL (a token refresh). */
void cxb_job_event(cxb_job *j, cxb_event_type type, const cxb_task *t, int attempt, long status,
                   double delay, const char *error);
/* Counts one request sent: its HTTP status (0: none) and whether the transport failed. */
void cxb_job_count_response(cxb_job *j, long status, int transport_error);
/* The whole batch fails with msg (the first one wins) and is cancelled. */
void cxb_job_set_fatal(cxb_job *j, const char *msg);
/* answered 0: one more attempt that could not reach the API (tls: it was a TLS failure; last:
 * its message); 1: the API answered, the count starts over. Past max_unreachable: fatal. */
void cxb_job_note_reach(cxb_job *j, int answered, int tls, const char *last);
/* Marks the task cancelled with the job's fatal message or cancel reason in its error. */
void cxb_job_task_cancelled(cxb_job *j, cxb_task *t, int in_flight);
#endif
