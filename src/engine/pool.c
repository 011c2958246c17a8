#include "engine/pool.h"
#include "common/clock.h"
#include "engine/queue.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_CACHE_LINE 64

struct cxb_pool {
    cxb_pool_ops ops;
    void *ctx;
    pthread_mutex_t mu;       /* guards everything below but `cancel` */
    pthread_cond_t cv_work;   /* workers: an item arrived, input closed, or cancel */
    pthread_cond_t cv_owner;  /* owner: a result arrived or a worker exited */
    cxb_queue items;          /* submitted, not yet picked up by a worker */
    void **results;           /* FIFO ring of finished items, capacity = max_outstanding */
    size_t res_cap, res_head, res_len;
    /* Submitted and not yet taken by the owner. Changed under mu, by the owner only; atomic so
     * that cxb_pool_has_slot, asked before every task is built, reads it without the lock. */
    atomic_size_t outstanding;
    size_t max_outstanding;
    int input_closed;
    int owner_waiting;
    double last_wake;         /* when a worker last woke the owner (coalescing) */
    pthread_t *threads;
    int workers;              /* threads wanted: fixed, read by the wake-up rule */
    int nthreads;             /* threads started (owner only) */
    int refs;                 /* owner + live workers; the last one out frees the pool */
    /* Read by every transfer's progress callback, several times a request; written once. On a
     * cache line of its own: beside the fields above, which every push and take writes, each
     * read missed the cache (1 % of the client's CPU at 35,000 requests/s). */
    alignas(POOL_CACHE_LINE) atomic_int cancel; /* last: sizeof rounds up to the line */
};

/* Waking the owner for every result would cost a context switch per item at high rates.
 * Wake it when the workers are about to run dry (it must refill), when results pile up, or
 * when the last wake is 5 ms old, so a result never waits longer than that. */
#define POOL_WAKE_COALESCE 0.005

static int pool_owner_needs_wake(const cxb_pool *p)
{
    return cxb_queue_len(&p->items) < (size_t)p->workers || p->res_len >= p->max_outstanding / 2 ||
           cxb_now_mono() - p->last_wake >= POOL_WAKE_COALESCE;
}

/* Calls ops->done (unlocked), then appends to the results ring; a slot was reserved at submit. */
static void pool_push_result(cxb_pool *p, void *item)
{
    if (p->ops.done)
        p->ops.done(p->ctx, item);
    pthread_mutex_lock(&p->mu);
    p->results[(p->res_head + p->res_len) % p->res_cap] = item;
    p->res_len++;
    if (p->owner_waiting && pool_owner_needs_wake(p)) {
        p->last_wake = cxb_now_mono();
        pthread_cond_signal(&p->cv_owner);
    }
    pthread_mutex_unlock(&p->mu);
}

static void pool_free(cxb_pool *p)
{
    void *item;
    while ((item = cxb_queue_pop(&p->items)))
        p->ops.item_free(item);
    for (size_t i = 0; i < p->res_len; i++)
        p->ops.item_free(p->results[(p->res_head + i) % p->res_cap]);
    if (p->ops.ctx_free)
        p->ops.ctx_free(p->ctx);
    free(p->results);
    cxb_queue_destroy(&p->items);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_owner);
    free(p->threads);
    free(p);
}

/* Drops one reference; the last one frees the pool. */
static void pool_unref(cxb_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int last = --p->refs == 0;
    pthread_cond_broadcast(&p->cv_owner);
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_free(p);
}

static void *pool_worker_main(void *arg)
{
    cxb_pool *p = arg;
    void *w = p->ops.worker_new ? p->ops.worker_new(p->ctx) : NULL;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (cxb_queue_len(&p->items) == 0 && !p->input_closed && !atomic_load(&p->cancel))
            pthread_cond_wait(&p->cv_work, &p->mu);
        void *item = cxb_queue_pop(&p->items);
        pthread_mutex_unlock(&p->mu);
        if (!item)
            break;
        p->ops.work(p->ctx, w, item);
        pool_push_result(p, item);
    }
    if (p->ops.worker_free)
        p->ops.worker_free(p->ctx, w);
    pool_unref(p); /* frees the pool when the owner released it without joining */
    return NULL;
}

/* Allocations and synchronisation objects; nonzero on failure (p is then freed). */
static int pool_init(cxb_pool *p, const cxb_pool_config *cfg)
{
    p->ops = *cfg->ops;
    p->ctx = cfg->ctx;
    p->max_outstanding = p->res_cap = cfg->capacity ? cfg->capacity : 1;
    p->results = calloc(p->res_cap, sizeof *p->results);
    p->workers = cfg->threads > 0 ? cfg->threads : 1;
    p->threads = calloc((size_t)p->workers, sizeof *p->threads);
    if (!p->results || !p->threads || cxb_queue_init(&p->items, p->max_outstanding) != 0) {
        free(p->results);
        free(p->threads);
        cxb_queue_destroy(&p->items);
        free(p);
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, &ca);
    pthread_cond_init(&p->cv_owner, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->cancel, 0);
    atomic_init(&p->outstanding, 0);
    p->refs = 1;
    return 0;
}

cxb_pool *cxb_pool_new(const cxb_pool_config *cfg, char *err, size_t errlen)
{
    /* aligned: the cancel flag's cache line must be one (sizeof is a multiple of it) */
    cxb_pool *p = aligned_alloc(POOL_CACHE_LINE, sizeof *p);
    if (p)
        memset(p, 0, sizeof *p);
    if (!p || pool_init(p, cfg) != 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return p;
}

int cxb_pool_start(cxb_pool *p, char *err, size_t errlen)
{
    /* Workers block every signal: the host (lua, nginx) keeps signal handling on its thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < p->workers && rc == 0; i++) {
        pthread_mutex_lock(&p->mu);
        p->refs++;
        pthread_mutex_unlock(&p->mu);
        rc = pthread_create(&p->threads[i], NULL, pool_worker_main, p);
        if (rc == 0) {
            p->nthreads = i + 1;
            continue;
        }
        pthread_mutex_lock(&p->mu);
        p->refs--;
        pthread_mutex_unlock(&p->mu);
        snprintf(err, errlen, "could not start worker thread %d of %d: %s", i + 1, p->workers, strerror(rc));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc ? -1 : 0;
}

/* Reserves a slot for one more outstanding item (p->mu held); 0, or -1 when full. */
static int pool_reserve_locked(cxb_pool *p)
{
    if (atomic_load_explicit(&p->outstanding, memory_order_relaxed) >= p->max_outstanding)
        return -1;
    atomic_fetch_add_explicit(&p->outstanding, 1, memory_order_relaxed);
    return 0;
}

int cxb_pool_submit(cxb_pool *p, void *item)
{
    pthread_mutex_lock(&p->mu);
    int rc = pool_reserve_locked(p);
    if (rc == 0) {
        cxb_queue_push(&p->items, item); /* has room: queue capacity == max_outstanding */
        pthread_cond_signal(&p->cv_work);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int cxb_pool_submit_done(cxb_pool *p, void *item)
{
    pthread_mutex_lock(&p->mu);
    int rc = pool_reserve_locked(p);
    pthread_mutex_unlock(&p->mu);
    if (rc == 0)
        pool_push_result(p, item);
    return rc;
}

void cxb_pool_close_input(cxb_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->input_closed = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
}

int cxb_pool_has_slot(cxb_pool *p)
{
    return atomic_load_explicit(&p->outstanding, memory_order_relaxed) < p->max_outstanding;
}

int cxb_pool_finished(cxb_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int r = p->input_closed && atomic_load_explicit(&p->outstanding, memory_order_relaxed) == 0;
    pthread_mutex_unlock(&p->mu);
    return r;
}

/* Waits (p->mu held) until a result is ready, nothing is outstanding, or `wait` seconds passed
 * (any wait >= 0, math.huge included: cxb_deadline_ts clamps it). A worker skips the wake-up for
 * a result pushed within POOL_WAKE_COALESCE of the last one, so the owner first sleeps only until
 * that window closes and looks; after it, every push signals, so a long wait cannot miss one. */
static void pool_wait_results(cxb_pool *p, double wait)
{
    struct timespec dl = cxb_deadline_ts(wait);
    double window = p->last_wake + POOL_WAKE_COALESCE - cxb_now_mono();
    p->owner_waiting = 1;
    while (p->res_len == 0 && atomic_load_explicit(&p->outstanding, memory_order_relaxed) > 0) {
        int rc;
        if (window > 0 && window < wait) {
            struct timespec w = cxb_deadline_ts(window + 0.001);
            window = 0;
            rc = pthread_cond_timedwait(&p->cv_owner, &p->mu, &w);
            if (rc == ETIMEDOUT)
                continue;
        } else {
            rc = pthread_cond_timedwait(&p->cv_owner, &p->mu, &dl);
        }
        if (rc != 0)
            break; /* ETIMEDOUT, or EINVAL: never spin holding the mutex */
    }
    p->owner_waiting = 0;
}

size_t cxb_pool_take(cxb_pool *p, void **out, size_t max, double wait, int want_slot)
{
    pthread_mutex_lock(&p->mu);
    if (p->res_len == 0 && wait > 0 && !(want_slot && cxb_pool_has_slot(p)))
        pool_wait_results(p, wait);
    size_t n = 0;
    while (n < max && p->res_len > 0) {
        out[n++] = p->results[p->res_head];
        p->res_head = (p->res_head + 1) % p->res_cap;
        p->res_len--;
    }
    atomic_fetch_sub_explicit(&p->outstanding, n, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    return n;
}

void cxb_pool_cancel(cxb_pool *p)
{
    atomic_store(&p->cancel, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
}

int cxb_pool_cancelled(const cxb_pool *p)
{
    return atomic_load(&p->cancel);
}

const atomic_int *cxb_pool_cancel_flag(const cxb_pool *p)
{
    return &p->cancel;
}

void cxb_pool_close(cxb_pool *p)
{
    cxb_pool_cancel(p);
    cxb_pool_close_input(p);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pool_unref(p);
}

void cxb_pool_release(cxb_pool *p)
{
    cxb_pool_cancel(p);
    cxb_pool_close_input(p);
    for (int i = 0; i < p->nthreads; i++)
        pthread_detach(p->threads[i]);
    pool_unref(p);
}
