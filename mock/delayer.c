#include "delayer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

struct pending {
    uint64_t due_ns;
    struct MHD_Connection *conn;
};

struct delayer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pending *heap; /* binary min-heap on due_ns */
    size_t n, cap;
    bool stopping;
    bool joined;
    void (*tick)(void *);
    void *tick_arg;
};

static void heap_swap(struct pending *a, struct pending *b)
{
    struct pending t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(struct delayer *d, struct pending p)
{
    size_t i = d->n++;
    d->heap[i] = p;
    while (i > 0 && d->heap[(i - 1) / 2].due_ns > d->heap[i].due_ns) {
        heap_swap(&d->heap[(i - 1) / 2], &d->heap[i]);
        i = (i - 1) / 2;
    }
}

static struct pending heap_pop(struct delayer *d)
{
    struct pending top = d->heap[0];
    d->heap[0] = d->heap[--d->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && d->heap[l].due_ns < d->heap[m].due_ns)
            m = l;
        if (r < d->n && d->heap[r].due_ns < d->heap[m].due_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(&d->heap[i], &d->heap[m]);
        i = m;
    }
    return top;
}

static struct timespec abs_mono(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
}

static void *run(void *arg)
{
    struct delayer *d = arg;
    uint64_t next_tick = mono_ns() + 1000000000u;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        uint64_t now = mono_ns();
        if (d->n > 0 && d->heap[0].due_ns <= now) {
            struct pending p = heap_pop(d);
            /* Resume outside the lock: MHD takes its own locks. */
            pthread_mutex_unlock(&d->mu);
            MHD_resume_connection(p.conn);
            pthread_mutex_lock(&d->mu);
            continue;
        }
        if (now >= next_tick) {
            pthread_mutex_unlock(&d->mu);
            d->tick(d->tick_arg);
            pthread_mutex_lock(&d->mu);
            next_tick = now + 1000000000u;
            continue;
        }
        uint64_t wake = next_tick;
        if (d->n > 0 && d->heap[0].due_ns < wake)
            wake = d->heap[0].due_ns;
        struct timespec ts = abs_mono(wake);
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    /* Shutting down: answer everything that is still waiting, now. */
    while (d->n > 0) {
        struct pending p = heap_pop(d);
        pthread_mutex_unlock(&d->mu);
        MHD_resume_connection(p.conn);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

struct delayer *delayer_start(void (*tick)(void *), void *tick_arg)
{
    struct delayer *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->tick = tick;
    d->tick_arg = tick_arg;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

int delayer_add(struct delayer *d, uint64_t due_ns, struct MHD_Connection *c)
{
    int rc = 0;
    pthread_mutex_lock(&d->mu);
    if (d->stopping) {
        rc = -1;
    } else {
        if (d->n == d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 64;
            struct pending *h = realloc(d->heap, ncap * sizeof *h);
            if (h) {
                d->heap = h;
                d->cap = ncap;
            }
        }
        if (d->n < d->cap) {
            heap_push(d, (struct pending){due_ns, c});
            pthread_cond_signal(&d->cv);
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void delayer_halt(struct delayer *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    bool joined = d->joined;
    d->stopping = true;
    d->joined = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (!joined)
        pthread_join(d->thread, NULL);
}

void delayer_free(struct delayer *d)
{
    if (!d)
        return;
    delayer_halt(d);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->heap);
    free(d);
}
