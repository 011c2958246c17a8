/* Private to limiter.c and shm_limiter.c (and the C tests): the limiter's layout and the
 * lock-free GCRA step both kinds of limiter share.
 *
 * Both the process-local and the host-wide limiter keep the same two words of state, updated
 * only with compare-and-swap: the local one in its malloc'd struct, the shared one in a file
 * mapped from /dev/shm. One code path, no mutex anywhere, so a thread or process stopped at any
 * instant (even by SIGKILL) can never leave the state locked. */
#ifndef CXB_LIMITER_IMPL_H
#define CXB_LIMITER_IMPL_H
#include "limiter.h"
#include <stdatomic.h>
#include <stdint.h>

/* The whole mutable state: nanoseconds on CLOCK_MONOTONIC. */
struct cxb_gcra_state {
    _Atomic int64_t tat_ns;   /* theoretical arrival time of the next token */
    _Atomic int64_t pause_ns; /* no grant before this instant */
};

struct cxb_limiter {
    struct cxb_gcra_state *st; /* &local, or inside the shared mapping */
    int64_t interval_ns;       /* emission interval T = 1/rate, rounded up */
    int64_t tolerance_ns;      /* tau = (burst - 1) * T, rounded down */
    double rate, burst;
    void *map;                 /* shared mapping, NULL for a local limiter */
    size_t map_len;
    struct cxb_gcra_state local;
};

/* Validates rate and burst and fills interval_ns/tolerance_ns/rate/burst.
 * Returns 0, or -1 with a message in err. */
int cxb_limiter_set_params(cxb_limiter *l, double rate, double burst, char *err, size_t errlen);

/* Like cxb_limiter_acquire, and on a grant also stores the instant (CLOCK_MONOTONIC seconds)
 * the reservation was scheduled for. The rate bound is exact over these instants; the return
 * itself may come later by the sleep's wake-up latency. Used by the tests. */
int cxb_limiter_acquire_at(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono);

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t cxb_mono_ns(void);

/* Path of the /dev/shm file backing shared limit `name` (for tests and error messages).
 * Returns 0, or -1 if the name is invalid (message in err). */
int cxb_shared_limit_path(const char *name, char *path, size_t pathlen, char *err, size_t errlen);
#endif
