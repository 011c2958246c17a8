/* A crowd of threads hammering one limiter, recording when each grant was scheduled and
 * returned (header-only, shared by the limiter tests). */
#ifndef CXB_TEST_CROWD_H
#define CXB_TEST_CROWD_H
#include "grants.h"

#include "common/clock.h"
#include "limiter/limiter_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRANTS 4096

/* One hammering thread's record of its grants. */
struct hammer {
    cxb_limiter *l;
    const atomic_int *stop;
    pthread_barrier_t *start;
    double sched[MAX_GRANTS]; /* the instant each grant was scheduled for */
    double ret[MAX_GRANTS];   /* the instant acquire returned it */
    size_t n;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    pthread_barrier_wait(h->start);
    while (h->n < MAX_GRANTS) {
        double s;
        if (cxb_limiter_acquire_at(h->l, h->stop, &s) != 0) break;
        h->ret[h->n] = cxb_now_mono();
        h->sched[h->n] = s;
        h->n++;
    }
    return NULL;
}

/* A group of hammering threads and their merged, sorted grant instants. */
struct crowd {
    size_t nthreads;
    struct hammer *h;
    pthread_t *tid;
    pthread_barrier_t start;
    atomic_int stop;
    double *sched, *ret;
    size_t n;
};

static int crowd_start(struct crowd *c, cxb_limiter *l, size_t nthreads)
{
    memset(c, 0, sizeof *c);
    c->nthreads = nthreads;
    c->h = calloc(nthreads, sizeof *c->h);
    c->tid = calloc(nthreads, sizeof *c->tid);
    if (!c->h || !c->tid) return -1;
    atomic_init(&c->stop, 0);
    pthread_barrier_init(&c->start, NULL, (unsigned)nthreads + 1);
    for (size_t i = 0; i < nthreads; i++) {
        c->h[i].l = l;
        c->h[i].stop = &c->stop;
        c->h[i].start = &c->start;
        if (pthread_create(&c->tid[i], NULL, hammer_main, &c->h[i]) != 0) abort();
    }
    pthread_barrier_wait(&c->start);
    return 0;
}

/* Stops and joins every thread, then merges and sorts their records. */
static int crowd_finish(struct crowd *c)
{
    atomic_store(&c->stop, 1);
    size_t total = 0;
    for (size_t i = 0; i < c->nthreads; i++) {
        pthread_join(c->tid[i], NULL);
        total += c->h[i].n;
    }
    pthread_barrier_destroy(&c->start);
    c->sched = malloc((total + 1) * sizeof *c->sched);
    c->ret = malloc((total + 1) * sizeof *c->ret);
    if (!c->sched || !c->ret) return -1;
    for (size_t i = 0; i < c->nthreads; i++) {
        memcpy(c->sched + c->n, c->h[i].sched, c->h[i].n * sizeof(double));
        memcpy(c->ret + c->n, c->h[i].ret, c->h[i].n * sizeof(double));
        c->n += c->h[i].n;
    }
    grants_sort(c->sched, c->n);
    grants_sort(c->ret, c->n);
    return 0;
}

static void crowd_free(struct crowd *c)
{
    free(c->h);
    free(c->tid);
    free(c->sched);
    free(c->ret);
}
#endif
