/* The tenant's request budget over /api/: a token bucket refilled at `rate` per second
 * holding at most `burst` tokens. */
#ifndef CXONE_MOCK_RATELIMIT_H
#define CXONE_MOCK_RATELIMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct ratelimit {
    pthread_mutex_t mu;
    double rate, burst, tokens, last;
    _Atomic bool enabled; /* rate > 0; read without the lock on the fast path */
};

void ratelimit_init(struct ratelimit *rl, double rate, double burst, double now);
void ratelimit_destroy(struct ratelimit *rl);
/* New parameters; the bucket keeps its level (capped at the new burst). */
void ratelimit_configure(struct ratelimit *rl, double rate, double burst, double now);
/* Refills the bucket completely (used by /_mock/reset). */
void ratelimit_refill(struct ratelimit *rl, double now);
/* Takes one token. When none is left returns false with the seconds until one is. */
bool ratelimit_take(struct ratelimit *rl, double now, double *wait);

#endif
