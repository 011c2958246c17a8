/* Unit tests for the process-local limiter (src/limiter/limiter.c). */
#include "check.h"
#include "crowd.h"

#include "common/clock.h"
#include "limiter/limiter_impl.h"
#include "limiter_try.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void test_bad_params(void)
{
    char err[128];
    struct { double rate, burst; const char *msg; } bad[] = {
        { 50, 0.5, "burst must be >= 1 (got 0.5)" },
        { 50, 0, "burst must be >= 1 (got 0)" },
        { 50, -3, "burst must be >= 1 (got -3)" },
        { 50, NAN, "burst must be >= 1 (got nan)" },
        { 50, INFINITY, "burst must be >= 1 (got inf)" },
        { 0, 10, "rate must be a finite number > 0 per second (got 0)" },
        { -1, 10, "rate must be a finite number > 0 per second (got -1)" },
        { NAN, 10, "rate must be a finite number > 0 per second (got nan)" },
        { INFINITY, 10, "rate must be a finite number > 0 per second (got inf)" },
        { 1e-9, 10, "rate must be >= 1e-06 per second (got 1e-09)" },
        { 1e-3, 1e12, "burst is too large for this rate (got 1e+12)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strcpy(err, "untouched");
        cxb_limiter *l = cxb_limiter_new(bad[i].rate, bad[i].burst, err, sizeof err);
        CHECK(l == NULL, "rate %g burst %g accepted", bad[i].rate, bad[i].burst);
        cxb_limiter_free(l);
        CHECK_STR(err, bad[i].msg);
    }
    /* A NULL err buffer must be tolerated. */
    CHECK(cxb_limiter_new(50, 0.5, NULL, 0) == NULL, "burst 0.5 accepted without err buffer");
    cxb_limiter *ok = cxb_limiter_new(50, 1, err, sizeof err);
    CHECK(ok != NULL, "rate 50 burst 1 rejected: %s", err);
    cxb_limiter_free(ok);
    cxb_limiter_free(NULL);
}

/* Many threads hammer one limiter: no window may hold more than burst + rate * window grants
 * and the sustained rate must match the configured one. */
static void test_bound_under_contention(void)
{
    const double rate = 200, burst = 10, run = 1.5;
    char err[128];
    cxb_limiter *l = cxb_limiter_new(rate, burst, err, sizeof err);
    CHECK(l != NULL, "new: %s", err);
    if (!l) return;
    struct crowd c;
    if (crowd_start(&c, l, 8) != 0) abort();
    sleep_s(run);
    if (crowd_finish(&c) != 0) abort();

    CHECK(c.n > burst + rate * run * 0.9, "only %zu grants in %.1f s", c.n, run);
    const double windows[] = { 0, 0.001, 0.005, 0.0123, 0.05, 0.1, 0.25, 0.5, 1.0, 1.4 };
    double late = 0; /* worst wake-up latency, measured per grant */
    for (size_t t = 0; t < c.nthreads; t++)
        for (size_t i = 0; i < c.h[t].n; i++)
            if (c.h[t].ret[i] - c.h[t].sched[i] > late) late = c.h[t].ret[i] - c.h[t].sched[i];
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
        size_t got = grants_max_in_window(c.sched, c.n, windows[w]);
        size_t lim = grants_bound(rate, burst, windows[w]);
        CHECK(got <= lim, "%zu grants scheduled within %.4f s, bound %zu", got, windows[w], lim);
        /* Returns can bunch up by at most the observed lateness. */
        got = grants_max_in_window(c.ret, c.n, windows[w]);
        lim = grants_bound(rate, burst, windows[w] + late);
        CHECK(got <= lim, "%zu grants returned within %.4f s, bound %zu (lateness %.4f s)", got,
              windows[w], lim, late);
    }
    /* The first `burst` grants come at once; after that tokens arrive at `rate`. */
    double achieved = (double)(c.n - (size_t)burst) / (c.sched[c.n - 1] - c.sched[0]);
    CHECK(fabs(achieved - rate) <= 0.02 * rate, "scheduled rate %.2f/s, configured %.0f/s",
          achieved, rate);
    /* Returns follow the schedule: their span differs from the scheduled one by at most the
     * measured lateness, so the observed rate is bounded accordingly (plus the same 2 %). */
    double span = c.sched[c.n - 1] - c.sched[0], ret_span = c.ret[c.n - 1] - c.ret[0];
    double observed = (double)(c.n - (size_t)burst) / ret_span;
    double lo = (double)(c.n - (size_t)burst) / (span + late) * 0.98;
    double hi = (double)(c.n - (size_t)burst) / (span - late) * 1.02;
    CHECK(observed >= lo && observed <= hi, "observed rate %.2f/s outside [%.2f, %.2f]", observed,
          lo, hi);
    printf("bound: %zu grants, scheduled %.2f/s, observed %.2f/s, worst lateness %.2f ms\n", c.n,
           achieved, observed, late * 1e3);
    crowd_free(&c);
    cxb_limiter_free(l);
}

struct waiter {
    cxb_limiter *l;
    atomic_int cancel;
    int rc;
    double returned;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->rc = cxb_limiter_acquire(w->l, &w->cancel);
    w->returned = cxb_now_mono();
    return NULL;
}

/* Starts a waiter, cancels it after `after` seconds and returns how long it took to notice. */
static double cancel_latency(cxb_limiter *l, double after, int *rc)
{
    struct waiter w = { .l = l, .rc = -1 };
    atomic_init(&w.cancel, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, waiter_main, &w) != 0) abort();
    sleep_s(after);
    double set = cxb_now_mono();
    atomic_store(&w.cancel, 1);
    pthread_join(t, NULL);
    *rc = w.rc;
    return w.returned - set;
}

static void test_cancel(void)
{
    char err[128];
    cxb_limiter *l = cxb_limiter_new(1, 1, err, sizeof err);
    CHECK(l != NULL, "new: %s", err);
    if (!l) return;
    CHECK(cxb_limiter_acquire(l, NULL) == 0, "first token not granted");
    int rc;
    double lat = cancel_latency(l, 0.2, &rc); /* the next token is ~1 s away */
    CHECK(rc == 1, "cancelled waiter returned %d", rc);
    CHECK(lat < 0.1, "cancellation noticed after %.3f s", lat);

    /* Waiting out a long pause is cancellable too. */
    cxb_limiter *p = cxb_limiter_new(100, 5, err, sizeof err);
    CHECK(p != NULL, "new: %s", err);
    if (!p) return;
    cxb_limiter_pause(p, cxb_now_mono() + 10);
    lat = cancel_latency(p, 0.12, &rc);
    CHECK(rc == 1, "cancelled waiter returned %d", rc);
    CHECK(lat < 0.1, "cancellation during a pause noticed after %.3f s", lat);

    /* Already cancelled: returns at once without taking a token. */
    cxb_limiter *q = cxb_limiter_new(1, 1, err, sizeof err);
    atomic_int cancel;
    atomic_init(&cancel, 1);
    CHECK(cxb_limiter_acquire(q, &cancel) == 1, "pre-cancelled acquire granted");
    CHECK(limiter_try(q) == 0, "pre-cancelled acquire consumed the only token");
    cxb_limiter_free(q);
    cxb_limiter_free(p);
    cxb_limiter_free(l);
}

static void test_try(void)
{
    char err[128];
    cxb_limiter *l = cxb_limiter_new(10, 3, err, sizeof err);
    CHECK(l != NULL, "new: %s", err);
    if (!l) return;
    for (int i = 0; i < 3; i++) CHECK(limiter_try(l) == 0, "burst token %d refused", i + 1);
    double wait = limiter_try(l);
    CHECK(wait > 0 && wait <= 0.1 + 1e-3, "4th token: wait %.4f s, want (0, 0.1]", wait);
    CHECK(limiter_try(l) > 0, "a refused try must not take a token");
    sleep_s(wait + 0.002);
    CHECK(limiter_try(l) == 0, "token refused after waiting the advised %.4f s", wait);
    double until = cxb_now_mono() + 0.5;
    cxb_limiter_pause(l, until);
    double t1 = cxb_now_mono();
    wait = limiter_try(l);
    double t2 = cxb_now_mono();
    /* + 1 ms: the pause's end is stored rounded up to the millisecond (limiter_impl.h) */
    CHECK(wait >= until - t2 - 1e-6 && wait <= until - t1 + 1e-3 + 1e-6,
          "try during a pause advises %.4f s, want within [%.4f, %.4f]", wait, until - t2,
          until - t1);
    cxb_limiter_free(l);
}

/* Pause while a crowd is waiting: nothing is granted until the pause ends, then exactly
 * `burst` grants at that instant (the tokens "saved up" during the pause are not spent). */
static void test_pause(void)
{
    const double rate = 200, burst = 10;
    char err[128];
    cxb_limiter *l = cxb_limiter_new(rate, burst, err, sizeof err);
    CHECK(l != NULL, "new: %s", err);
    if (!l) return;
    CHECK(cxb_limiter_pause_remaining(l) == 0, "fresh limiter reports a pause");
    struct crowd c;
    if (crowd_start(&c, l, 12) != 0) abort();
    sleep_s(0.2);
    double until = cxb_now_mono() + 0.3;
    cxb_limiter_pause(l, until);
    double paused_at = cxb_now_mono();
    /* pause_remaining is checked against clock readings taken around it, not a fixed slack,
     * so a descheduled test thread cannot make it fail. */
    double t1 = cxb_now_mono(), left = cxb_limiter_pause_remaining(l), t2 = cxb_now_mono();
    CHECK(left >= until - t2 - 1e-6 && left <= until - t1 + 1e-3 + 1e-6, /* ms rounding */
          "pause_remaining %.4f s, want within [%.4f, %.4f]", left, until - t2, until - t1);
    cxb_limiter_pause(l, until - 0.2); /* shorter: must not shorten */
    cxb_limiter_pause(l, NAN);
    cxb_limiter_pause(l, -5);
    left = cxb_limiter_pause_remaining(l);
    t2 = cxb_now_mono();
    CHECK(left >= until - t2 - 1e-6, "a shorter/NaN/negative pause shortened the pause to "
          "%.4f s (want >= %.4f)", left, until - t2);
    sleep_s(0.5);
    CHECK(cxb_limiter_pause_remaining(l) == 0, "pause still reported after it ended");
    if (crowd_finish(&c) != 0) abort();

    size_t before = 0, during = 0, at_end = 0, after = 0;
    for (size_t i = 0; i < c.n; i++) {
        double s = c.sched[i];
        if (s < paused_at) before++;
        else if (s < until - 1e-6) during++;
        else if (s <= until + 0.001) at_end++;
        else after++;
    }
    CHECK(before > 30, "only %zu grants before the pause", before);
    CHECK(during == 0, "%zu grants scheduled during the pause", during);
    CHECK(at_end == (size_t)burst, "%zu grants in the first 1 ms after the pause, want %.0f",
          at_end, burst);
    CHECK(after > 20, "only %zu grants after the pause", after);
    for (double w = 0; w <= 0.5; w += 0.05) {
        size_t got = grants_max_in_window(c.sched, c.n, w);
        CHECK(got <= grants_bound(rate, burst, w), "%zu grants within %.2f s around a pause",
              got, w);
    }
    crowd_free(&c);
    cxb_limiter_free(l);
}

int main(void)
{
    test_bad_params();
    test_try();
    test_cancel();
    test_pause();
    test_bound_under_contention();
    return check_finish();
}
