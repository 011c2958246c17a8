/* GCRA rate limiter with reservations, lock-free over two atomic words.
 *
 * Emission interval T = 1/rate, tolerance tau = (burst - 1) * T, state tat (theoretical arrival
 * time). Acquire reserves with one compare-and-swap:
 *     at  = max(now, tat - tau, pause_until)
 *     tat = max(tat, at) + T
 * then sleeps until `at` without holding anything. Every reservation pushes tat forward by at
 * least T and may not be scheduled earlier than tat - tau, which is what bounds the grants in any
 * window W to burst + rate * W (proof sketch in docs/limiter.md). The same code runs on the
 * malloc'd state of a local limiter and on the /dev/shm state of a shared one (shm_limiter.c).
 * The word holds next = tat - tau (limiter_impl.h), on which the same step reads
 *     at   = max(now, next, pause_until)
 *     next = max(next + T, at + T - tau)
 * and the rate it uses is that of the epoch the word names (limiter_rate.c). */
#include "limiter/limiter_impl.h"
#include "common/clock.h"
#include "common/text_fit.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>

#define NS_PER_S 1000000000LL
/* Waiters wake at least this often to notice cancellation. */
#define CANCEL_SLICE_NS (50LL * 1000000LL)
/* Limits that keep every tat/pause sum far from int64 overflow, even doubled in the tat word
 * (2^61 ns is ~73 years of uptime). */
#define MAX_INSTANT_NS  (INT64_C(1) << 61)
#define MAX_INTERVAL_NS CXB_MAX_INTERVAL_NS
#define MAX_TOLERANCE_NS CXB_MAX_TOLERANCE_NS

int64_t cxb_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Seconds (CLOCK_MONOTONIC) to clamped nanoseconds; NaN and negatives become 0. */
static int64_t sec_to_ns(double s)
{
    if (!(s > 0)) return 0;
    if (s >= (double)MAX_INSTANT_NS / 1e9) return MAX_INSTANT_NS;
    return (int64_t)(s * 1e9);
}

static void set_err(char *err, size_t errlen, const char *msg, double v)
{
    if (err && errlen) snprintf(err, errlen, msg, v);
}

int cxb_rate_params(double rate, double burst, int64_t *interval_ns, int64_t *tolerance_ns, char *err,
                    size_t errlen)
{
    if (!isfinite(rate) || rate <= 0) {
        set_err(err, errlen, "rate must be a finite number > 0 per second (got %g)", rate);
        return -1;
    }
    if (!isfinite(burst) || burst < 1) {
        set_err(err, errlen, "burst must be >= 1 (got %g)", burst);
        return -1;
    }
    double interval = ceil(1e9 / rate); /* rounding up can only make the limiter stricter */
    if (interval > (double)MAX_INTERVAL_NS) {
        set_err(err, errlen, "rate must be >= 1e-06 per second (got %g)", rate);
        return -1;
    }
    if (interval < 1) interval = 1;
    double tolerance = floor((burst - 1) * interval);
    if (tolerance > (double)MAX_TOLERANCE_NS) {
        set_err(err, errlen, "burst is too large for this rate (got %g)", burst);
        return -1;
    }
    *interval_ns = (int64_t)interval;
    *tolerance_ns = (int64_t)tolerance;
    return 0;
}

int cxb_limiter_set_params(cxb_limiter *l, double rate, double burst, char *err, size_t errlen)
{
    if (cxb_rate_params(rate, burst, &l->interval_ns, &l->tolerance_ns, err, errlen) != 0)
        return -1;
    l->rate = rate;
    l->burst = burst;
    l->max_rate = rate;
    return 0;
}

cxb_limiter *cxb_limiter_new(double rate, double burst, char *err, size_t errlen)
{
    cxb_limiter *l = calloc(1, sizeof *l);
    if (!l) {
        if (err && errlen) snprintf(err, errlen, "out of memory allocating a limiter");
        return NULL;
    }
    if (cxb_limiter_set_params(l, rate, burst, err, errlen) != 0 ||
        cxb_rate_state_init(&l->local_rs, l, 0) != 0) {
        if (err && errlen && !err[0]) snprintf(err, errlen, "cannot create the limiter's lock");
        free(l);
        return NULL;
    }
    atomic_init(&l->local.next_w, 0);
    atomic_init(&l->local.pause_w, 0);
    atomic_init(&l->pause_seen, 0);
    atomic_init(&l->seq_seen, 0);
    atomic_init(&l->reported_bits, cxb_dbits(rate));
    l->st = &l->local;
    l->rs = &l->local_rs;
    snprintf(l->label, sizeof l->label, "the rate limit");
    return l;
}

int64_t cxb_pause_pack(int64_t until_ns, int64_t retry_after_ns)
{
    int64_t until_ms = (until_ns + 999999) / 1000000;
    int64_t ra_ds = (retry_after_ns + 99999999) / 100000000;
    if (ra_ds < 0) ra_ds = 0;
    if (ra_ds > PAUSE_RA_MAX_DS) ra_ds = PAUSE_RA_MAX_DS;
    return until_ms << PAUSE_RA_BITS | ra_ds;
}

void cxb_pause_unpack(int64_t w, cxb_pause_info *out)
{
    out->until_ns = (w >> PAUSE_RA_BITS) * 1000000;
    out->retry_after_ns = (w & PAUSE_RA_MAX_DS) * 100000000;
    out->set_ns = out->until_ns - out->retry_after_ns;
}

static int64_t pause_until_ns(const struct cxb_gcra_state *st)
{
    return (atomic_load(&st->pause_w) >> PAUSE_RA_BITS) * 1000000;
}

int64_t cxb_pause_until_ns(cxb_limiter *l)
{
    return pause_until_ns(l->st);
}

/* One GCRA step. Returns the instant the next token may be used; when only_if_now is set and
 * that instant is in the future nothing is reserved (*reserved = 0). The interval and tolerance
 * are those of the epoch the tat word names: a writer fills the other parity's slot before it
 * switches the word, so the compare-and-swap that commits a slot also proves that the rate it
 * was computed with was still in force (a torn read of a slot being rewritten can only come
 * with a tat word that has changed since, and so fails the compare-and-swap). */
int64_t cxb_gcra_reserve(cxb_limiter *l, int64_t now, int only_if_now, int *reserved)
{
    struct cxb_gcra_state *st = l->st;
    struct cxb_rate_state *rs = l->rs;
    int64_t w = atomic_load(&st->next_w);
    for (;;) {
        int e = cxb_epoch_of(w);
        int64_t next = cxb_next_of(w);
        int64_t interval = atomic_load(&rs->interval_ns[e]), tolerance = atomic_load(&rs->tolerance_ns[e]);
        int64_t at = max64(max64(now, next), pause_until_ns(st));
        if (only_if_now && at > now) {
            *reserved = 0;
            return at;
        }
        int64_t nw = cxb_next_pack(max64(next + interval, at + interval - tolerance), e);
        /* On failure tat is reloaded and the step recomputed: no reservation is ever made
         * from a stale tat, which is what the get-then-set schemes get wrong. */
        if (atomic_compare_exchange_weak(&st->next_w, &w, nw)) {
            *reserved = 1;
            return at;
        }
    }
}

static int is_cancelled(const atomic_int *cancel)
{
    return cancel && atomic_load(cancel) != 0;
}

/* Sleeps until CLOCK_MONOTONIC `at_ns` in slices of at most 50 ms. Returns 1 if *cancel was
 * set before the instant was reached, else 0. */
int cxb_sleep_until_ns(int64_t at_ns, const atomic_int *cancel)
{
    for (;;) {
        if (is_cancelled(cancel)) return 1;
        int64_t now = cxb_mono_ns();
        if (now >= at_ns) return 0;
        int64_t wake = at_ns - now > CANCEL_SLICE_NS ? now + CANCEL_SLICE_NS : at_ns;
        struct timespec ts = { .tv_sec = (time_t)(wake / NS_PER_S), .tv_nsec = (long)(wake % NS_PER_S) };
        /* EINTR just loops: the deadline is absolute. */
        (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

/* A waiter that wakes this long after its slot was descheduled (a starved machine, a stopped
 * process): sending now would bunch with the waiters that woke on time, so the bound would hold
 * for grant times but not for what reaches the server. Such a late grant is forfeited and
 * reserved again (a few times at most, so constant starvation cannot livelock a worker). */
#define LIMITER_STALE_NS 100000000LL
#define LIMITER_MAX_FORFEITS 3

/* Says once per pause (per handle) that this waiter is held by a pause someone else set:
 * otherwise a pause left by another (even a killed) process would be a silent wait. */
void cxb_limiter_report_pause(cxb_limiter *l, int64_t now)
{
    int64_t w = atomic_load(&l->st->pause_w);
    cxb_pause_info p;
    cxb_pause_unpack(w, &p);
    if (p.until_ns <= now) return;
    int64_t seen = atomic_load(&l->pause_seen);
    do {
        if (w <= seen) return; /* set by this handle, or already reported */
    } while (!atomic_compare_exchange_weak(&l->pause_seen, &seen, w));
    char until[32], set[32];
    cxb_mono_to_iso(p.until_ns, until, sizeof until);
    cxb_mono_to_iso(p.set_ns, set, sizeof set);
    cxb_limiter_note_raise(l, CXB_LIM_NOTE_PAUSE, (double)(p.until_ns - now) / 1e9,
                           "%s: paused until %s (set at %s, by Retry-After %.0f s) by another "
                           "process or an earlier run", l->label, until, set,
                           (double)p.retry_after_ns / 1e9);
}

int cxb_gcra_acquire_slot(cxb_limiter *l, const atomic_int *cancel, cxb_slot *slot)
{
    int forfeits = 0;
    for (;;) {
        if (is_cancelled(cancel)) return 1;
        int reserved;
        uint64_t slow = atomic_load(&l->rs->slow_seq);
        int64_t now = cxb_mono_ns();
        int64_t at = cxb_gcra_reserve(l, now, 0, &reserved);
        if (l->adaptive) cxb_limiter_rate_tick(l, now);
        if (at > now)
            cxb_limiter_report_pause(l, now);
        /* A cancelled waiter's token is simply forfeited: handing it back could let a later
         * reservation land inside a window that already counted it. A slow-down while it
         * slept moves it later (never earlier). */
        for (int64_t was = 0; was != at; at = cxb_limiter_stretch(l, at, &slow)) {
            was = at;
            if (cxb_sleep_until_ns(at, cancel)) return 1;
        }
        now = cxb_mono_ns();
        /* A pause that began while we slept voids the reservation; reserving again lands
         * after the pause because cxb_gcra_reserve honours the pause. */
        if (now < pause_until_ns(l->st))
            continue;
        if (now - at > LIMITER_STALE_NS && forfeits < LIMITER_MAX_FORFEITS) {
            forfeits++;
            continue;
        }
        if (slot) {
            slot->at_ns = at;
            slot->gen = 0;
        }
        return 0;
    }
}

int cxb_limiter_acquire_slot(cxb_limiter *l, const atomic_int *cancel, cxb_slot *slot)
{
    if (l->be) return l->be->acquire(l, cancel, slot);
    return cxb_gcra_acquire_slot(l, cancel, slot);
}

int cxb_limiter_acquire_at(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono)
{
    cxb_slot s;
    int rc = cxb_limiter_acquire_slot(l, cancel, &s);
    if (rc == 0 && scheduled_mono) *scheduled_mono = (double)s.at_ns / 1e9;
    return rc;
}

int cxb_limiter_acquire(cxb_limiter *l, const atomic_int *cancel)
{
    return cxb_limiter_acquire_slot(l, cancel, NULL);
}

static void atomic_max64(_Atomic int64_t *p, int64_t v)
{
    int64_t cur = atomic_load(p);
    while (cur < v && !atomic_compare_exchange_weak(p, &cur, v)) {
    }
}

void cxb_tat_raise(cxb_limiter *l, int64_t tat_ns)
{
    int64_t w = atomic_load(&l->st->next_w);
    for (;;) {
        int e = cxb_epoch_of(w);
        int64_t next = tat_ns - atomic_load(&l->rs->tolerance_ns[e]);
        /* A change of epoch meanwhile fails the compare-and-swap, and the tolerance is read again. */
        if (cxb_next_of(w) >= next ||
            atomic_compare_exchange_weak(&l->st->next_w, &w, cxb_next_pack(next, e)))
            return;
    }
}

void cxb_limiter_pause(cxb_limiter *l, double until_mono)
{
    if (!(until_mono > 0)) return; /* NaN or not a CLOCK_MONOTONIC instant: nothing to do */
    int64_t until = sec_to_ns(until_mono);
    int64_t now = cxb_mono_ns();
    if (until <= now) return;
    if (until - now > PAUSE_MAX_NS) until = now + PAUSE_MAX_NS; /* never beyond any Retry-After */
    int64_t w = cxb_pause_pack(until, until - now);
    atomic_max64(&l->pause_seen, w); /* our own pause: the engine reports it where it sets it */
    atomic_max64(&l->st->pause_w, w);
    /* The step alone already caps the end of the pause at `burst` grants (the first
     * reservation after it sets tat = until + T). Raising tat here too makes the stored state
     * say so at once, and the bound proof only needs tat to be non-decreasing. */
    cxb_tat_raise(l, until);
    if (l->be) l->be->pause(l, until, until - now);
}

double cxb_limiter_pause_remaining(cxb_limiter *l)
{
    int64_t left = pause_until_ns(l->st) - cxb_mono_ns();
    return left > 0 ? (double)left / 1e9 : 0;
}

/* ---- notes ---------------------------------------------------------------------------------- */

void cxb_mono_to_iso(int64_t mono_ns, char *buf, size_t len)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t wall_ns = (int64_t)wall.tv_sec * NS_PER_S + wall.tv_nsec;
    time_t t = (time_t)((wall_ns + (mono_ns - cxb_mono_ns())) / NS_PER_S);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "(time out of range)");
}

void cxb_limiter_note_raise(cxb_limiter *l, cxb_limiter_note_kind kind, double wait,
                            const char *fmt, ...)
{
    cxb_limiter_note n;
    memset(&n, 0, sizeof n);
    n.kind = kind;
    n.wait = wait;
    va_list ap;
    va_start(ap, fmt);
    int written = vsnprintf(n.msg, sizeof n.msg, fmt, ap);
    va_end(ap);
    cxb_text_fit(n.msg, sizeof n.msg, written); /* a long note ends between words */
    cxb_limiter_note_deliver(l, &n);
}

void cxb_limiter_note_deliver(cxb_limiter *l, const cxb_limiter_note *n)
{
    if (l->notify)
        l->notify(l->notify_arg, n);
    else if (l->npending < LIMITER_NOTES_MAX)
        l->pending[l->npending++] = *n;
}

void cxb_limiter_set_notify(cxb_limiter *l, cxb_limiter_notify_fn fn, void *arg)
{
    l->notify = fn;
    l->notify_arg = arg;
    for (int i = 0; fn && i < l->npending; i++)
        fn(arg, &l->pending[i]);
    l->npending = 0;
}

void cxb_limiter_free(cxb_limiter *l)
{
    if (!l) return;
    if (l->be) l->be->free(l->be_state);
    if (l->map) munmap(l->map, l->map_len);
    if (l->has_attach) close(l->attach_fd); /* and with it our shared flock */
    if (l->rs == &l->local_rs) pthread_mutex_destroy(&l->local_rs.mu);
    free(l);
}
