/* A pool of worker threads that knows nothing of the work (libuv's threadpool is the model):
 * the owner submits opaque items into a bounded queue, a worker pops one and calls
 * ops->work(ctx, worker_state, item), and the item comes back to the owner through a results
 * ring. Owner wake-ups are coalesced; the pool owns a cancel flag the work may poll.
 *
 * Rules that hold:
 * - Every submitted item comes back exactly once through cxb_pool_take, or is freed with
 *   ops->item_free when the pool is freed with it still inside.
 * - At most `capacity` items are outstanding (submitted and not yet taken): a worker can always
 *   push its result without waiting.
 * - Callbacks run without the pool's mutex held, so they may take their own locks and may call
 *   cxb_pool_cancel; they must never call the other cxb_pool_* functions. */
#ifndef CXB_POOL_H
#define CXB_POOL_H
#include <stdatomic.h>
#include <stddef.h>

typedef struct cxb_pool cxb_pool;

typedef struct cxb_pool_ops {
    /* Per-worker state, created on the worker's thread before its first item; NULL is allowed
     * (work is then called with NULL and must answer the item itself). */
    void *(*worker_new)(void *ctx);
    void (*worker_free)(void *ctx, void *wstate);
    /* Runs one item; it is a result when this returns. */
    void (*work)(void *ctx, void *wstate, void *item);
    /* Called for every result just before the owner can see it (also for cxb_pool_submit_done). */
    void (*done)(void *ctx, void *item);
    void (*item_free)(void *item);
    /* Called once when the pool is freed (after the last worker exited): frees ctx. */
    void (*ctx_free)(void *ctx);
} cxb_pool_ops;

typedef struct cxb_pool_config {
    int threads;
    size_t capacity;   /* most items outstanding (queued, running, or results not yet taken) */
    const cxb_pool_ops *ops;
    void *ctx;
} cxb_pool_config;

/* A pool with no thread yet (NULL with a message in err; ctx is then not freed). */
cxb_pool *cxb_pool_new(const cxb_pool_config *cfg, char *err, size_t errlen);

/* Starts the threads (every signal blocked in them): separate from cxb_pool_new so that ctx can
 * hold the pool before any callback runs. -1 with a message in err when one could not start;
 * the owner then calls cxb_pool_close (which joins those that did and frees ctx). */
int cxb_pool_start(cxb_pool *p, char *err, size_t errlen);

/* Non-blocking: queues the item (the pool owns it until taken) or returns -1 when full. */
int cxb_pool_submit(cxb_pool *p, void *item);
/* Like submit, but the item is already a result (ops->done is called, no worker runs it). */
int cxb_pool_submit_done(cxb_pool *p, void *item);

/* No more items will be submitted: idle workers exit once the queue is empty. */
void cxb_pool_close_input(cxb_pool *p);

/* Takes up to max results; waits up to `wait` seconds for one (not when want_slot and a slot is
 * free). Returns the count. */
size_t cxb_pool_take(cxb_pool *p, void **out, size_t max, double wait, int want_slot);

int cxb_pool_has_slot(cxb_pool *p);
/* 1 when input is closed and every submitted item has been taken. */
int cxb_pool_finished(cxb_pool *p);

/* Sets the cancel flag and wakes idle workers; the queued items still go through ops->work,
 * which sees the flag. Returns at once. */
void cxb_pool_cancel(cxb_pool *p);
int cxb_pool_cancelled(const cxb_pool *p);
/* The flag itself, for work that polls it while it blocks. */
const atomic_int *cxb_pool_cancel_flag(const cxb_pool *p);

/* Cancels, closes input, joins every worker, frees the pool and (ops->ctx_free) its ctx. */
void cxb_pool_close(cxb_pool *p);
/* Cancels, closes input and drops the owner's reference without waiting: the last worker out
 * frees the pool and its ctx. For __gc inside event loops that must never block. */
void cxb_pool_release(cxb_pool *p);
#endif
