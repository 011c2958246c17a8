/* A batch job: its config, counters and events, and the tasks it hands to a worker pool
 * (pool.c) whose workers run the request policy (attempt.c). Only plain C data crosses threads;
 * the Lua binding converts on the owning thread. */
#ifndef CXB_JOB_H
#define CXB_JOB_H
#include "engine/config.h"
#include "common/kind.h"
#include "engine/ledger.h"
#include "limiter/limiter.h"
#include "engine/task.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opaque: config, counters, events and the pool (job.c). */
typedef struct cxb_job cxb_job;

/* Creates the job and starts its workers. Returns NULL with a message in err and its kind
 * (OPTIONS, LIMITER: the shared limit could not be opened, INTERNAL). */
cxb_job *cxb_job_new(const cxb_config *cfg, cxb_kind *kind, char *err, size_t errlen);

/* Non-blocking: queues a task (takes ownership) or returns -1 when no slot is free. An invalid
 * task (invalid_msg != NULL) becomes a result at once, without a request. */
int cxb_job_submit(cxb_job *j, cxb_task *t, const char *invalid_msg);

/* Queues an auxiliary GET of t->url with the job's token and limiter (t->fetch is set here): the
 * metadata a job fetches (the outcome hierarchy, a skill's dispositions). It takes one limiter
 * slot right before it is sent, like a task's request. Its result never comes back among the
 * task results: cxb_job_take keeps it apart for cxb_job_take_fetched, with the body in
 * t->response, and it is not counted in the task counters. Never blocks; -1 when no slot is
 * free. */
int cxb_job_submit_fetch(cxb_job *j, cxb_task *t);

/* No more tasks will be submitted. */
void cxb_job_close_input(cxb_job *j);

/* Takes up to max finished task results into out; waits up to `wait` seconds for at least one
 * result or fetch (or for a free slot when want_slot). Returns the count: 0 also when only a
 * fetch finished (it waits for cxb_job_take_fetched). Owner thread only. */
size_t cxb_job_take(cxb_job *j, cxb_task **out, size_t max, double wait, int want_slot);

/* Takes up to max finished fetches (oldest first) that cxb_job_take kept apart; never waits.
 * The caller frees them. Owner thread only. */
size_t cxb_job_take_fetched(cxb_job *j, cxb_task **out, size_t max);

/* Takes up to max queued events. */
size_t cxb_job_events(cxb_job *j, cxb_event *out, size_t max);

/* 1 when input is closed and every submitted task's result has been taken. */
int cxb_job_finished(cxb_job *j);
int cxb_job_has_slot(cxb_job *j);
/* 1 once the job was cancelled or halted: no task submitted from now on will be sent. */
int cxb_job_stopped(cxb_job *j);

/* Returns at once; unsent tasks become cancelled results, in-flight transfers abort promptly.
 * reason (may be NULL) prefixes the cancelled results' messages. */
void cxb_job_cancel(cxb_job *j);
void cxb_job_cancel_reason(cxb_job *j, const char *reason);

/* Returns at once; no task that has not started yet will (each becomes a cancelled result,
 * "reason: cancelled before it was sent"), while the requests in flight finish as usual, retries
 * included. For a batch stopped by its own results (the auto-halt, a canary not confirmed). */
void cxb_job_halt(cxb_job *j, const char *reason);

/* Snapshot of the counters, and the batch's fatal kind and message (NONE and "" when none). */
void cxb_job_counters(cxb_job *j, cxb_counters *out, cxb_kind *fatal_kind, char *fatal, size_t fatallen);

/* Snapshot of what job:metrics() reports beyond the counters (ledger.h). */
void cxb_job_metrics(cxb_job *j, cxb_metrics *out);

/* The job's limiter (owned by the job: valid until close or release), for live control of the
 * rate (limiter.h: set_rate, set_max_rate, rate_status). */
cxb_limiter *cxb_job_limiter(cxb_job *j);

/* Journaled jobs: attaches (a duplicate of) the journal's fd before the first task is submitted;
 * from then on no task's first request leaves before cxb_job_intents_written covered its index
 * and the file was synced (durable.h). 0, or -1 with a message. */
int cxb_job_attach_journal(cxb_job *j, int fd, char *err, size_t errlen);
void cxb_job_intents_written(cxb_job *j, uint64_t index);

/* Cancels and waits (bounded by the transfer abort time) for every worker, then frees. */
void cxb_job_close(cxb_job *j);

/* Cancels and drops the owner's reference without waiting: the last worker out frees the job.
 * For __gc inside event loops that must never block. */
void cxb_job_release(cxb_job *j);

#endif
