/* Changing a running limiter's rate, by hand (set_rate, set_max_rate) or by the adaptive
 * controller (rate = "auto", rate_ctl.h), safely while other threads and processes acquire.
 *
 * A change opens a new epoch. Under the writers' lock the new interval and tolerance go into the
 * slot of the other epoch parity, then one compare-and-swap moves the tat word to that parity
 * and to `boundary + tolerance`, boundary = max(tat, now). Every slot reserved before the change
 * lies before the boundary; the first slot of the new epoch is scheduled at it and the next ones
 * one new interval apart (no burst credit crosses a change). A reservation computed with the old
 * epoch's figures can only commit on the old tat word, so never after the switch. Hence in any
 * window W at most burst + sum(r_i * W_i) slots, W_i the part of the window in epoch i (proof in
 * docs/limiter.md, "Changing the rate"). */
#include "limiter/limiter_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define TICK_NS ((int64_t)(CXB_CTL_TICK * 1e9))

static double secs(int64_t ns) { return (double)ns / 1e9; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The writers' lock. In /dev/shm it is robust: a process killed while holding it leaves the
 * slot it was writing unused (the tat word was not switched yet) or the change made, and the
 * next writer takes the lock over. 0 when held. */
static int rs_lock(struct cxb_rate_state *rs, int try_only)
{
    int rc = try_only ? pthread_mutex_trylock(&rs->mu) : pthread_mutex_lock(&rs->mu);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&rs->mu);
        rc = 0;
    }
    return rc;
}

int cxb_rate_state_init(struct cxb_rate_state *rs, const cxb_limiter *l, int pshared)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0) return -1;
    int rc = 0;
    if (pshared)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
             pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0;
    if (!rc) rc = pthread_mutex_init(&rs->mu, &a) != 0;
    pthread_mutexattr_destroy(&a);
    if (rc) return -1;
    for (int e = 0; e < 2; e++) {
        atomic_store(&rs->interval_ns[e], l->interval_ns);
        atomic_store(&rs->tolerance_ns[e], l->tolerance_ns);
    }
    atomic_store(&rs->rate_bits, cxb_dbits(l->rate));
    atomic_store(&rs->max_bits, cxb_dbits(l->adaptive ? l->max_rate : l->rate));
    atomic_store(&rs->found_bits, cxb_dbits(0));
    atomic_store(&rs->seq, 0);
    atomic_store(&rs->why, CXB_RATE_START);
    atomic_store(&rs->cut_at_ns, 0);
    atomic_store(&rs->next_tick_ns, 0);
    atomic_store(&rs->grants, 0);
    atomic_store(&rs->slow_at_ns, 0);
    atomic_store(&rs->slow_ratio_bits, cxb_dbits(1));
    atomic_store(&rs->slow_seq, 0);
    memset(&rs->ctl, 0, sizeof rs->ctl);
    if (l->adaptive) cxb_ctl_init(&rs->ctl, l->rate, l->max_rate, secs(cxb_mono_ns()));
    return 0;
}

int cxb_limiter_set_mode(cxb_limiter *l, int adaptive, double max_rate, char *err, size_t errlen)
{
    if (!adaptive) return 0;
    int64_t t, tau;
    if (!(max_rate >= l->rate) || cxb_rate_params(max_rate, l->burst, &t, &tau, NULL, 0) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "max_rate must be a finite number >= the start rate %g/s (got %g)",
                     l->rate, max_rate);
        return -1;
    }
    l->adaptive = 1;
    l->max_rate = max_rate;
    if (l->rs != &l->local_rs) return 0; /* a shared state is initialised by its creator */
    pthread_mutex_destroy(&l->local_rs.mu);
    atomic_store(&l->reported_bits, cxb_dbits(l->rate));
    return cxb_rate_state_init(&l->local_rs, l, 0);
}

/* Opens a new epoch at `rate` (the writers' lock held; rate valid). Returns its boundary. */
static int64_t rs_apply(cxb_limiter *l, double rate, int why)
{
    int stretch = why == CXB_RATE_THROTTLED;
    struct cxb_rate_state *rs = l->rs;
    int64_t interval, tolerance;
    if (cxb_rate_params(rate, l->burst, &interval, &tolerance, NULL, 0) != 0) return 0;
    int64_t w = atomic_load(&l->st->next_w);
    int e = cxb_epoch_of(w) ^ 1; /* only writers switch parity, and we hold their lock */
    int64_t old_interval = atomic_load(&rs->interval_ns[e ^ 1]);
    atomic_store(&rs->interval_ns[e], interval);
    atomic_store(&rs->tolerance_ns[e], tolerance);
    int64_t boundary, now;
    do {
        /* The old epoch's next slot would come at max(now, next, pause): the new one starts
         * there, with an empty bucket. A cut also slows the slots already reserved ahead of
         * now: their waiters stretch them to the new pace (cxb_limiter_stretch), and the
         * boundary is where they then end. (Only a cut: the next one needs a 429 on a slot of
         * this epoch, so stretches never compound over a horizon that already holds gaps.)
         * +1: the word only ever grows, so no reader holding an old word can see it again
         * (no ABA), whatever the two epochs' figures. */
        now = cxb_mono_ns();
        int64_t next = cxb_next_of(w);
        boundary = max64(max64(next, now), cxb_pause_until_ns(l));
        if (stretch && next > now)
            boundary = max64(boundary, now + (int64_t)((double)(next - now) * interval / old_interval));
        boundary++;
    } while (!atomic_compare_exchange_weak(&l->st->next_w, &w, cxb_next_pack(boundary, e)));
    if (stretch && interval > old_interval) {
        atomic_store(&rs->slow_at_ns, now);
        atomic_store(&rs->slow_ratio_bits, cxb_dbits((double)interval / (double)old_interval));
        atomic_fetch_add(&rs->slow_seq, 1);
    }
    atomic_store(&rs->rate_bits, cxb_dbits(rate));
    atomic_store(&rs->why, why);
    atomic_fetch_add(&rs->seq, 1);
    return boundary;
}

int64_t cxb_limiter_stretch(cxb_limiter *l, int64_t at, uint64_t *seq)
{
    struct cxb_rate_state *rs = l->rs;
    uint64_t s = atomic_load(&rs->slow_seq);
    if (s == *seq) return at;
    *seq = s;
    int64_t c = atomic_load(&rs->slow_at_ns);
    double ratio = cxb_bitsd(atomic_load(&rs->slow_ratio_bits));
    /* (a slow-down being recorded right now may pair a new instant with the old ratio: the
     * slot then moves a little less, or more; it never moves earlier) */
    if (at <= c || !(ratio > 1)) return at;
    return c + (int64_t)((double)(at - c) * ratio);
}

void cxb_limiter_slowed(cxb_limiter *l, double from, double to, int64_t now_ns)
{
    struct cxb_rate_state *rs = l->rs;
    if (!(to > 0) || !(from > to)) return;
    atomic_store(&rs->slow_at_ns, now_ns);
    atomic_store(&rs->slow_ratio_bits, cxb_dbits(from / to));
    atomic_fetch_add(&rs->slow_seq, 1);
}

/* Folds the grants counted so far into the measured send rate when a bucket is over. */
static void rs_measure(struct cxb_rate_state *rs, double now)
{
    if (cxb_ctl_bucket_due(&rs->ctl, now))
        cxb_ctl_fold(&rs->ctl, (double)atomic_exchange(&rs->grants, 0), now);
}

void cxb_limiter_rate_tick(cxb_limiter *l, int64_t now)
{
    struct cxb_rate_state *rs = l->rs;
    atomic_fetch_add(&rs->grants, 1);
    if (now >= atomic_load(&rs->next_tick_ns) && rs_lock(rs, 1) == 0) {
        if (now >= atomic_load(&rs->next_tick_ns)) { /* nobody stepped meanwhile */
            atomic_store(&rs->next_tick_ns, now + TICK_NS);
            rs_measure(rs, secs(now));
            double cur = cxb_bitsd(atomic_load(&rs->rate_bits));
            double target = cxb_ctl_target(&rs->ctl, cur, secs(now));
            if (cxb_ctl_worth(&rs->ctl, cur, target)) rs_apply(l, target, CXB_RATE_REGROW);
        }
        pthread_mutex_unlock(&rs->mu);
    }
    cxb_limiter_report_rate(l);
}

void cxb_limiter_throttled(cxb_limiter *l, const cxb_slot *slot)
{
    if (!l->adaptive || !slot) return;
    if (l->be) {
        if (l->be->throttled) l->be->throttled(l, slot);
        return;
    }
    struct cxb_rate_state *rs = l->rs;
    /* A slot granted before the latest cut: its 429 is the same loss that cut already. */
    if (slot->at_ns < atomic_load(&rs->cut_at_ns) || rs_lock(rs, 0) != 0) return;
    if (slot->at_ns >= atomic_load(&rs->cut_at_ns)) {
        int64_t now = cxb_mono_ns();
        rs_measure(rs, secs(now));
        double cur = cxb_bitsd(atomic_load(&rs->rate_bits));
        double rate = cxb_ctl_cut(&rs->ctl, cur, secs(now));
        atomic_store(&rs->found_bits, cxb_dbits(rs->ctl.found));
        atomic_store(&rs->cut_at_ns, rs_apply(l, rate, CXB_RATE_THROTTLED));
        atomic_store(&rs->next_tick_ns, now + TICK_NS);
    }
    pthread_mutex_unlock(&rs->mu);
    cxb_limiter_report_rate(l);
}

int cxb_limiter_set_rate(cxb_limiter *l, double rate, char *err, size_t errlen)
{
    int64_t t, tau;
    if (cxb_rate_params(rate, l->burst, &t, &tau, err, errlen) != 0) return -1;
    double max = cxb_bitsd(atomic_load(&l->rs->max_bits));
    if (l->adaptive && rate > max) {
        snprintf(err, errlen, "rate %g/s is above max_rate %g/s (raise max_rate first)", rate, max);
        return -1;
    }
    if (l->be && l->be->set) return l->be->set(l, rate, 0, err, errlen);
    struct cxb_rate_state *rs = l->rs;
    if (rs_lock(rs, 0) != 0) {
        snprintf(err, errlen, "%s: cannot take the rate's lock", l->label);
        return -1;
    }
    if (l->adaptive) cxb_ctl_set(&rs->ctl, rate, secs(cxb_mono_ns()));
    rs_apply(l, rate, CXB_RATE_SET);
    pthread_mutex_unlock(&rs->mu);
    cxb_limiter_report_rate(l);
    return 0;
}

void cxb_limiter_rate_restart(cxb_limiter *l)
{
    struct cxb_rate_state *rs = l->rs;
    if (rs_lock(rs, 0) != 0) return;
    double max = l->adaptive ? l->max_rate : l->rate;
    atomic_store(&rs->max_bits, cxb_dbits(max));
    atomic_store(&rs->found_bits, cxb_dbits(0));
    memset(&rs->ctl, 0, sizeof rs->ctl);
    if (l->adaptive) cxb_ctl_init(&rs->ctl, l->rate, l->max_rate, secs(cxb_mono_ns()));
    if (cxb_bitsd(atomic_load(&rs->rate_bits)) != l->rate) rs_apply(l, l->rate, CXB_RATE_START);
    pthread_mutex_unlock(&rs->mu);
}

int cxb_limiter_set_max_rate(cxb_limiter *l, double max_rate, char *err, size_t errlen)
{
    int64_t t, tau;
    if (!l->adaptive) {
        snprintf(err, errlen, "max_rate applies only to rate = \"auto\" (this rate is fixed at %g/s: "
                 "use set_rate)", cxb_bitsd(atomic_load(&l->rs->rate_bits)));
        return -1;
    }
    if (cxb_rate_params(max_rate, l->burst, &t, &tau, NULL, 0) != 0) {
        snprintf(err, errlen, "max_rate must be a finite number >= 1e-06 per second (got %g)", max_rate);
        return -1;
    }
    if (l->be && l->be->set) return l->be->set(l, 0, max_rate, err, errlen);
    struct cxb_rate_state *rs = l->rs;
    if (rs_lock(rs, 0) != 0) {
        snprintf(err, errlen, "%s: cannot take the rate's lock", l->label);
        return -1;
    }
    rs->ctl.max_rate = max_rate;
    if (rs->ctl.floor > max_rate) rs->ctl.floor = max_rate;
    atomic_store(&rs->max_bits, cxb_dbits(max_rate));
    if (cxb_bitsd(atomic_load(&rs->rate_bits)) > max_rate) {
        rs_apply(l, max_rate, CXB_RATE_SET_MAX);
    } else { /* the rate stays; the change is still reported (status and events show max_rate) */
        atomic_store(&rs->why, CXB_RATE_SET_MAX);
        atomic_fetch_add(&rs->seq, 1);
    }
    pthread_mutex_unlock(&rs->mu);
    cxb_limiter_report_rate(l);
    return 0;
}

void cxb_limiter_rate_status(cxb_limiter *l, cxb_rate_status *out)
{
    out->rate = cxb_bitsd(atomic_load(&l->rs->rate_bits));
    out->max_rate = cxb_bitsd(atomic_load(&l->rs->max_bits));
    out->rate_found = cxb_bitsd(atomic_load(&l->rs->found_bits));
    out->adaptive = l->adaptive;
}

void cxb_limiter_store_rate(cxb_limiter *l, double rate, double max_rate, double found, uint64_t seq,
                            int why)
{
    struct cxb_rate_state *rs = l->rs;
    atomic_store(&rs->rate_bits, cxb_dbits(rate));
    atomic_store(&rs->max_bits, cxb_dbits(max_rate));
    atomic_store(&rs->found_bits, cxb_dbits(found));
    atomic_store(&rs->why, why);
    atomic_store(&rs->seq, seq);
}

/* The words of an event: what changed and why. */
static void rate_words(char *buf, size_t len, int why, double rate, double prev, double max,
                       double found)
{
    switch (why) {
    case CXB_RATE_THROTTLED:
        snprintf(buf, len, "rate cut to %.1f/s (was %.1f/s): 429 at a send rate of %.1f/s", rate, prev,
                 found);
        break;
    case CXB_RATE_SET:
        snprintf(buf, len, "rate set to %g/s (was %.1f/s)", rate, prev);
        break;
    case CXB_RATE_SET_MAX:
        snprintf(buf, len, "max_rate set to %g/s; rate %.1f/s (was %.1f/s)", max, rate, prev);
        break;
    default:
        snprintf(buf, len, "rate %.1f/s (was %.1f/s)%s", rate, prev, rate >= max ? ", at max_rate" : "");
    }
}

void cxb_limiter_report_rate(cxb_limiter *l)
{
    struct cxb_rate_state *rs = l->rs;
    uint64_t seq = atomic_load(&rs->seq), seen = atomic_load(&l->seq_seen);
    /* Nobody to tell yet (the hook is set before any other thread uses the limiter): the change
     * is reported once there is. != rather than >: a Redis bucket that lost its state counts
     * from 0 again. */
    if (!l->notify || seq == seen || !atomic_compare_exchange_strong(&l->seq_seen, &seen, seq)) return;
    cxb_limiter_note n;
    memset(&n, 0, sizeof n);
    n.kind = CXB_LIM_NOTE_RATE;
    n.rate = cxb_bitsd(atomic_load(&rs->rate_bits));
    n.prev = cxb_bitsd(atomic_exchange(&l->reported_bits, cxb_dbits(n.rate)));
    n.reason = atomic_load(&rs->why);
    rate_words(n.msg, sizeof n.msg, n.reason, n.rate, n.prev, cxb_bitsd(atomic_load(&rs->max_bits)),
               cxb_bitsd(atomic_load(&rs->found_bits)));
    cxb_limiter_note_deliver(l, &n);
}
