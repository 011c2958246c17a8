/* The job: its config, the sources every worker shares (limiter, token), the ledger the workers
 * write and the journal barrier they wait on, glued to a pool whose workers run the request
 * policy (attempt.c). The pool calls back into the job without its own lock held; the ledger
 * calls the pool (cancel) without its lock held. */
#include "engine/job.h"
#include "engine/attempt.h"
#include "common/clock.h"
#include "engine/pool.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cxb_job {
    cxb_config cfg;           /* owned copies of the strings (job_free_config) */
    cxb_ledger *ledger;       /* counters, events, the fatal state: what the workers write */
    cxb_durable *durable;     /* the journal's write-ahead barrier */
    cxb_worker_env env;       /* what a worker sees of the job */
    /* Fixed once the pool has started: */
    cxb_limiter *lim;
    cxb_auth *auth;
    cxb_pool *pool;
    atomic_int halted;        /* cxb_job_halt: no queued task starts; the ones in flight finish */
    /* Finished fetches, oldest first, kept apart from the task results (owner thread only): */
    cxb_task *fetched_head, *fetched_tail;
};

static void job_cancel_hook(void *arg)
{
    cxb_job *j = arg;
    if (j->pool)
        cxb_pool_cancel(j->pool);
}

/* The limiter's notes become events (a pause another process set, a reset state, an
 * unreachable store, a change of rate); a limiter that gives up fails the batch. */
static void job_limiter_note(void *arg, const cxb_limiter_note *n)
{
    cxb_job *j = arg;
    if (n->kind == CXB_LIM_NOTE_FATAL)
        cxb_ledger_set_fatal(j->ledger, CXB_KIND_LIMITER, n->msg);
    else if (n->kind == CXB_LIM_NOTE_RATE)
        cxb_ledger_rate_event(j->ledger, n->rate, n->prev, n->reason, n->msg);
    else
        cxb_ledger_event(j->ledger, n->kind == CXB_LIM_NOTE_PAUSE ? CXB_EV_PAUSE : CXB_EV_LIMITER, NULL, 0, 0,
                         n->wait, n->msg);
}

/* ---- the pool's callbacks ------------------------------------------------------------------ */

static void *job_worker_new(void *ctx)
{
    cxb_job *j = ctx;
    return cxb_worker_new(&j->env);
}

static void job_worker_free(void *ctx, void *w)
{
    cxb_worker_free(w);
}

static void job_work(void *ctx, void *w, void *item)
{
    cxb_job *j = ctx;
    cxb_task *t = item;
    if (!w) {
        t->started = cxb_now_mono();
        cxb_task_fail(t, CXB_KIND_INTERNAL, "out of memory starting a worker");
    } else if (cxb_pool_cancelled(j->pool) || atomic_load(&j->halted)) {
        t->started = cxb_now_mono();
        cxb_ledger_task_cancelled(j->ledger, t, 0);
    } else {
        cxb_worker_run(w, t);
    }
}

/* The work, with the queued / in-flight gauges around it (auxiliary fetches are not tasks). */
static void job_work_counted(void *ctx, void *w, void *item)
{
    cxb_job *j = ctx;
    const cxb_task *t = item;
    int counted = !t->fetch;
    if (counted)
        cxb_ledger_task_running(j->ledger, 1);
    job_work(ctx, w, item);
    if (counted)
        cxb_ledger_task_running(j->ledger, 0);
}

/* Counts a result before the owner can take it. */
static void job_done(void *ctx, void *item)
{
    cxb_job *j = ctx;
    cxb_task *t = item;
    if (t->started > 0)
        t->elapsed = cxb_now_mono() - t->started;
    cxb_ledger_count_result(j->ledger, t);
}

static void job_task_free(void *item)
{
    cxb_task_free(item);
}

static void job_free(void *ctx);

static const cxb_pool_ops job_pool_ops = {job_worker_new, job_worker_free, job_work_counted, job_done,
                                          job_task_free, job_free};

/* ---- lifetime ------------------------------------------------------------------------------ */

static void job_free_secret(const char *s)
{
    if (s) {
        memset((char *)s, 0, strlen(s));
        free((char *)s);
    }
}

static void job_free_config(cxb_config *c)
{
    free((char *)c->token_url);
    free((char *)c->client_id);
    job_free_secret(c->client_secret);
    free((char *)c->scope);
    free((char *)c->shared_limit);
    free((char *)c->shared_limit_fallback);
    free((char *)c->ca_file);
    free((char *)c->access_key_id);
    job_free_secret(c->access_key_secret);
    free((char *)c->issuer);
    free((char *)c->tenant_id);
    free((char *)c->api_base);
    free((char *)c->api_version);
}

/* Frees the job once its pool has no worker left (the pool's ctx_free). */
static void job_free(void *ctx)
{
    cxb_job *j = ctx;
    while (j->fetched_head) {
        cxb_task *t = j->fetched_head;
        j->fetched_head = t->next_fetched;
        cxb_task_free(t);
    }
    if (j->lim)
        cxb_limiter_free(j->lim);
    cxb_auth_free(j->auth);
    cxb_ledger_free(j->ledger);
    cxb_durable_free(j->durable);
    job_free_config(&j->cfg);
    free(j);
}

static const char *job_strdup(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

/* Copies cfg with owned strings; nonzero on allocation failure (the copies are then freed). */
static int job_copy_config(cxb_config *dst, const cxb_config *cfg)
{
    int bad = 0;
    *dst = *cfg;
    dst->token_url = job_strdup(cfg->token_url, &bad);
    dst->client_id = job_strdup(cfg->client_id, &bad);
    dst->client_secret = job_strdup(cfg->client_secret, &bad);
    dst->scope = job_strdup(cfg->scope, &bad);
    dst->shared_limit = job_strdup(cfg->shared_limit, &bad);
    dst->shared_limit_fallback = job_strdup(cfg->shared_limit_fallback, &bad);
    dst->ca_file = job_strdup(cfg->ca_file, &bad);
    dst->access_key_id = job_strdup(cfg->access_key_id, &bad);
    dst->access_key_secret = job_strdup(cfg->access_key_secret, &bad);
    dst->issuer = job_strdup(cfg->issuer, &bad);
    dst->tenant_id = job_strdup(cfg->tenant_id, &bad);
    dst->api_base = job_strdup(cfg->api_base, &bad);
    dst->api_version = job_strdup(cfg->api_version, &bad);
    if (bad)
        job_free_config(dst);
    return bad;
}

/* The limiter and the token source; nonzero with a message in err and its kind. */
static int job_open_sources(cxb_job *j, cxb_kind *kind, char *err, size_t errlen)
{
    const cxb_config *cfg = &j->cfg;
    cxb_limit_config lc = {cfg->rate, cfg->burst, cfg->shared_limit, cfg->shared_limit_timeout,
                           cfg->shared_limit_fallback, cfg->rate_auto, cfg->max_rate};
    j->lim = cxb_limiter_open(&lc, err, errlen);
    *kind = CXB_KIND_LIMITER;
    if (!j->lim)
        return -1;
    *kind = CXB_KIND_INTERNAL;
    cxb_auth_config ac = {cfg->token_url, cfg->client_id, cfg->client_secret, cfg->scope,
                          "contact:update", cfg->basic_auth, cfg->cxone, cfg->access_key_id,
                          cfg->access_key_secret, cfg->issuer, cfg->tenant_id, cfg->api_base};
    j->auth = cxb_auth_new(&ac, err, errlen);
    if (!j->auth) {
        cxb_limiter_free(j->lim);
        return -1;
    }
    cxb_limiter_set_notify(j->lim, job_limiter_note, j);
    return 0;
}

cxb_job *cxb_job_new(const cxb_config *cfg, cxb_kind *kind, char *err, size_t errlen)
{
    /* The caller (the Lua binding) fills every value from the option table: no default here. */
    *kind = CXB_KIND_OPTIONS;
    if (cfg->workers < 1 || cfg->queue_size < 1 || !cfg->api_version) {
        snprintf(err, errlen, "config: workers >= 1, queue_size >= 1 and api_version are required");
        return NULL;
    }
    *kind = CXB_KIND_INTERNAL;
    cxb_job *j = calloc(1, sizeof *j);
    if (!j || job_copy_config(&j->cfg, cfg) != 0) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&j->halted, 0);
    j->ledger = cxb_ledger_new(j->cfg.max_unreachable, job_cancel_hook, j);
    j->durable = cxb_durable_new();
    if (!j->ledger || !j->durable) {
        cxb_ledger_free(j->ledger);
        cxb_durable_free(j->durable);
        job_free_config(&j->cfg);
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (job_open_sources(j, kind, err, errlen) != 0) {
        cxb_ledger_free(j->ledger);
        cxb_durable_free(j->durable);
        job_free_config(&j->cfg);
        free(j);
        return NULL;
    }
    cxb_pool_config pc = {j->cfg.workers, cfg->queue_size + (size_t)j->cfg.workers, &job_pool_ops, j};
    j->pool = cxb_pool_new(&pc, err, errlen);
    if (j->pool) {
        cxb_worker_env env = {&j->cfg, j->lim, j->auth, cxb_pool_cancel_flag(j->pool), j->ledger, j->durable};
        j->env = env;
    }
    if (!j->pool) {
        job_free(j);
        return NULL;
    }
    *kind = CXB_KIND_INTERNAL;
    if (cxb_pool_start(j->pool, err, errlen) != 0) {
        cxb_pool_close(j->pool); /* joins the workers that started, then job_free */
        return NULL;
    }
    *kind = CXB_KIND_NONE;
    return j;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

int cxb_job_submit(cxb_job *j, cxb_task *t, const char *invalid_msg)
{
    if (!invalid_msg && !cxb_pool_cancelled(j->pool) && !atomic_load(&j->halted)) {
        /* Counted queued before a worker can take it (and count it running). */
        cxb_ledger_count_queued(j->ledger, 1);
        if (cxb_pool_submit(j->pool, t) != 0) {
            cxb_ledger_count_queued(j->ledger, -1);
            return -1;
        }
    } else {
        /* An invalid or late task is its own result at once, without a request. */
        if (!cxb_pool_has_slot(j->pool))
            return -1;
        t->started = cxb_now_mono();
        if (invalid_msg) {
            t->invalid = 1;
            cxb_task_fail(t, CXB_KIND_INPUT, invalid_msg);
        } else {
            cxb_ledger_task_cancelled(j->ledger, t, 0);
        }
        cxb_pool_submit_done(j->pool, t); /* cannot fail: only the owner takes slots */
    }
    cxb_ledger_count_taken(j->ledger);
    return 0;
}

int cxb_job_submit_fetch(cxb_job *j, cxb_task *t)
{
    t->fetch = 1;
    return cxb_pool_submit(j->pool, t);
}

void cxb_job_close_input(cxb_job *j)
{
    cxb_pool_close_input(j->pool);
}

int cxb_job_stopped(cxb_job *j)
{
    return cxb_pool_cancelled(j->pool) || atomic_load(&j->halted);
}

int cxb_job_has_slot(cxb_job *j)
{
    return cxb_pool_has_slot(j->pool);
}

int cxb_job_finished(cxb_job *j)
{
    return cxb_pool_finished(j->pool);
}

/* Fetches leave the pool's one result ring here, into the job's own list: the task results
 * the owner gets never carry one. */
size_t cxb_job_take(cxb_job *j, cxb_task **out, size_t max, double wait, int want_slot)
{
    size_t n = cxb_pool_take(j->pool, (void **)out, max, wait, want_slot), kept = 0;
    for (size_t i = 0; i < n; i++) {
        cxb_task *t = out[i];
        if (!t->fetch) {
            out[kept++] = t;
            continue;
        }
        t->next_fetched = NULL;
        if (j->fetched_tail)
            j->fetched_tail->next_fetched = t;
        else
            j->fetched_head = t;
        j->fetched_tail = t;
    }
    return kept;
}

size_t cxb_job_take_fetched(cxb_job *j, cxb_task **out, size_t max)
{
    size_t n = 0;
    while (n < max && j->fetched_head) {
        out[n++] = j->fetched_head;
        j->fetched_head = j->fetched_head->next_fetched;
    }
    if (!j->fetched_head)
        j->fetched_tail = NULL;
    return n;
}

size_t cxb_job_events(cxb_job *j, cxb_event *out, size_t max)
{
    return cxb_ledger_events(j->ledger, out, max);
}

void cxb_job_cancel(cxb_job *j)
{
    cxb_pool_cancel(j->pool);
}

void cxb_job_cancel_reason(cxb_job *j, const char *reason)
{
    cxb_ledger_cancel_reason(j->ledger, reason);
    cxb_job_cancel(j);
}

void cxb_job_halt(cxb_job *j, const char *reason)
{
    cxb_ledger_cancel_reason(j->ledger, reason);
    atomic_store(&j->halted, 1);
}

void cxb_job_counters(cxb_job *j, cxb_counters *out, cxb_kind *fatal_kind, char *fatal, size_t fatallen)
{
    cxb_ledger_snapshot(j->ledger, out, fatal_kind, fatal, fatallen);
}

void cxb_job_metrics(cxb_job *j, cxb_metrics *out)
{
    cxb_ledger_metrics(j->ledger, out);
}

cxb_limiter *cxb_job_limiter(cxb_job *j)
{
    return j->lim;
}

int cxb_job_attach_journal(cxb_job *j, int fd, char *err, size_t errlen)
{
    return cxb_durable_attach(j->durable, fd, err, errlen);
}

void cxb_job_intents_written(cxb_job *j, uint64_t index)
{
    cxb_durable_written(j->durable, index);
}

void cxb_job_close(cxb_job *j)
{
    cxb_pool_close(j->pool); /* joins every worker, then job_free */
}

void cxb_job_release(cxb_job *j)
{
    cxb_pool_release(j->pool); /* the last worker out calls job_free */
}
