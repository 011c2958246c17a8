/* Fleet-wide limiter: the GCRA bucket of limiter.c kept in Redis, shared by every process on
 * every host that names the same URL and key (see docs/limiter.md, "The fleet-wide limit"). */
#ifndef CXB_REDIS_LIMITER_H
#define CXB_REDIS_LIMITER_H
#include "limiter/limiter.h"

/* c->shared is "redis://[user:password@]host[:port][/db]?key=NAME" or "unix:///path[?db=N&]key=NAME";
 * the password may also come from $CXONE_REDIS_PASSWORD. Parses only: the connection is made by
 * the first acquire, on that (engine) thread. NULL with a message that never holds the password. */
cxb_limiter *cxb_redis_limiter_open(const cxb_limit_config *c, char *err, size_t errlen);
#endif
