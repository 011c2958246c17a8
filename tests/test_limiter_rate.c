/* Unit tests for changing a running limiter's rate (src/limiter/limiter_rate.c) and the adaptive
 * controller's arithmetic (src/limiter/rate_ctl.c). */
#include "check.h"
#include "crowd.h"

#include <math.h>

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* The controller through a scripted history: measuring, a cut, the cubic back to the rate that
 * held and the gentler probe above it, the bounds. */
static void test_ctl_math(void)
{
    cxb_ctl c;
    cxb_ctl_init(&c, 45, 100, 0);
    CHECK(near(cxb_ctl_target(&c, 45, 0), 45, 1e-9), "starts on its plateau: %g", cxb_ctl_target(&c, 45, 0));
    CHECK(near(cxb_ctl_target(&c, 45, 5), 45, 1e-9), "an unmeasured (idle) client does not grow: %g",
          cxb_ctl_target(&c, 45, 5));
    CHECK(!cxb_ctl_bucket_due(&c, 0.4) && cxb_ctl_bucket_due(&c, 0.5), "buckets of 0.5 s");
    cxb_ctl_fold(&c, 20, 0.5);
    CHECK(near(c.measured, 40, 1e-9), "first bucket: %g/s", c.measured);
    cxb_ctl_fold(&c, 25, 1.0);
    CHECK(near(c.measured, 0.8 * 50 + 0.2 * 40, 1e-9), "smoothed: %g/s", c.measured);
    CHECK(cxb_ctl_target(&c, 45, 3) > 45, "measured: probes above the start: %g", cxb_ctl_target(&c, 45, 3));

    double r = cxb_ctl_cut(&c, 45, 10); /* measured 48 > 45: the rate in force is what was sent */
    CHECK(near(r, 0.7 * 45, 1e-9) && near(c.found, 45, 1e-9), "cut to %g, found %g", r, c.found);
    c.measured = 30; /* sent below the rate: the measured rate is the one cut */
    r = cxb_ctl_cut(&c, 45, 10);
    CHECK(near(r, 21, 1e-9) && near(c.found, 30, 1e-9), "cut to %g, found %g", r, c.found);
    double k = cbrt(30 * 0.3 / 0.4);
    CHECK(near(cxb_ctl_target(&c, 21, 10), 21, 1e-9), "the curve starts at the cut: %g", cxb_ctl_target(&c, 21, 10));
    double mid = cxb_ctl_target(&c, 21, 10 + k / 2);
    CHECK(mid > 21 + 0.5 * 9 && mid < 30, "concave: more than half way at half time: %g", mid);
    CHECK(near(cxb_ctl_target(&c, 29, 10 + k), 30, 1e-9), "back at the rate that held after K: %g",
          cxb_ctl_target(&c, 29, 10 + k));
    CHECK(near(cxb_ctl_target(&c, 30, 10 + k + 2), 30 + 0.1 * 8, 1e-9), "probes with C_PROBE: %g",
          cxb_ctl_target(&c, 30, 10 + k + 2));
    CHECK(near(cxb_ctl_target(&c, 30, 10 + k + 60), 60, 1e-9), "never twice the measured rate: %g",
          cxb_ctl_target(&c, 30, 10 + k + 60));
    c.measured = 1000;
    CHECK(near(cxb_ctl_target(&c, 30, 10 + k + 60), 100, 1e-9), "never above max_rate");
    for (int i = 0; i < 40; i++) r = cxb_ctl_cut(&c, r, 20 + i);
    CHECK(near(r, CXB_CTL_FLOOR, 1e-9), "never below the floor: %g", r);
    CHECK(cxb_ctl_worth(&c, 30, 30.7) && !cxb_ctl_worth(&c, 30, 30.5) && cxb_ctl_worth(&c, 99.5, 100),
          "steps of 2 %%, or to a bound");
    cxb_ctl_set(&c, 50, 100);
    CHECK(near(cxb_ctl_target(&c, 50, 100), 50, 1e-9), "set_rate: the plateau is the new rate");
}

struct rate_notes {
    int n, throttled, set, set_max;
    double last;
};

static void on_rate(void *arg, const cxb_limiter_note *n)
{
    struct rate_notes *s = arg;
    if (n->kind != CXB_LIM_NOTE_RATE) return;
    s->n++;
    s->last = n->rate;
    s->throttled += n->reason == CXB_RATE_THROTTLED;
    s->set += n->reason == CXB_RATE_SET;
    s->set_max += n->reason == CXB_RATE_SET_MAX;
}

static cxb_limiter *adaptive(double start, double max)
{
    char err[200];
    cxb_limit_config c = {start, 5, NULL, 0, NULL, 1, max};
    cxb_limiter *l = cxb_limiter_open(&c, err, sizeof err);
    CHECK(l != NULL, "open: %s", err);
    return l;
}

/* One cut per loss: a 429 on a slot granted before the latest cut changes nothing. */
static void test_throttled_once(void)
{
    cxb_limiter *l = adaptive(100, 200);
    if (!l) return;
    struct rate_notes notes = {0};
    cxb_limiter_set_notify(l, on_rate, &notes);
    cxb_slot a, b, c;
    CHECK(cxb_limiter_acquire_slot(l, NULL, &a) == 0 && cxb_limiter_acquire_slot(l, NULL, &b) == 0, "grants");
    cxb_limiter_throttled(l, &a);
    cxb_rate_status st;
    cxb_limiter_rate_status(l, &st);
    CHECK(st.adaptive && near(st.rate, 70, 1e-9) && near(st.rate_found, 100, 1e-9),
          "cut to 0.7 x the rate: %g (found %g)", st.rate, st.rate_found);
    cxb_limiter_throttled(l, &b); /* granted before the cut: the same loss */
    cxb_limiter_rate_status(l, &st);
    CHECK(near(st.rate, 70, 1e-9) && notes.throttled == 1, "cut twice for one loss: %g", st.rate);
    CHECK(cxb_limiter_acquire_slot(l, NULL, &c) == 0, "grant after the cut");
    cxb_limiter_throttled(l, &c);
    cxb_limiter_rate_status(l, &st);
    CHECK(near(st.rate, 49, 1e-9) && notes.throttled == 2, "a new loss cuts again: %g", st.rate);
    CHECK(near(notes.last, 49, 1e-9), "the note carries the rate: %g", notes.last);

    /* a fixed limiter never moves by itself */
    char err[200];
    cxb_limiter *f = cxb_limiter_new(100, 5, err, sizeof err);
    CHECK(f && cxb_limiter_acquire_slot(f, NULL, &a) == 0, "fixed grant");
    if (f) cxb_limiter_throttled(f, &a);
    if (f) cxb_limiter_rate_status(f, &st);
    CHECK(f && !st.adaptive && st.rate == 100 && st.max_rate == 100 && st.rate_found == 0, "fixed rate moved");
    cxb_limiter_free(f);
    cxb_limiter_free(l);
}

static void test_set_errors(void)
{
    char err[256];
    cxb_limiter *f = cxb_limiter_new(45, 20, err, sizeof err);
    if (!f) return;
    CHECK(cxb_limiter_set_max_rate(f, 90, err, sizeof err) == -1, "max_rate on a fixed rate");
    CHECK_STR(err, "max_rate applies only to rate = \"auto\" (this rate is fixed at 45/s: use set_rate)");
    CHECK(cxb_limiter_set_rate(f, 0, err, sizeof err) == -1, "rate 0");
    CHECK_STR(err, "rate must be a finite number > 0 per second (got 0)");
    CHECK(cxb_limiter_set_rate(f, 30, err, sizeof err) == 0, "set_rate: %s", err);
    cxb_rate_status st;
    cxb_limiter_rate_status(f, &st);
    CHECK(st.rate == 30 && st.max_rate == 45, "fixed (max_rate: the configured rate): %g max %g", st.rate, st.max_rate);
    cxb_limiter_free(f);

    cxb_limit_config bad = {45, 20, NULL, 0, NULL, 1, 30};
    CHECK(cxb_limiter_open(&bad, err, sizeof err) == NULL, "max_rate below the start accepted");
    CHECK_STR(err, "max_rate must be a finite number >= the start rate 45/s (got 30)");

    cxb_limiter *l = adaptive(45, 90);
    if (!l) return;
    struct rate_notes notes = {0};
    cxb_limiter_set_notify(l, on_rate, &notes);
    CHECK(cxb_limiter_set_rate(l, 120, err, sizeof err) == -1, "a rate above max_rate");
    CHECK_STR(err, "rate 120/s is above max_rate 90/s (raise max_rate first)");
    CHECK(cxb_limiter_set_max_rate(l, 30, err, sizeof err) == 0, "set_max_rate: %s", err);
    cxb_limiter_rate_status(l, &st);
    CHECK(st.rate == 30 && st.max_rate == 30 && notes.set_max == 1, "max_rate 30: rate %g", st.rate);
    CHECK(cxb_limiter_set_max_rate(l, 60, err, sizeof err) == 0 && cxb_limiter_set_rate(l, 50, err, sizeof err) == 0,
          "raise: %s", err);
    cxb_limiter_rate_status(l, &st);
    CHECK(st.rate == 50 && st.max_rate == 60 && notes.set == 1 && notes.set_max == 2, "rate %g max %g",
          st.rate, st.max_rate);
    cxb_limiter_free(l);
}

/* The rate in force at instant t of a schedule of changes {at, rate}, before the first: r0. */
struct change {
    double at, rate;
};

/* The highest rate in force at any instant of [a, b]. */
static double max_rate_in(const struct change *ch, size_t n, double r0, double a, double b)
{
    double m = r0, cur = r0;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].at <= a) cur = ch[i].rate;
        else if (ch[i].at <= b && ch[i].rate > m) m = ch[i].rate;
    }
    return cur > m ? cur : m;
}

/* Eight threads hammer a limiter whose rate changes every 80 ms, up and down: every window of
 * scheduled grants holds at most burst + W x the highest rate in force during it (or during the
 * half second before it, where the slots it sends may have been reserved). */
static void test_change_bound(void)
{
    const double rates[] = {50, 400, 120, 300, 80, 250, 60, 350, 150, 30};
    const size_t nrates = sizeof rates / sizeof rates[0];
    const double burst = 10, r0 = 200;
    char err[200];
    cxb_limiter *l = cxb_limiter_new(r0, burst, err, sizeof err);
    if (!l) return;
    struct crowd c;
    if (crowd_start(&c, l, 8) != 0) abort();
    struct change ch[16];
    for (size_t i = 0; i < nrates; i++) {
        sleep_s(0.08);
        ch[i].at = cxb_now_mono();
        ch[i].rate = rates[i];
        CHECK(cxb_limiter_set_rate(l, rates[i], err, sizeof err) == 0, "set_rate: %s", err);
    }
    sleep_s(0.08);
    if (crowd_finish(&c) != 0) abort();
    double worst = -1e9;
    for (size_t i = 0; i < c.n; i++) {
        for (size_t j = i; j < c.n; j++) {
            double w = c.sched[j] - c.sched[i];
            double allowed = burst + w * max_rate_in(ch, nrates, r0, c.sched[i] - 0.5, c.sched[j]);
            double excess = (double)(j - i + 1) - allowed;
            if (excess > worst) worst = excess;
        }
    }
    CHECK(worst <= 1e-6, "a window held %.2f grants more than burst + W x max rate", worst);
    printf("rate changes: %zu grants over %zu changes, worst window %.2f below the bound\n", c.n, nrates, -worst);
    crowd_free(&c);
    cxb_limiter_free(l);
}

/* A cut stretches the slots already reserved: six waiters queued at 100/s, a 429 cuts to 70/s,
 * and the half second after it holds no more than 1 + 70 x 0.5 grants (without the stretch the
 * queued ones would go out at 100/s on top). */
static void test_stretch(void)
{
    cxb_limiter *l = adaptive(100, 100);
    if (!l) return;
    struct crowd c;
    if (crowd_start(&c, l, 6) != 0) abort();
    sleep_s(0.2);
    double cut = cxb_now_mono();
    cxb_slot now = {cxb_mono_ns(), 0};
    cxb_limiter_throttled(l, &now);
    sleep_s(0.6);
    if (crowd_finish(&c) != 0) abort();
    size_t after = 0;
    for (size_t i = 0; i < c.n; i++) after += c.sched[i] > cut && c.sched[i] <= cut + 0.5;
    CHECK(after <= 36, "%zu grants in the half second after a cut to 70/s", after);
    crowd_free(&c);
    cxb_limiter_free(l);
}

int main(void)
{
    test_ctl_math();
    test_throttled_once();
    test_set_errors();
    test_change_bound();
    test_stretch();
    return check_finish();
}
