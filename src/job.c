/* The job: config, counters, events and the batch's fatal state, glued to a pool whose workers
 * run the request policy (attempt.c). Lock rule: j->mu is never held while calling into the
 * pool, and the pool calls back into the job without its own lock held. */
#include "job.h"
#include "attempt.h"
#include "clock.h"
#include "job_internal.h"
#include "pool.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cxb_job {
    cxb_config cfg;           /* owned copies of the strings (job_free_config) */
    pthread_mutex_t mu;       /* guards everything below */
    cxb_event events[CXB_EVENTS_CAP];
    size_t ev_head, ev_len;
    int fatal;
    char fatal_msg[512];
    char cancel_reason[160];  /* why the owner cancelled (e.g. "deadline of 30 s passed") */
    int unreachable;          /* consecutive attempts with no HTTP answer */
    cxb_counters c;
    /* Fixed once the pool has started: */
    cxb_limiter *lim;
    cxb_auth *auth;
    cxb_pool *pool;
};

/* ---- for the request policy (job_internal.h) ----------------------------------------------- */

const cxb_config *cxb_job_config(const cxb_job *j) { return &j->cfg; }
cxb_limiter *cxb_job_limiter(cxb_job *j) { return j->lim; }
cxb_auth *cxb_job_auth(cxb_job *j) { return j->auth; }
const atomic_int *cxb_job_cancel_flag(const cxb_job *j) { return cxb_pool_cancel_flag(j->pool); }

void cxb_job_event(cxb_job *j, cxb_event_type type, const cxb_task *t, int attempt, long status,
                   double delay, const char *error)
{
    pthread_mutex_lock(&j->mu);
    if (j->ev_len == CXB_EVENTS_CAP) { /* the owner is not draining: drop the oldest */
        j->ev_head = (j->ev_head + 1) % CXB_EVENTS_CAP;
        j->ev_len--;
        j->c.events_dropped++;
    }
    cxb_event *e = &j->events[(j->ev_head + j->ev_len) % CXB_EVENTS_CAP];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->index = t ? t->index : 0;
    e->attempt = attempt;
    e->status = status;
    e->delay = delay;
    if (t)
        snprintf(e->contact_id, sizeof e->contact_id, "%s", t->contact_id);
    if (error)
        snprintf(e->error, sizeof e->error, "%s", error);
    j->ev_len++;
    switch (type) {
    case CXB_EV_RETRY: j->c.retried++; break;
    case CXB_EV_PAUSE: j->c.pauses++; j->c.pause_seconds += delay; break;
    case CXB_EV_TOKEN: j->c.token_refreshes++; break;
    case CXB_EV_REAUTH: j->c.reauths++; break;
    case CXB_EV_LIMITER: break;
    }
    pthread_mutex_unlock(&j->mu);
}

void cxb_job_count_response(cxb_job *j, long status, int transport_error)
{
    pthread_mutex_lock(&j->mu);
    j->c.requests++;
    if (transport_error)
        j->c.transport_errors++;
    if (status > 0 && status < 600)
        j->c.by_status[status]++;
    if (status == 429)
        j->c.http_429++;
    if (status >= 500 && status < 600)
        j->c.http_5xx++;
    pthread_mutex_unlock(&j->mu);
}

void cxb_job_set_fatal(cxb_job *j, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (!j->fatal) {
        j->fatal = 1;
        snprintf(j->fatal_msg, sizeof j->fatal_msg, "%s", msg);
    }
    pthread_mutex_unlock(&j->mu);
    cxb_pool_cancel(j->pool);
}

/* Fail fast when the API cannot be reached: past cfg.max_unreachable consecutive attempts that
 * got no answer (DNS, refused, TLS, connect timeout, token endpoint down) the whole batch fails
 * at once instead of every row failing on its own after its retries. */
void cxb_job_note_reach(cxb_job *j, int answered, int tls, const char *last)
{
    int max = j->cfg.max_unreachable, n;
    pthread_mutex_lock(&j->mu);
    n = j->unreachable = answered ? 0 : j->unreachable + 1;
    pthread_mutex_unlock(&j->mu);
    if (answered || max <= 0 || n < max)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "could not reach the API%s: %d consecutive attempts got no answer "
             "(option 'max_unreachable' = %d); last: %.300s", tls ? " (TLS failure)" : "", n, max, last);
    cxb_job_set_fatal(j, msg);
}

void cxb_job_task_cancelled(cxb_job *j, cxb_task *t, int in_flight)
{
    char msg[512], why[168];
    pthread_mutex_lock(&j->mu);
    int fatal = j->fatal;
    snprintf(msg, sizeof msg, "%s", j->fatal_msg);
    snprintf(why, sizeof why, "%s%s", j->cancel_reason, j->cancel_reason[0] ? ": " : "");
    pthread_mutex_unlock(&j->mu);
    cxb_task_cancelled(t, fatal ? msg : NULL, why, in_flight);
}

/* The limiter's notes become events (a pause another process set, a reset state, an
 * unreachable store); a limiter that gives up fails the batch. */
static void job_limiter_note(void *arg, const cxb_limiter_note *n)
{
    cxb_job *j = arg;
    if (n->kind == CXB_LIM_NOTE_FATAL)
        cxb_job_set_fatal(j, n->msg);
    else
        cxb_job_event(j, n->kind == CXB_LIM_NOTE_PAUSE ? CXB_EV_PAUSE : CXB_EV_LIMITER, NULL, 0, 0,
                      n->wait, n->msg);
}

/* ---- the pool's callbacks ------------------------------------------------------------------ */

static void *job_worker_new(void *ctx)
{
    return cxb_worker_new(ctx);
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
        cxb_task_set_error(t, "out of memory starting a worker");
    } else if (cxb_pool_cancelled(j->pool)) {
        t->started = cxb_now_mono();
        cxb_job_task_cancelled(j, t, 0);
    } else {
        cxb_worker_run(w, t);
    }
}

/* Counts a result before the owner can take it. */
static void job_done(void *ctx, void *item)
{
    cxb_job *j = ctx;
    cxb_task *t = item;
    if (t->started > 0)
        t->elapsed = cxb_now_mono() - t->started;
    pthread_mutex_lock(&j->mu);
    if (t->fetch)
        ; /* auxiliary request: not a task of the batch */
    else if (t->ok)
        j->c.succeeded++;
    else
        j->c.failed++;
    j->c.replayed += t->replayed != 0;
    j->c.invalid += t->invalid != 0;
    j->c.cancelled += t->cancelled != 0;
    j->c.skipped += t->skipped != 0;
    pthread_mutex_unlock(&j->mu);
}

static void job_task_free(void *item)
{
    cxb_task_free(item);
}

static void job_free(void *ctx);

static const cxb_pool_ops job_pool_ops = {job_worker_new, job_worker_free, job_work, job_done,
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
    if (j->lim)
        cxb_limiter_free(j->lim);
    cxb_auth_free(j->auth);
    pthread_mutex_destroy(&j->mu);
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

/* The limiter and the token source; nonzero with a message in err. */
static int job_open_sources(cxb_job *j, char *err, size_t errlen)
{
    const cxb_config *cfg = &j->cfg;
    cxb_limit_config lc = {cfg->rate, cfg->burst, cfg->shared_limit, cfg->shared_limit_timeout,
                           cfg->shared_limit_fallback};
    j->lim = cxb_limiter_open(&lc, err, errlen);
    if (!j->lim)
        return -1;
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

cxb_job *cxb_job_new(const cxb_config *cfg, char *err, size_t errlen)
{
    /* The caller (the Lua binding) fills every value from the option table: no default here. */
    if (cfg->workers < 1 || cfg->queue_size < 1 || !cfg->api_version) {
        snprintf(err, errlen, "config: workers >= 1, queue_size >= 1 and api_version are required");
        return NULL;
    }
    cxb_job *j = calloc(1, sizeof *j);
    if (!j || job_copy_config(&j->cfg, cfg) != 0) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (job_open_sources(j, err, errlen) != 0) {
        job_free_config(&j->cfg);
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    cxb_pool_config pc = {j->cfg.workers, cfg->queue_size + (size_t)j->cfg.workers, &job_pool_ops, j};
    j->pool = cxb_pool_new(&pc, err, errlen);
    if (!j->pool) {
        job_free(j);
        return NULL;
    }
    if (cxb_pool_start(j->pool, err, errlen) != 0) {
        cxb_pool_close(j->pool); /* joins the workers that started, then job_free */
        return NULL;
    }
    return j;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

int cxb_job_submit(cxb_job *j, cxb_task *t, const char *invalid_msg)
{
    if (!invalid_msg && !cxb_pool_cancelled(j->pool)) {
        if (cxb_pool_submit(j->pool, t) != 0)
            return -1;
    } else {
        /* An invalid or late task is its own result at once, without a request. */
        if (!cxb_pool_has_slot(j->pool))
            return -1;
        t->started = cxb_now_mono();
        if (invalid_msg) {
            t->invalid = 1;
            cxb_task_set_error(t, "%s", invalid_msg);
        } else {
            cxb_job_task_cancelled(j, t, 0);
        }
        cxb_pool_submit_done(j->pool, t); /* cannot fail: only the owner takes slots */
    }
    pthread_mutex_lock(&j->mu);
    j->c.total++;
    pthread_mutex_unlock(&j->mu);
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

int cxb_job_has_slot(cxb_job *j)
{
    return cxb_pool_has_slot(j->pool);
}

int cxb_job_finished(cxb_job *j)
{
    return cxb_pool_finished(j->pool);
}

size_t cxb_job_take(cxb_job *j, cxb_task **out, size_t max, double wait, int want_slot)
{
    return cxb_pool_take(j->pool, (void **)out, max, wait, want_slot);
}

size_t cxb_job_events(cxb_job *j, cxb_event *out, size_t max)
{
    pthread_mutex_lock(&j->mu);
    size_t n = 0;
    while (n < max && j->ev_len > 0) {
        out[n++] = j->events[j->ev_head];
        j->ev_head = (j->ev_head + 1) % CXB_EVENTS_CAP;
        j->ev_len--;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

void cxb_job_cancel(cxb_job *j)
{
    cxb_pool_cancel(j->pool);
}

void cxb_job_cancel_reason(cxb_job *j, const char *reason)
{
    pthread_mutex_lock(&j->mu);
    if (!j->cancel_reason[0] && reason)
        snprintf(j->cancel_reason, sizeof j->cancel_reason, "%s", reason);
    pthread_mutex_unlock(&j->mu);
    cxb_job_cancel(j);
}

void cxb_job_counters(cxb_job *j, cxb_counters *out, char *fatal, size_t fatallen)
{
    pthread_mutex_lock(&j->mu);
    *out = j->c;
    if (fatal && fatallen)
        snprintf(fatal, fatallen, "%s", j->fatal ? j->fatal_msg : "");
    pthread_mutex_unlock(&j->mu);
}

void cxb_job_close(cxb_job *j)
{
    cxb_pool_close(j->pool); /* joins every worker, then job_free */
}

void cxb_job_release(cxb_job *j)
{
    cxb_pool_release(j->pool); /* the last worker out calls job_free */
}
