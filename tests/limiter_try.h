/* A non-blocking take for the limiter tests: 0 with a slot taken when one is available now,
 * otherwise the seconds to wait (> 0) with nothing taken. The engine never needs it (a worker
 * waits for its slot), so it lives here, on the reservation step the acquire uses
 * (cxb_gcra_reserve). Local and host-wide limiters only: a Redis limiter's slots come from the
 * server, which this does not ask. */
#ifndef CXB_TEST_LIMITER_TRY_H
#define CXB_TEST_LIMITER_TRY_H
#include "limiter/limiter_impl.h"

static inline double limiter_try(cxb_limiter *l)
{
    int reserved;
    int64_t now = cxb_mono_ns();
    int64_t at = cxb_gcra_reserve(l, now, 1, &reserved);
    if (reserved) return 0;
    double wait = (double)(at - now) / 1e9;
    return wait > 1e-9 ? wait : 1e-9; /* "> 0" is the contract for "not granted" */
}
#endif
