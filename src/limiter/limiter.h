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
#include <stdint.h>

typedef struct cxb_limiter cxb_limiter;

/* What a limiter tells its owner while it works, from the thread that noticed (a worker), so
 * that a waiting run can say why it waits and until when. */
typedef enum {
    CXB_LIM_NOTE_PAUSE = 1, /* waiting on a pause this handle did not set (another process) */
    CXB_LIM_NOTE_STATE,     /* something about the limit's state: a reset, a script (re)load */
    CXB_LIM_NOTE_WAIT,      /* the limit's store is unreachable: waiting (fail closed) */
    CXB_LIM_NOTE_FATAL,     /* given up: the batch must fail with this message */
    CXB_LIM_NOTE_RATE       /* the rate in force changed (rate, prev, reason) */
} cxb_limiter_note_kind;

typedef struct cxb_limiter_note {
    cxb_limiter_note_kind kind;
    double wait;    /* seconds this wait may last (pause left, next retry of the store), or 0 */
    double rate, prev; /* RATE: the new rate and the one this handle reported before */
    int reason;     /* RATE: a cxb_rate_reason (rate_ctl.h) */
    char msg[240];  /* never holds a secret */
} cxb_limiter_note;

typedef void (*cxb_limiter_notify_fn)(void *arg, const cxb_limiter_note *note);

/* Where the notes go. Notes raised before this call (while opening) are delivered now, on the
 * calling thread. The hook must not call back into the limiter. */
void cxb_limiter_set_notify(cxb_limiter *l, cxb_limiter_notify_fn fn, void *arg);

/* Everything that selects and tunes a limiter. */
typedef struct cxb_limit_config {
    double rate, burst;   /* adaptive: rate is where the controller starts */
    const char *shared;   /* NULL: process-local; a name: /dev/shm; redis:// or unix://: Redis */
    double store_timeout; /* Redis unreachable this long (s) -> the batch fails (0: default 30) */
    const char *fallback; /* NULL, or "local:RATE": a local bucket while Redis is unreachable */
    int adaptive;         /* rate = "auto": the controller moves the rate (docs/limiter.md) */
    double max_rate;      /* adaptive: the rate never exceeds this */
} cxb_limit_config;

/* Opens the limiter the config names (no network I/O: a Redis limiter connects on first use,
 * on the acquiring thread). NULL with a message on bad input. */
cxb_limiter *cxb_limiter_open(const cxb_limit_config *c, char *err, size_t errlen);

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

/* A granted slot: the instant it was scheduled for (CLOCK_MONOTONIC ns) and the generation of
 * cuts it was granted under (Redis). What a 429 on the request it carried is judged by. */
typedef struct cxb_slot {
    int64_t at_ns;
    uint64_t gen;
} cxb_slot;

/* cxb_limiter_acquire, telling which slot was granted. */
int cxb_limiter_acquire_slot(cxb_limiter *l, const atomic_int *cancel, cxb_slot *slot);

/* The request sent on `slot` was answered 429. An adaptive limiter cuts its rate, once per
 * loss: a 429 on a slot granted before the latest cut took effect changes nothing. Fixed rate:
 * nothing. Never blocks on the network (Redis: one exchange under the handle's mutex). */
void cxb_limiter_throttled(cxb_limiter *l, const cxb_slot *slot);

/* The rate in force and its bounds. rate_found: the send rate at the latest 429 (0: none yet). */
typedef struct cxb_rate_status {
    double rate, max_rate, rate_found;
    int adaptive;
} cxb_rate_status;
void cxb_limiter_rate_status(cxb_limiter *l, cxb_rate_status *out);

/* Changes the rate of a running limiter (every process sharing it applies it: /dev/shm at
 * once, Redis at the next refill of any process). Adaptive: the controller goes on from `rate`
 * (which must not exceed max_rate). 0, or -1 with a message naming the value. */
int cxb_limiter_set_rate(cxb_limiter *l, double rate, char *err, size_t errlen);

/* Adaptive only: a new ceiling (> 0); a rate above it drops to it at once. 0, or -1 and why. */
int cxb_limiter_set_max_rate(cxb_limiter *l, double max_rate, char *err, size_t errlen);

/* Pauses every acquirer until CLOCK_MONOTONIC time `until` (extends, never shortens, a pause in
 * force). Tokens reserved before the pause are forfeited, so the bound above still holds. */
void cxb_limiter_pause(cxb_limiter *l, double until_mono);

/* Seconds left of the pause in force (0 when none). */
double cxb_limiter_pause_remaining(cxb_limiter *l);

void cxb_limiter_free(cxb_limiter *l);
#endif
