/* The adaptive rate controller's arithmetic (rate_ctl.h). Kept free of locks, clocks and I/O so
 * that the unit test can drive it through any history of time and 429s. */
#include "limiter/rate_ctl.h"

#include <math.h>

const char *cxb_rate_reason_name(int reason)
{
    switch (reason) {
    case CXB_RATE_START: return "start";
    case CXB_RATE_THROTTLED: return "throttled";
    case CXB_RATE_REGROW: return "regrow";
    case CXB_RATE_SET: return "set_rate";
    case CXB_RATE_SET_MAX: return "set_max_rate";
    }
    return "unknown";
}

/* The time the curve takes from BETA x wmax back to wmax. */
static double ctl_k(double wmax)
{
    return cbrt(wmax * (1 - CXB_CTL_BETA) / CXB_CTL_C);
}

static double clamp(const cxb_ctl *c, double r)
{
    if (r > c->max_rate) r = c->max_rate;
    if (r < c->floor) r = c->floor;
    return r;
}

void cxb_ctl_init(cxb_ctl *c, double start, double max_rate, double now)
{
    c->start = start;
    c->max_rate = max_rate;
    c->floor = start < CXB_CTL_FLOOR ? start : CXB_CTL_FLOOR;
    c->found = 0;
    c->measured = 0;
    c->bucket_start = now;
    cxb_ctl_set(c, start, now);
}

int cxb_ctl_bucket_due(const cxb_ctl *c, double now)
{
    return now - c->bucket_start >= CXB_CTL_BUCKET;
}

void cxb_ctl_fold(cxb_ctl *c, double grants, double now)
{
    double span = now - c->bucket_start;
    if (!(span > 0)) return;
    double r = grants / span;
    /* The first bucket is the estimate itself: smoothing it with 0 would halve it. */
    c->measured = c->measured > 0 ? CXB_CTL_SMOOTH * r + (1 - CXB_CTL_SMOOTH) * c->measured : r;
    c->bucket_start = now;
}

double cxb_ctl_target(const cxb_ctl *c, double cur, double now)
{
    double t = now - c->t_cut - ctl_k(c->wmax);
    double r = (t < 0 ? CXB_CTL_C : CXB_CTL_C_PROBE) * t * t * t + c->wmax;
    double cap = 2 * c->measured > cur ? 2 * c->measured : cur;
    if (r > cap) r = cap;
    return clamp(c, r);
}

int cxb_ctl_worth(const cxb_ctl *c, double cur, double target)
{
    double d = fabs(target - cur);
    if (d <= 0) return 0;
    return d >= CXB_CTL_STEP * cur || target >= c->max_rate || target <= c->floor;
}

double cxb_ctl_cut(cxb_ctl *c, double cur, double now)
{
    double sent = c->measured > 0 && c->measured < cur ? c->measured : cur;
    c->wmax = sent;
    c->found = sent;
    c->t_cut = now;
    return clamp(c, CXB_CTL_BETA * sent);
}

void cxb_ctl_set(cxb_ctl *c, double rate, double now)
{
    c->wmax = rate;
    c->t_cut = now - ctl_k(rate);
}
