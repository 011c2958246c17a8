/* Monotonic and wall clock helpers shared by the core (header-only). */
#ifndef CXB_CLOCK_H
#define CXB_CLOCK_H
#include <time.h>

/* Seconds on CLOCK_MONOTONIC. System-wide on Linux, so values are comparable across processes
 * (the shared limiter relies on this). */
static inline double cxb_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double cxb_now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The longest relative wait cxb_deadline_ts honours (about 116 days). A caller's "forever"
 * (math.huge, 1e300) becomes this: converting now + 1e300 to time_t is undefined and produced a
 * garbage deadline on which pthread_cond_timedwait failed at once, so the waiter spun. */
#define CXB_WAIT_MAX 1e7

/* Converts a relative timeout in seconds into an absolute CLOCK_MONOTONIC timespec
 * (for pthread_cond_timedwait on a condvar created with pthread_condattr_setclock).
 * NaN and negative waits are 0; waits above CXB_WAIT_MAX are CXB_WAIT_MAX. */
static inline struct timespec cxb_deadline_ts(double seconds_from_now)
{
    double wait = seconds_from_now > 0 ? seconds_from_now : 0; /* NaN compares false */
    if (wait > CXB_WAIT_MAX)
        wait = CXB_WAIT_MAX;
    double t = cxb_now_mono() + wait;
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return ts;
}
#endif
