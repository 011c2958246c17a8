/* Token-bucket rate limiter (GCRA with reservations) and the pool-wide pause gate.
 *
 * One limiter is shared by every worker of a job; with cxb_limiter_open_shared() it is shared by
 * every process on the host that names the same limit (state in /dev/shm, lock-free).
 * Guarantee: in any window of T seconds at most burst + rate*T acquisitions are scheduled
 * (acquire returns at the scheduled instant plus the sleep's wake-up latency). Lock-free: no
 * mutex is held anywhere, so a thread or process stopped at any instant cannot wedge others. */
#ifndef CXB_LIMITER_H
#define CXB_LIMITER_H
#include <stdatomic.h>
#include <stddef.h>

typedef struct cxb_limiter cxb_limiter;

/* Process-local limiter. rate > 0 (tokens/s), burst >= 1. Returns NULL and a message in err
 * ("burst must be >= 1 (got 0.5)") on bad parameters or allocation failure. */
cxb_limiter *cxb_limiter_new(double rate, double burst, char *err, size_t errlen);

/* Host-wide limiter named `name` ([A-Za-z0-9._-]{1,64}); created on first use. Every process must
 * give the same rate and burst, otherwise NULL with a message naming both values. */
cxb_limiter *cxb_limiter_open_shared(const char *name, double rate, double burst,
                                     char *err, size_t errlen);

/* Blocks until one token is granted and no pause is in force. Returns 0 when granted, 1 when
 * *cancel became non-zero while waiting (checked at least every 50 ms). cancel may be NULL. */
int cxb_limiter_acquire(cxb_limiter *l, const atomic_int *cancel);

/* Non-blocking variant: returns 0 and takes a token if one is available now, otherwise returns
 * the seconds to wait (> 0) without taking anything. */
double cxb_limiter_try(cxb_limiter *l);

/* Pauses every acquirer until CLOCK_MONOTONIC time `until` (extends, never shortens, a pause in
 * force). Tokens reserved before the pause are forfeited, so the bound above still holds. */
void cxb_limiter_pause(cxb_limiter *l, double until_mono);

/* Seconds left of the pause in force (0 when none). */
double cxb_limiter_pause_remaining(cxb_limiter *l);

void cxb_limiter_free(cxb_limiter *l);
#endif
