/* The request policy: what a worker does with one task. One attempt (the token, then for each
 * request its limiter slot right before it is sent, the request, its classification) comes to a
 * small outcome (ok / fail / retry / reauth / cancelled / fatal) and a short loop decides: done,
 * one re-authentication, a retry after backoff or Retry-After (the pool-wide pause for a long
 * one), or give up. The tutorial PUT (+ optional pre-flight GET) and the cxone set-disposition
 * live here, each with the read-back that guards a write whose earlier outcome is unknown.
 *
 * The policy knows its job only through this environment: it writes counters, events and the
 * batch's fatal state to the ledger, and nothing else of the job. */
#ifndef CXB_ATTEMPT_H
#define CXB_ATTEMPT_H
#include "net/auth.h"
#include "engine/config.h"
#include "engine/durable.h"
#include "engine/ledger.h"
#include "limiter/limiter.h"
#include "engine/task.h"
#include <stdatomic.h>

typedef struct cxb_worker_env {
    const cxb_config *cfg;
    cxb_limiter *lim;
    cxb_auth *auth;
    const atomic_int *cancel;
    cxb_ledger *ledger;
    cxb_durable *durable;     /* the journal's write-ahead barrier (a no-op without a journal) */
} cxb_worker_env;

/* A worker's own state (HTTP handle, token copy, header buffers): never shared. */
typedef struct cxb_worker cxb_worker;

/* NULL on allocation failure. A worker whose HTTP handle could not be created still answers
 * every task (with an error). env must outlive the worker. */
cxb_worker *cxb_worker_new(const cxb_worker_env *env);
void cxb_worker_free(cxb_worker *w);

/* Runs the task until it has its result: ok, failed, skipped or cancelled, with t->error and
 * t->kind set unless ok. */
void cxb_worker_run(cxb_worker *w, cxb_task *t);
#endif
