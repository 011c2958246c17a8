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

/* Converts a relative timeout in seconds into an absolute CLOCK_MONOTONIC timespec
 * (for pthread_cond_timedwait on a condvar created with pthread_condattr_setclock). */
static inline struct timespec cxb_deadline_ts(double seconds_from_now)
{
    double t = cxb_now_mono() + (seconds_from_now > 0 ? seconds_from_now : 0);
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return ts;
}
#endif
