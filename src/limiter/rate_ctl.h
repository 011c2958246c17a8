/* The adaptive rate controller (rate = "auto"): loss-based, in the style of the AWS SDKs'
 * adaptive retry mode. On a 429 the rate is cut to BETA x the send rate measured when it came;
 * between 429s it regrows along a cubic curve that flattens at the rate that last held and then
 * probes above it (more gently than it came back: see docs/limiter.md), never above max_rate,
 * never below the floor. Pure arithmetic on a plain struct:
 * the limiter (limiter.c) calls it under its writers' lock and applies what it returns; the Redis
 * limiter runs the same formulas in its script with these constants (gcra.lua).
 * Times are CLOCK_MONOTONIC seconds; rates requests per second. docs/limiter.md explains it. */
#ifndef CXB_RATE_CTL_H
#define CXB_RATE_CTL_H

#define CXB_CTL_BETA 0.7     /* a 429 cuts the send rate to this fraction */
#define CXB_CTL_C 0.4        /* the cubic's scale up to the plateau: (req/s) per s^3 */
#define CXB_CTL_C_PROBE 0.1  /* ... and above it, where it probes for more */
#define CXB_CTL_FLOOR 0.5    /* the lowest rate (or the start rate, when that is lower) */
#define CXB_CTL_STEP 0.02    /* a regrowth smaller than this fraction of the rate waits */
#define CXB_CTL_TICK 0.1     /* regrowth is applied at most this often (s) */
#define CXB_CTL_BUCKET 0.5   /* the send rate is measured over buckets this long (s) */
#define CXB_CTL_SMOOTH 0.8   /* weight of the newest bucket in the measured send rate */

/* Why a rate changed (events carry it as `reason`). */
typedef enum {
    CXB_RATE_START = 0, CXB_RATE_THROTTLED, CXB_RATE_REGROW, CXB_RATE_SET, CXB_RATE_SET_MAX
} cxb_rate_reason;

const char *cxb_rate_reason_name(int reason);

typedef struct cxb_ctl {
    double start, max_rate, floor;
    double wmax, t_cut;  /* the curve c (t - t_cut - K)^3 + wmax, K = cbrt(wmax (1 - BETA) / C),
                            c = C before the plateau (t < t_cut + K), C_PROBE after it */
    double found;        /* the send rate measured at the latest 429; 0 before the first */
    double measured;     /* the smoothed send rate; 0 until a bucket closed */
    double bucket_start;
} cxb_ctl;

/* A controller that starts at `start` (on the curve's plateau) and never exceeds max_rate. */
void cxb_ctl_init(cxb_ctl *c, double start, double max_rate, double now);

/* 1 when the measuring bucket is over: the caller then hands the grants counted since it began
 * to cxb_ctl_fold (and starts counting again). */
int cxb_ctl_bucket_due(const cxb_ctl *c, double now);
void cxb_ctl_fold(cxb_ctl *c, double grants, double now);

/* The rate the curve asks for now, given the rate in force: never above max_rate nor twice the
 * measured send rate (unless already there: an idle client does not grow), never below the
 * floor. */
double cxb_ctl_target(const cxb_ctl *c, double cur, double now);

/* 1 when moving from cur to target is worth an epoch change (STEP, or reaching a bound). */
int cxb_ctl_worth(const cxb_ctl *c, double cur, double target);

/* A 429 answered a request sent under the current rate: the curve restarts at BETA x the send
 * rate (the measured one, or cur when lower or not yet measured). Returns the new rate. */
double cxb_ctl_cut(cxb_ctl *c, double cur, double now);

/* An operator's set_rate: the curve's plateau moves to `rate`, reached now. */
void cxb_ctl_set(cxb_ctl *c, double rate, double now);
#endif
