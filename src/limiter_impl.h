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

/* The whole mutable state, on CLOCK_MONOTONIC. The pause is one word so that its end, the
 * Retry-After that caused it and hence the instant it was set are always read together:
 *     pause_w = until_ms << PAUSE_RA_BITS | retry_after_ds
 * (until in whole milliseconds, rounded up; Retry-After in deciseconds, rounded up). Ordering
 * the words orders the ends, so "extend, never shorten" is an atomic max over the word. */
struct cxb_gcra_state {
    _Atomic int64_t tat_ns;   /* theoretical arrival time of the next token (ns) */
    _Atomic int64_t pause_w;  /* packed pause, see above; 0 = none */
};

#define PAUSE_RA_BITS 20
#define PAUSE_RA_MAX_DS ((INT64_C(1) << PAUSE_RA_BITS) - 1)
/* The longest pause a server can ask for: backoff.c caps Retry-After at one day. A stored pause
 * longer than this, or set in the future, cannot come from this library and is reset. */
#define PAUSE_MAX_NS (INT64_C(86400) * 1000000000LL)

/* A pause decoded: all CLOCK_MONOTONIC nanoseconds (set_ns = until_ns - retry_after_ns). */
typedef struct cxb_pause_info {
    int64_t until_ns, set_ns, retry_after_ns;
} cxb_pause_info;

int64_t cxb_pause_pack(int64_t until_ns, int64_t retry_after_ns);
void cxb_pause_unpack(int64_t w, cxb_pause_info *out);

/* An alternative engine behind the same handle (the Redis limiter): acquire and pause go
 * through it instead of the local GCRA step. */
typedef struct cxb_limiter_backend {
    int (*acquire)(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono);
    void (*pause)(cxb_limiter *l, int64_t until_ns, int64_t retry_after_ns);
    void (*free)(void *state);
} cxb_limiter_backend;

#define LIMITER_NOTES_MAX 4

struct cxb_limiter {
    struct cxb_gcra_state *st; /* &local, or inside the shared mapping */
    int64_t interval_ns;       /* emission interval T = 1/rate, rounded up */
    int64_t tolerance_ns;      /* tau = (burst - 1) * T, rounded down */
    double rate, burst;
    void *map;                 /* shared mapping, NULL for a local limiter */
    size_t map_len;
    struct cxb_gcra_state local;
    const cxb_limiter_backend *be; /* NULL: the GCRA step on *st */
    void *be_state;
    char label[96];            /* how messages name the limit ("shared limit 'x'") */
    _Atomic int64_t pause_seen; /* last pause word this handle set or reported */
    cxb_limiter_notify_fn notify;
    void *notify_arg;
    /* Notes raised before a notify hook was set (e.g. a state reset while opening). */
    cxb_limiter_note pending[LIMITER_NOTES_MAX];
    int npending;
};

/* Delivers a note to the hook, or keeps it until one is set (no lock: only the opening thread
 * raises notes before the hook is set). */
void cxb_limiter_note_raise(cxb_limiter *l, cxb_limiter_note_kind kind, double wait,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Formats a CLOCK_MONOTONIC instant as UTC wall-clock ISO 8601 ("2026-11-28T13:01:02Z"). */
void cxb_mono_to_iso(int64_t mono_ns, char *buf, size_t len);

/* End of the pause in force on this handle's state (ns), 0 when none. */
int64_t cxb_pause_until_ns(cxb_limiter *l);

/* Reports (once per pause, per handle) a pause this handle did not set. */
void cxb_limiter_report_pause(cxb_limiter *l, int64_t now_ns);

/* Sleeps until CLOCK_MONOTONIC at_ns in slices of at most 50 ms; 1 if *cancel was set first. */
int cxb_sleep_until_ns(int64_t at_ns, const atomic_int *cancel);

/* The local GCRA acquire (what a backend uses to pace the slots it holds). */
int cxb_gcra_acquire_at(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono);

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
