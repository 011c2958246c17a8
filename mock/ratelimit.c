#include "ratelimit.h"

void ratelimit_init(struct ratelimit *rl, double rate, double burst, double now)
{
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = rate;
    rl->burst = burst;
    rl->tokens = burst;
    rl->last = now;
    atomic_init(&rl->enabled, rate > 0);
}

void ratelimit_destroy(struct ratelimit *rl)
{
    pthread_mutex_destroy(&rl->mu);
}

static void refill(struct ratelimit *rl, double now)
{
    /* Threads read the clock before taking the lock, so `now` can be a hair older than
     * `last`; never move `last` back (that would count the same interval twice). */
    if (now > rl->last) {
        rl->tokens += (now - rl->last) * rl->rate;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last = now;
    }
}

void ratelimit_configure(struct ratelimit *rl, double rate, double burst, double now)
{
    pthread_mutex_lock(&rl->mu);
    refill(rl, now);
    rl->rate = rate;
    rl->burst = burst;
    if (rl->tokens > burst)
        rl->tokens = burst;
    atomic_store(&rl->enabled, rate > 0);
    pthread_mutex_unlock(&rl->mu);
}

void ratelimit_refill(struct ratelimit *rl, double now)
{
    pthread_mutex_lock(&rl->mu);
    rl->tokens = rl->burst;
    rl->last = now;
    pthread_mutex_unlock(&rl->mu);
}

bool ratelimit_take(struct ratelimit *rl, double now, double *wait)
{
    if (!atomic_load_explicit(&rl->enabled, memory_order_relaxed))
        return true;
    pthread_mutex_lock(&rl->mu);
    bool ok;
    if (rl->rate <= 0) {
        ok = true; /* disabled between the check above and the lock */
    } else {
        refill(rl, now);
        ok = rl->tokens >= 1.0;
        if (ok)
            rl->tokens -= 1.0;
        else
            *wait = (1.0 - rl->tokens) / rl->rate;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
