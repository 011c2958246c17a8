/* Picks the limiter a job's options name: process-local, host-wide (/dev/shm) or fleet-wide
 * (Redis). Kept apart from limiter.c so the C tests of the local limiter link nothing else. */
#include "limiter/limiter_impl.h"
#include "limiter/redis_limiter.h"

#include <stdio.h>
#include <string.h>

static int is_redis_url(const char *s)
{
    return strncmp(s, "redis://", 8) == 0 || strncmp(s, "unix://", 7) == 0;
}

static cxb_limiter *limiter_local(const cxb_limit_config *c, char *err, size_t errlen)
{
    cxb_limiter *l = cxb_limiter_new(c->rate, c->burst, err, errlen);
    if (l && cxb_limiter_set_mode(l, c->adaptive, c->max_rate, err, errlen) != 0) {
        cxb_limiter_free(l);
        return NULL;
    }
    return l;
}

cxb_limiter *cxb_limiter_open(const cxb_limit_config *c, char *err, size_t errlen)
{
    if (!c->shared) {
        if (c->fallback && err && errlen)
            snprintf(err, errlen, "shared_limit_fallback needs a redis:// or unix:// shared_limit");
        return c->fallback ? NULL : limiter_local(c, err, errlen);
    }
    if (is_redis_url(c->shared))
        return cxb_redis_limiter_open(c, err, errlen);
    if (c->fallback) {
        if (err && errlen)
            snprintf(err, errlen, "shared_limit_fallback needs a redis:// or unix:// shared_limit");
        return NULL;
    }
    return cxb_limiter_open_shm(c, err, errlen);
}
