/* Fleet-wide limiter: one GCRA bucket in Redis, updated only by one Lua script (EVALSHA,
 * reloaded on NOSCRIPT) on the Redis server's clock, so every process on every host that names
 * the same key draws from one bucket and one pause.
 *
 * Each refill reserves up to ~100 ms of quota (slots whose wait is at most LOOKAHEAD_US) in one
 * round-trip and paces those slots locally; a slot not taken within 100 ms of its instant
 * expires. Every Redis call runs on the acquiring thread (an engine worker), under the handle's
 * mutex, with a 50 ms connect and command timeout. When Redis fails nothing is granted (fail
 * closed): the waiters retry with backoff, the owner is told, and after store_timeout seconds
 * the batch fails; with a fallback a local bucket at a reduced rate grants instead. */
#include "limiter/redis_limiter.h"
#include "limiter/limiter_impl.h"
#include "common/redact.h"
#include "common/text_fit.h"
#include "limiter/gcra_lua.h" /* generated from limiter/gcra.lua: CXB_GCRA_LUA, the script's text */
#include "limiter/redis_url.h"

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_TIMEOUT_US 50000        /* connect and command timeout */
#define LOOKAHEAD_US 100000        /* quota reserved per round-trip: slots due within 100 ms */
#define MAX_WAIT_US 500000         /* a single reservation may lie this far ahead; also the head
                                      start a fresh bucket gives the reservations made before it */
#define SLOTS_MAX 64
#define SLOT_STALE_NS 100000000LL  /* a slot this late is dropped, as in limiter.c */
#define BACKOFF_MIN_NS 50000000LL
#define BACKOFF_MAX_NS 1000000000LL
#define STR_(x) #x
#define STR(x) STR_(x)
#define HEAD 7                     /* the script's reply head: code, cur, gen, found, max, seq, why */

typedef struct redis_lim {
    cxb_redis_target tg;       /* host, socket, key, password (never in any message) */
    double timeout_s;
    cxb_limiter *fallback;     /* local bucket while Redis is unreachable, or NULL */
    char rate_s[80], burst_s[32], start_s[32], max_s[32];
    _Atomic uint64_t gen;      /* the bucket's cuts so far, as last heard */
    _Atomic uint64_t set_rate_bits, set_max_bits; /* a change for the bucket (0: none) */
    pthread_mutex_t mu;        /* everything below; held across one Redis exchange */
    redisContext *ctx;
    char sha[41];
    int64_t slots[SLOTS_MAX];  /* CLOCK_MONOTONIC instants reserved for this process */
    uint64_t slot_gen[SLOTS_MAX]; /* the generation each was granted under */
    int head, nslots;
    int64_t down_since, next_try, backoff;
    int told_down;
    int refused;               /* Redis refused us for good (WRONGPASS, NOPERM, ...): no retry helps */
} redis_lim;

typedef enum { RL_GRANTED, RL_WAIT, RL_PAUSED, RL_DOWN, RL_FATAL } rl_status;

/* ---- one exchange with Redis (r->mu held) ----------------------------------------------------- */

static void rl_redact(const redis_lim *r, char *msg)
{
    const char *const secrets[] = {r->tg.password};
    cxb_redact(msg, secrets, 1);
}

static void rl_drop(redis_lim *r)
{
    if (r->ctx) redisFree(r->ctx);
    r->ctx = NULL;
}

/* An error reply that no retry can cure: its code (the first word, by the RESP convention) says
 * the credentials or the user's permissions are wrong. */
static int rl_permanent(const redisReply *rep)
{
    static const char *const codes[] = {"WRONGPASS", "NOPERM", "NOAUTH", "ERR invalid password",
                                        "ERR AUTH", "ERR Client sent AUTH"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strncmp(rep->str, codes[i], strlen(codes[i])) == 0) return 1;
    return 0;
}

/* A reply that is an error, or a dead connection, as a message (never the password). */
static int rl_failed(redis_lim *r, redisReply *rep, const char *what, char *msg, size_t len)
{
    if (rep && rep->type != REDIS_REPLY_ERROR) return 0;
    if (rep && rep->str && rl_permanent(rep)) r->refused = 1;
    if (rep)
        snprintf(msg, len, "%s: %s", what, rep->str);
    else
        snprintf(msg, len, "%s: %s", what, r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "no reply");
    rl_redact(r, msg);
    return 1;
}

static int rl_simple(redis_lim *r, const char *what, char *msg, size_t len, int argc,
                     const char **argv)
{
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, NULL);
    int bad = rl_failed(r, rep, what, msg, len);
    if (rep) freeReplyObject(rep);
    if (bad) rl_drop(r);
    return bad ? -1 : 0;
}

static int rl_connect(redis_lim *r, char *msg, size_t len)
{
    struct timeval tv = {0, IO_TIMEOUT_US};
    r->ctx = r->tg.sock[0] ? redisConnectUnixWithTimeout(r->tg.sock, tv)
                           : redisConnectWithTimeout(r->tg.host, r->tg.port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(msg, len, "connect: %s", r->ctx ? r->ctx->errstr : "out of memory");
        rl_drop(r);
        return -1;
    }
    redisSetTimeout(r->ctx, tv);
    if (r->tg.password) {
        const char *a[] = {"AUTH", r->tg.user[0] ? r->tg.user : r->tg.password, r->tg.password};
        if (rl_simple(r, "AUTH", msg, len, r->tg.user[0] ? 3 : 2, a) != 0) return -1;
    }
    if (r->tg.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->tg.db);
        const char *a[] = {"SELECT", db};
        if (rl_simple(r, "SELECT", msg, len, 2, a) != 0) return -1;
    }
    return 0;
}

static int rl_load_script(cxb_limiter *l, redis_lim *r, char *msg, size_t len)
{
    redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", CXB_GCRA_LUA);
    if (rl_failed(r, rep, "SCRIPT LOAD", msg, len) || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        if (rep && !msg[0]) snprintf(msg, len, "SCRIPT LOAD: unexpected reply");
        if (rep) freeReplyObject(rep);
        rl_drop(r);
        return -1;
    }
    int reload = r->sha[0] != '\0';
    memcpy(r->sha, rep->str, 40);
    r->sha[40] = '\0';
    freeReplyObject(rep);
    if (reload)
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_STATE, 0, "%s: loaded the limiter script again "
                               "(NOSCRIPT: Redis restarted or flushed its scripts)", l->label);
    return 0;
}

/* What one call changes on the bucket: nothing, or an operator's set_rate / set_max_rate. */
typedef struct rl_change {
    char rate[32], max[32]; /* "" = unchanged */
} rl_change;

/* The script's arguments after the key (gcra.lua): the configured rate and controller. */
static void rl_args(cxb_limiter *l, redis_lim *r, const char *mode, const char *arg5,
                    const rl_change *ch, char buf[][32], const char **a)
{
    cxb_rate_status st;
    cxb_limiter_rate_status(l, &st);
    double fastest = fmax(l->rate, fmax(st.rate, st.max_rate));
    double per = ceil(fastest * LOOKAHEAD_US / 1e6);
    snprintf(buf[0], 32, "%lld", (long long)((l->interval_ns + 999) / 1000));
    snprintf(buf[1], 32, "%lld", (long long)(l->tolerance_ns / 1000));
    snprintf(buf[2], 32, "%d", per < 1 ? 1 : per > SLOTS_MAX ? SLOTS_MAX : (int)per);
    snprintf(buf[3], 32, "%.0f", CXB_CTL_TICK * 1e6);
    snprintf(buf[4], 32, "%.0f", CXB_CTL_BUCKET * 1e6);
    const char *v[] = {mode, buf[0], buf[1], buf[2], arg5, r->rate_s, r->burst_s, STR(MAX_WAIT_US),
                       l->adaptive ? "1" : "0", r->start_s, r->max_s, ch ? ch->rate : "",
                       ch ? ch->max : "", STR(CXB_CTL_BETA), STR(CXB_CTL_C), STR(CXB_CTL_FLOOR),
                       STR(CXB_CTL_STEP), buf[3], buf[4], STR(CXB_CTL_SMOOTH), STR(CXB_CTL_C_PROBE)};
    memcpy(a, v, sizeof v);
}

#define RL_ARGS 21

/* Runs the script, loading it first when Redis does not know it. NULL with msg on failure. */
static redisReply *rl_eval(cxb_limiter *l, redis_lim *r, const char *mode, const char *arg5,
                           const rl_change *ch, char *msg, size_t len)
{
    if (!r->ctx && rl_connect(r, msg, len) != 0) return NULL;
    if (!r->sha[0] && rl_load_script(l, r, msg, len) != 0) return NULL;
    char buf[5][32];
    const char *a[4 + RL_ARGS] = {"EVALSHA", NULL, "1", r->tg.key};
    rl_args(l, r, mode, arg5, ch, buf, a + 4);
    for (int attempt = 0; attempt < 2; attempt++) {
        a[1] = r->sha;
        redisReply *rep = redisCommandArgv(r->ctx, 4 + RL_ARGS, a, NULL);
        if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(rep);
            if (rl_load_script(l, r, msg, len) != 0) return NULL;
            continue;
        }
        if (rl_failed(r, rep, "EVALSHA", msg, len) || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) {
            if (rep && !msg[0]) snprintf(msg, len, "EVALSHA: unexpected reply");
            if (rep) freeReplyObject(rep);
            rl_drop(r);
            return NULL;
        }
        return rep;
    }
    snprintf(msg, len, "EVALSHA: NOSCRIPT right after SCRIPT LOAD");
    rl_drop(r);
    return NULL;
}

static long long rep_int(const redisReply *rep, size_t i)
{
    if (i >= rep->elements) return 0;
    const redisReply *e = rep->element[i];
    if (e->type == REDIS_REPLY_INTEGER) return e->integer;
    if (e->type == REDIS_REPLY_STRING) return atoll(e->str);
    return 0;
}

/* ---- acquiring -------------------------------------------------------------------------------- */

/* A server pause becomes this handle's local pause (so every waiter here sleeps it out and the
 * owner hears of it once, through the local pause report). */
static void rl_learn_pause(cxb_limiter *l, int64_t now, long long left_us, long long ra_us)
{
    int64_t until = now + (int64_t)left_us * 1000;
    int64_t w = cxb_pause_pack(until, (int64_t)ra_us * 1000);
    int64_t cur = atomic_load(&l->st->pause_w);
    cxb_pause_info p;
    cxb_pause_unpack(cur, &p);
    if (until <= p.until_ns + SLOT_STALE_NS) return; /* already known (e.g. our own pause) */
    while (cur < w && !atomic_compare_exchange_weak(&l->st->pause_w, &cur, w)) {
    }
}

/* A rate the script sent back (a string, %.17g), or 0. */
static double rep_num(const redisReply *rep, size_t i)
{
    if (i >= rep->elements) return 0;
    const redisReply *e = rep->element[i];
    return e->type == REDIS_REPLY_STRING ? strtod(e->str, NULL) : (double)rep_int(rep, i);
}

/* Every reply but a mismatch says the bucket's rate: this handle publishes it (status, and a
 * rate event for a change it has not reported yet, raised once the mutex is released). */
static void rl_learn_rate(cxb_limiter *l, redis_lim *r, const redisReply *rep)
{
    if (rep->elements < HEAD) return;
    double was = cxb_bitsd(atomic_load(&l->rs->rate_bits)), rate = rep_num(rep, 1);
    uint64_t gen = (uint64_t)rep_int(rep, 2);
    if (gen > atomic_load(&r->gen) && rate < was) /* a cut: the script stretched the schedule */
        cxb_limiter_slowed(l, was, rate, cxb_mono_ns());
    atomic_store(&r->gen, gen);
    cxb_limiter_store_rate(l, rep_num(rep, 1), rep_num(rep, 4), rep_num(rep, 3),
                           (uint64_t)rep_int(rep, 5), (int)rep_int(rep, 6));
}

/* Takes an operator's change waiting for the bucket (set_rate, set_max_rate) into ch. */
static int rl_take_change(redis_lim *r, rl_change *ch)
{
    uint64_t rate = atomic_exchange(&r->set_rate_bits, 0), max = atomic_exchange(&r->set_max_bits, 0);
    ch->rate[0] = ch->max[0] = '\0';
    if (rate) snprintf(ch->rate, sizeof ch->rate, "%.17g", cxb_bitsd(rate));
    if (max) snprintf(ch->max, sizeof ch->max, "%.17g", cxb_bitsd(max));
    return rate || max;
}

/* A change that did not reach Redis waits for the next exchange (unless a newer one came). */
static void rl_keep_change(redis_lim *r, const rl_change *ch)
{
    uint64_t none = 0;
    if (ch->rate[0]) atomic_compare_exchange_strong(&r->set_rate_bits, &none, cxb_dbits(strtod(ch->rate, NULL)));
    none = 0;
    if (ch->max[0]) atomic_compare_exchange_strong(&r->set_max_bits, &none, cxb_dbits(strtod(ch->max, NULL)));
}

/* The mismatch message: what the bucket holds and what this process asked for ("45/s", or
 * "auto (start 45/s, max 90/s)"). */
/* A stored figure as people read it: "0.1/s" (%g, not the exact %.17g the key keeps), or "auto". */
static void rl_figure(const char *s, const char *unit, char *out, size_t len)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0')
        snprintf(out, len, "%g%s", v, unit);
    else
        snprintf(out, len, "%s", s);
}

static void rl_mismatch(cxb_limiter *l, redis_lim *r, const redisReply *rep, char *msg, size_t len)
{
    const redisReply *a = rep->elements > 2 ? rep->element[1] : NULL, *b = a ? rep->element[2] : NULL;
    char was[48], was_burst[32], asked[48], asked_burst[32];
    rl_figure(a && a->str ? a->str : "?", "/s", was, sizeof was);
    rl_figure(b && b->str ? b->str : "?", "", was_burst, sizeof was_burst);
    rl_figure(r->rate_s, l->adaptive ? "" : "/s", asked, sizeof asked);
    rl_figure(r->burst_s, "", asked_burst, sizeof asked_burst);
    cxb_text_fit(msg, len, snprintf(msg, len, "%s was created with rate %s burst %s; this process asked for "
                                    "rate %s burst %s", l->label, was, was_burst, asked, asked_burst));
}

/* One round-trip: fills the slot ring. *wait_ns says when to ask again when nothing came. */
static rl_status rl_refill(cxb_limiter *l, redis_lim *r, int64_t *wait_ns, char *msg, size_t len)
{
    char look[16];
    snprintf(look, sizeof look, "%d", LOOKAHEAD_US);
    rl_change ch;
    int changing = rl_take_change(r, &ch);
    redisReply *rep = rl_eval(l, r, "take", look, changing ? &ch : NULL, msg, len);
    if (!rep) {
        if (changing) rl_keep_change(r, &ch);
        return RL_DOWN;
    }
    int64_t now = cxb_mono_ns(); /* after the reply: slots can only come later, never earlier */
    long long code = rep_int(rep, 0);
    rl_status st = RL_GRANTED;
    if (code != -1) rl_learn_rate(l, r, rep);
    uint64_t gen = atomic_load(&r->gen);
    if (code == -1) {
        rl_mismatch(l, r, rep, msg, len);
        st = RL_FATAL;
    } else if (code == -2) {
        rl_learn_pause(l, now, rep_int(rep, HEAD), rep_int(rep, HEAD + 1));
        st = RL_PAUSED;
    } else if (code == 1) {
        *wait_ns = (int64_t)rep_int(rep, HEAD) * 1000;
        st = RL_WAIT;
    } else {
        for (size_t i = HEAD; i < rep->elements && r->nslots < SLOTS_MAX; i++) {
            int k = (r->head + r->nslots++) % SLOTS_MAX;
            r->slots[k] = now + (int64_t)rep_int(rep, i) * 1000;
            r->slot_gen[k] = gen;
        }
    }
    freeReplyObject(rep);
    return st;
}

/* The next slot of this process that is not stale (0: none), and its generation. */
static int64_t rl_pop(redis_lim *r, int64_t now, uint64_t *gen)
{
    while (r->nslots > 0) {
        int64_t at = r->slots[r->head];
        *gen = r->slot_gen[r->head];
        r->head = (r->head + 1) % SLOTS_MAX;
        r->nslots--;
        if (now - at <= SLOT_STALE_NS) return at;
    }
    return 0;
}

/* Redis did not answer: back off, tell the owner once per outage, give up after the timeout. */
static rl_status rl_down(cxb_limiter *l, redis_lim *r, int64_t now, const char *why, int64_t *wait_ns)
{
    if (!r->down_since) {
        r->down_since = now;
        r->backoff = BACKOFF_MIN_NS;
    } else if (r->backoff < BACKOFF_MAX_NS) {
        r->backoff *= 2;
    }
    r->next_try = now + r->backoff;
    /* The last try falls on the timeout, not up to a whole backoff after it, so the figure
     * reported is the timeout the operator gave (1 s reads "1.0 s", not "2 s"). */
    int64_t give_up = r->down_since + (int64_t)(r->timeout_s * 1e9);
    if (!r->fallback && r->next_try > give_up) r->next_try = give_up > now ? give_up : now;
    *wait_ns = r->next_try - now;
    double down = (double)(now - r->down_since) / 1e9;
    if (!r->fallback && down >= r->timeout_s) {
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_FATAL, 0, "%s: Redis unreachable for %.1f s (%s); "
                               "no request was sent without a grant", l->label, down, why);
        return RL_FATAL;
    }
    if (!r->told_down) {
        r->told_down = 1;
        if (r->fallback)
            cxb_limiter_note_raise(l, CXB_LIM_NOTE_WAIT, 0, "%s: Redis unreachable (%s); using the "
                                   "local fallback bucket at %g/s until it answers", l->label, why,
                                   r->fallback->rate);
        else
            cxb_limiter_note_raise(l, CXB_LIM_NOTE_WAIT, r->timeout_s, "%s: Redis unreachable (%s); "
                                   "waiting for it (no request without a grant), the batch fails "
                                   "after %g s", l->label, why, r->timeout_s);
    }
    return RL_DOWN;
}

/* Finds this waiter a slot (r->mu held): from the ring, or from Redis. */
static rl_status rl_next(cxb_limiter *l, redis_lim *r, int64_t *slot, uint64_t *gen, int64_t *wait_ns)
{
    int64_t now = cxb_mono_ns();
    if ((*slot = rl_pop(r, now, gen)) != 0) return RL_GRANTED;
    if (r->down_since && now < r->next_try) {
        *wait_ns = r->next_try - now;
        return RL_DOWN;
    }
    char msg[240] = "";
    rl_status st = rl_refill(l, r, wait_ns, msg, sizeof msg);
    if (st == RL_DOWN && r->refused) {
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_FATAL, 0, "%s: Redis refused this client (%s); no "
                               "request was sent without a grant", l->label, msg);
        return RL_FATAL;
    }
    if (st == RL_DOWN) return rl_down(l, r, cxb_mono_ns(), msg, wait_ns);
    if (r->down_since) {
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_WAIT, 0, "%s: Redis answers again after %.1f s",
                               l->label, (double)(cxb_mono_ns() - r->down_since) / 1e9);
        r->down_since = 0;
        r->told_down = 0;
    }
    if (st == RL_FATAL) cxb_limiter_note_raise(l, CXB_LIM_NOTE_FATAL, 0, "%s", msg);
    if (st == RL_GRANTED) *slot = rl_pop(r, cxb_mono_ns(), gen);
    return st == RL_GRANTED && !*slot ? RL_WAIT : st;
}

static int rl_acquire(cxb_limiter *l, const atomic_int *cancel, cxb_slot *out)
{
    redis_lim *r = l->be_state;
    for (;;) {
        if (cancel && atomic_load(cancel)) return 1;
        int64_t now = cxb_mono_ns();
        int64_t pause = cxb_pause_until_ns(l);
        if (pause > now) { /* a pause this process knows of: no need to ask Redis meanwhile */
            cxb_limiter_report_pause(l, now);
            if (cxb_sleep_until_ns(pause, cancel)) return 1;
            continue;
        }
        int64_t slot = 0, wait = 0;
        uint64_t gen = 0, slow = atomic_load(&l->rs->slow_seq);
        pthread_mutex_lock(&r->mu);
        rl_status st = rl_next(l, r, &slot, &gen, &wait);
        pthread_mutex_unlock(&r->mu);
        cxb_limiter_report_rate(l);
        if (st == RL_FATAL) return 1; /* the owner was told and fails the batch */
        if (st == RL_DOWN && r->fallback) return cxb_gcra_acquire_slot(r->fallback, cancel, out);
        if (st == RL_GRANTED) {
            for (int64_t was = 0; was != slot; slot = cxb_limiter_stretch(l, slot, &slow)) {
                was = slot; /* a slow-down learned meanwhile moves the slot later */
                if (cxb_sleep_until_ns(slot, cancel)) return 1;
            }
            if (cxb_pause_until_ns(l) > cxb_mono_ns()) continue; /* a pause began meanwhile */
            if (out) {
                out->at_ns = slot;
                out->gen = gen;
            }
            return 0;
        }
        if (wait > LOOKAHEAD_US * 1000LL) wait = LOOKAHEAD_US * 1000LL; /* others may give up slots */
        if (wait < 1000000) wait = 1000000;
        if (cxb_sleep_until_ns(cxb_mono_ns() + wait, cancel)) return 1;
    }
}

/* A 429's pause goes to Redis at once, so every process on every host stops; the local pause
 * is already set (limiter.c), so this process stops even when Redis does not answer. */
static void rl_pause(cxb_limiter *l, int64_t until_ns, int64_t retry_after_ns)
{
    redis_lim *r = l->be_state;
    char ra[32], msg[200] = "";
    (void)until_ns;
    snprintf(ra, sizeof ra, "%lld", (long long)(retry_after_ns / 1000));
    pthread_mutex_lock(&r->mu);
    r->nslots = 0; /* slots inside the pause are forfeited */
    redisReply *rep = rl_eval(l, r, "pause", ra, NULL, msg, sizeof msg);
    if (rep) rl_learn_rate(l, r, rep);
    pthread_mutex_unlock(&r->mu);
    if (rep)
        freeReplyObject(rep);
    else
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_WAIT, 0, "%s: could not share the pause with the "
                               "fleet (%s); this process pauses anyway", l->label, msg);
}

/* A 429 on a slot of the bucket's current generation asks the script to cut (it cuts once per
 * generation, whichever process asks first); a slot of an older generation was granted before
 * a cut this process already heard of. Redis down: the cut is lost, the next 429 asks again. */
static void rl_throttled(cxb_limiter *l, const cxb_slot *slot)
{
    redis_lim *r = l->be_state;
    if (slot->gen < atomic_load(&r->gen)) return;
    char gen[32], msg[200] = "";
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)slot->gen);
    pthread_mutex_lock(&r->mu);
    redisReply *rep = rl_eval(l, r, "cut", gen, NULL, msg, sizeof msg);
    if (rep && rep_int(rep, 0) != -1) rl_learn_rate(l, r, rep);
    pthread_mutex_unlock(&r->mu);
    if (rep) freeReplyObject(rep);
    cxb_limiter_report_rate(l);
}

/* An operator's change goes to the bucket with the next exchange of any of this process's
 * workers (no Redis I/O on the caller's thread: it may be an event loop). */
static int rl_set(cxb_limiter *l, double rate, double max_rate, char *err, size_t errlen)
{
    redis_lim *r = l->be_state;
    if (rate > 0) atomic_store(&r->set_rate_bits, cxb_dbits(rate));
    if (max_rate > 0) atomic_store(&r->set_max_bits, cxb_dbits(max_rate));
    return 0;
}

static void rl_free(void *state)
{
    redis_lim *r = state;
    if (!r) return;
    rl_drop(r);
    cxb_redis_target_free(&r->tg);
    cxb_limiter_free(r->fallback);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const cxb_limiter_backend redis_backend = {rl_acquire, rl_pause, rl_free, rl_throttled, rl_set};

/* ---- opening ------------------------------------------------------------------------------------ */

static int rl_fallback(redis_lim *r, const cxb_limit_config *c, char *err, size_t errlen)
{
    if (!c->fallback) return 0;
    char *end;
    double rate = strncmp(c->fallback, "local:", 6) == 0 ? strtod(c->fallback + 6, &end) : NAN;
    if (!(rate > 0) || !isfinite(rate) || *end || rate > c->rate) {
        snprintf(err, errlen, "shared_limit_fallback must be \"local:RATE\" with 0 < RATE <= rate "
                 "(%g)", c->rate);
        return -1;
    }
    r->fallback = cxb_limiter_new(rate, 1, err, errlen);
    return r->fallback ? 0 : -1;
}

cxb_limiter *cxb_redis_limiter_open(const cxb_limit_config *c, char *err, size_t errlen)
{
    err[0] = '\0';
    if (!(c->store_timeout >= 0) || c->store_timeout > 86400) {
        snprintf(err, errlen, "shared_limit_timeout must be between 0 and 86400 seconds (got %g)",
                 c->store_timeout);
        return NULL;
    }
    cxb_limiter *l = cxb_limiter_new(c->rate, c->burst, err, errlen);
    if (l && cxb_limiter_set_mode(l, c->adaptive, c->max_rate, err, errlen) != 0) {
        cxb_limiter_free(l);
        return NULL;
    }
    redis_lim *r = l ? calloc(1, sizeof *r) : NULL;
    if (!r) {
        if (l) snprintf(err, errlen, "out of memory");
        cxb_limiter_free(l);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    l->be = &redis_backend;
    l->be_state = r;
    r->timeout_s = c->store_timeout > 0 ? c->store_timeout : 30;
    /* The bucket's identity: a process asking for another one is refused (a mismatch). */
    if (c->adaptive)
        snprintf(r->rate_s, sizeof r->rate_s, "auto (start %.17g/s, max %.17g/s)", c->rate, c->max_rate);
    else
        snprintf(r->rate_s, sizeof r->rate_s, "%.17g", c->rate);
    snprintf(r->burst_s, sizeof r->burst_s, "%.17g", c->burst);
    snprintf(r->start_s, sizeof r->start_s, "%.17g", c->rate);
    snprintf(r->max_s, sizeof r->max_s, "%.17g", c->adaptive ? c->max_rate : c->rate);
    if (cxb_redis_target_parse(&r->tg, c->shared, err, errlen) != 0 || rl_fallback(r, c, err, errlen) != 0) {
        cxb_limiter_free(l);
        return NULL;
    }
    const cxb_redis_target *t = &r->tg;
    if (t->sock[0])
        snprintf(l->label, sizeof l->label, "shared limit unix://%.40s?key=%s", t->sock,
                 t->key + strlen(CXB_REDIS_KEY_PREFIX));
    else
        snprintf(l->label, sizeof l->label, "shared limit redis://%.40s:%d/%d?key=%s", t->host,
                 t->port, t->db, t->key + strlen(CXB_REDIS_KEY_PREFIX));
    return l;
}
