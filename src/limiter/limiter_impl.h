/* Private to limiter.c and shm_limiter.c (and the C tests): the limiter's layout and the
 * lock-free GCRA step both kinds of limiter share.
 *
 * Both the process-local and the host-wide limiter keep the same two words of state, updated
 * only with compare-and-swap: the local one in its malloc'd struct, the shared one in a file
 * mapped from /dev/shm. One code path, no mutex anywhere, so a thread or process stopped at any
 * instant (even by SIGKILL) can never leave the state locked. */
#ifndef CXB_LIMITER_IMPL_H
#define CXB_LIMITER_IMPL_H
#include "limiter/limiter.h"
#include "limiter/rate_ctl.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The whole mutable state, on CLOCK_MONOTONIC. The GCRA's tat is kept as the earliest instant
 * the next slot may be scheduled, next = tat - tau (the same schedule: see limiter.c), so that a
 * change of rate never has to move it back; and it carries the parity of the rate epoch it
 * belongs to, so that the compare-and-swap that reserves a slot also checks that the rate it was
 * computed with is still the one in force (limiter_rate.c):
 *     next_w = next_ns * 2 + epoch parity    (next_ns >= 0, never decreasing)
 * The pause is one word so that its end, the Retry-After that caused it and hence the instant it
 * was set are always read together:
 *     pause_w = until_ms << PAUSE_RA_BITS | retry_after_ds
 * (until in whole milliseconds, rounded up; Retry-After in deciseconds, rounded up). Ordering
 * the words orders the ends, so "extend, never shorten" is an atomic max over the word. */
struct cxb_gcra_state {
    _Atomic int64_t next_w;   /* earliest instant of the next slot (ns), and parity; see above */
    _Atomic int64_t pause_w;  /* packed pause, see above; 0 = none */
};

static inline int64_t cxb_next_of(int64_t w) { return w / 2; }
static inline int cxb_epoch_of(int64_t w) { return (int)(w & 1); }
static inline int64_t cxb_next_pack(int64_t next_ns, int epoch) { return next_ns * 2 + (epoch & 1); }

/* The rate in force and what changes it, shared like the GCRA words (in the handle, or in the
 * /dev/shm file). Readers (every acquire) never lock: they read the interval and tolerance of
 * the epoch parity their tat word names. Writers (a rate change: a cut, a regrowth step, an
 * operator's set_rate) hold mu, write the other parity's slot, then switch the tat word to it
 * with the new epoch's boundary (limiter.c). The figures status() reads are atomics too. */
struct cxb_rate_state {
    pthread_mutex_t mu;               /* writers only; robust and process-shared in /dev/shm */
    _Atomic int64_t interval_ns[2];   /* T of each epoch parity */
    _Atomic int64_t tolerance_ns[2];  /* tau of each epoch parity */
    _Atomic uint64_t rate_bits;       /* the rate in force (double bits) */
    _Atomic uint64_t max_bits;        /* max_rate (double bits) */
    _Atomic uint64_t found_bits;      /* the send rate at the latest 429 (double bits), 0: none */
    _Atomic uint64_t seq;             /* changes so far (each handle reports those it has not) */
    _Atomic int why;                  /* cxb_rate_reason of the latest change */
    _Atomic int64_t cut_at_ns;        /* boundary of the latest cut: older slots cut no more */
    _Atomic int64_t next_tick_ns;     /* no regrowth step before this instant */
    _Atomic int64_t grants;           /* since the controller's measuring bucket began */
    /* The latest slow-down (a cut, a lower set_rate): when, by how much (new T / old T), and a
     * count that tells a waiter whether one came after its reservation (cxb_limiter_stretch). */
    _Atomic int64_t slow_at_ns;
    _Atomic uint64_t slow_ratio_bits;
    _Atomic uint64_t slow_seq;
    cxb_ctl ctl;                      /* under mu */
};

/* The slowest rate (1e-6/s) and the largest tolerance a limiter accepts. */
#define CXB_MAX_INTERVAL_NS (INT64_C(1000000) * 1000000000LL)
#define CXB_MAX_TOLERANCE_NS (INT64_C(100000000) * 1000000000LL)

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
    int (*acquire)(cxb_limiter *l, const atomic_int *cancel, cxb_slot *slot);
    void (*pause)(cxb_limiter *l, int64_t until_ns, int64_t retry_after_ns);
    void (*free)(void *state);
    /* A 429 on this slot's request; a change of rate or max_rate (0: unchanged) for the store.
     * Both may be NULL; the rate figures are kept in l->rs either way. */
    void (*throttled)(cxb_limiter *l, const cxb_slot *slot);
    int (*set)(cxb_limiter *l, double rate, double max_rate, char *err, size_t errlen);
} cxb_limiter_backend;

#define LIMITER_NOTES_MAX 4

struct cxb_limiter {
    struct cxb_gcra_state *st; /* &local, or inside the shared mapping */
    struct cxb_rate_state *rs; /* &local_rs, or inside the shared mapping */
    int64_t interval_ns;       /* as configured: emission interval T = 1/rate, rounded up */
    int64_t tolerance_ns;      /* as configured: tau = (burst - 1) * T, rounded down */
    double rate, burst;        /* as configured (adaptive: rate is the start) */
    int adaptive;              /* rate = "auto": the controller moves the rate */
    double max_rate;           /* as configured (adaptive only) */
    void *map;                 /* shared mapping, NULL for a local limiter */
    size_t map_len;
    int attach_fd;             /* the shared file, held open with a shared flock (has_attach) */
    int has_attach;
    struct cxb_gcra_state local;
    struct cxb_rate_state local_rs;
    _Atomic uint64_t seq_seen;     /* the last change of rate this handle reported */
    _Atomic uint64_t reported_bits; /* the rate it reported then */
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

/* Delivers a note built by the caller (the same rules as cxb_limiter_note_raise). */
void cxb_limiter_note_deliver(cxb_limiter *l, const cxb_limiter_note *n);

/* Formats a CLOCK_MONOTONIC instant as UTC wall-clock ISO 8601 ("2026-11-28T13:01:02Z"). */
void cxb_mono_to_iso(int64_t mono_ns, char *buf, size_t len);

/* End of the pause in force on this handle's state (ns), 0 when none. */
int64_t cxb_pause_until_ns(cxb_limiter *l);

/* Reports (once per pause, per handle) a pause this handle did not set. */
void cxb_limiter_report_pause(cxb_limiter *l, int64_t now_ns);

/* Sleeps until CLOCK_MONOTONIC at_ns in slices of at most 50 ms; 1 if *cancel was set first. */
int cxb_sleep_until_ns(int64_t at_ns, const atomic_int *cancel);

/* One GCRA step on l's state at `now` (limiter.c): the instant the next slot may be used, reserved
 * unless only_if_now is set and that instant is in the future (*reserved says which). The
 * acquire below loops on it; the unit tests' non-blocking take (tests/limiter_try.h) calls it
 * once. */
int64_t cxb_gcra_reserve(cxb_limiter *l, int64_t now, int only_if_now, int *reserved);

/* The local GCRA acquire (what a backend uses to pace the slots it holds). */
int cxb_gcra_acquire_slot(cxb_limiter *l, const atomic_int *cancel, cxb_slot *slot);

/* Validates rate and burst and fills interval_ns/tolerance_ns/rate/burst.
 * Returns 0, or -1 with a message in err. */
int cxb_limiter_set_params(cxb_limiter *l, double rate, double burst, char *err, size_t errlen);

/* The emission interval and tolerance of `rate` with this limiter's burst (the same roundings
 * as cxb_limiter_set_params). 0, or -1 with a message naming the rate. */
int cxb_rate_params(double rate, double burst, int64_t *interval, int64_t *tolerance, char *err,
                    size_t errlen);

/* Makes l an adaptive limiter (start = l->rate) when adaptive; checks max_rate. 0 or -1. */
int cxb_limiter_set_mode(cxb_limiter *l, int adaptive, double max_rate, char *err, size_t errlen);

/* Fills a rate state for l's configured rate (and controller): the local one, the creator of a
 * shared file, a reset. pshared: the mutex lives in shared memory (robust, process-shared).
 * 0, or -1 when the mutex cannot be made. */
int cxb_rate_state_init(struct cxb_rate_state *rs, const cxb_limiter *l, int pshared);
/* The rate in force back at this handle's configured rate (and, adaptive, its max_rate and a
 * fresh controller): for the first process to attach to a shared state that outlived its users. */
void cxb_limiter_rate_restart(cxb_limiter *l);

/* A waiter's slot `at`, reserved when the slow-down count was *seq: when the rate was lowered
 * since, a slot still ahead of that instant c moves to c + (at - c) * ratio (the slots already
 * reserved go out at the new pace, as the new epoch's boundary assumed: limiter_rate.c). Returns
 * the instant to wait for and updates *seq. */
int64_t cxb_limiter_stretch(cxb_limiter *l, int64_t at, uint64_t *seq);

/* Records a slow-down from rate `from` to `to` at CLOCK_MONOTONIC now_ns (a Redis limiter that
 * learned of one from its store). */
void cxb_limiter_slowed(cxb_limiter *l, double from, double to, int64_t now_ns);

/* The controller's share of a grant (adaptive limiters): counts it, and at most every
 * CXB_CTL_TICK moves the rate along the curve (when the writers' lock is free). */
void cxb_limiter_rate_tick(cxb_limiter *l, int64_t now_ns);

/* Raises tat to at least tat_ns (the next slot to tat_ns - tau), keeping its epoch (a pause). */
void cxb_tat_raise(cxb_limiter *l, int64_t tat_ns);

/* Doubles kept in atomic words. */
static inline uint64_t cxb_dbits(double d)
{
    union { double d; uint64_t u; } x = { .d = d };
    return x.u;
}
static inline double cxb_bitsd(uint64_t u)
{
    union { double d; uint64_t u; } x = { .u = u };
    return x.d;
}

/* Reports (once per change, per handle) the rate in force when it changed since the last report. */
void cxb_limiter_report_rate(cxb_limiter *l);

/* Publishes figures a backend learned from its store (the rate and reason of change `seq`). */
void cxb_limiter_store_rate(cxb_limiter *l, double rate, double max_rate, double found, uint64_t seq,
                            int why);

/* Like cxb_limiter_acquire, and on a grant also stores the instant (CLOCK_MONOTONIC seconds)
 * the reservation was scheduled for. The rate bound is exact over these instants; the return
 * itself may come later by the sleep's wake-up latency. Used by the tests. */
int cxb_limiter_acquire_at(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono);

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t cxb_mono_ns(void);

/* The host-wide limiter c->shared names (/dev/shm), fixed or adaptive. */
cxb_limiter *cxb_limiter_open_shm(const cxb_limit_config *c, char *err, size_t errlen);

/* Path of the /dev/shm file backing shared limit `name` (for tests and error messages).
 * Returns 0, or -1 if the name is invalid (message in err). */
int cxb_shared_limit_path(const char *name, char *path, size_t pathlen, char *err, size_t errlen);
#endif
