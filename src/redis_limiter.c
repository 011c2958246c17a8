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
#include "redis_limiter.h"
#include "limiter_impl.h"
#include "redact.h"
#include "text_fit.h"

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
#define KEY_MAX 64
#define STR_(x) #x
#define STR(x) STR_(x)
#define KEY_PREFIX "cxone-bulk:limit:"

/* The bucket: hash {tat, pause, ra, rate, burst}, microseconds on the Redis server's clock.
 * ARGV: mode ("take" | "pause"), T, tau, n, lookahead (or Retry-After for "pause"), rate, burst,
 * max_wait.
 * take  -> {0, wait1, wait2, ...} slots committed: the first if its wait <= max_wait (a
 *                                 reservation, as a local waiter holds one: first come, first
 *                                 served across the fleet), the others only within lookahead
 *          {1, wait}              nothing committed; the first slot is `wait` away
 *          {-1, rate, burst}      the key holds another rate/burst
 *          {-2, left, ra}         paused for `left` more, by a Retry-After of `ra`
 * pause -> {0}  pause = max(pause, now + ra), tat = max(tat, pause)
 * A bucket without state (new, expired, or lost: FLUSHALL, a restarted Redis, a failover) starts
 * at tat = now + max_wait: processes may still hold reservations the lost state made (each at
 * most max_wait ahead, at most burst + rate * max_wait of them), and this head start keeps them
 * plus the fresh bucket's grants within 2 * burst + rate * W in any window W. */
static const char GCRA_SCRIPT[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local k = KEYS[1]\n"
    "local h = redis.call('HMGET', k, 'tat', 'pause', 'ra', 'rate', 'burst')\n"
    "if h[4] and (h[4] ~= ARGV[6] or h[5] ~= ARGV[7]) then return {-1, h[4], h[5]} end\n"
    "local T, tau = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local tat, pause = tonumber(h[1]) or (now + tonumber(ARGV[8])), tonumber(h[2]) or 0\n"
    "local function f(x) return string.format('%.0f', x) end\n"
    "local function keep(last)\n"
    "  redis.call('PEXPIRE', k, math.floor((last - now + tau) / 1000) + 60000)\n"
    "end\n"
    "if ARGV[1] == 'pause' then\n"
    "  local ra = tonumber(ARGV[5])\n"
    "  if now + ra > pause then pause = now + ra; redis.call('HSET', k, 'pause', f(pause), 'ra', f(ra)) end\n"
    "  if tat < pause then tat = pause end\n"
    "  redis.call('HSET', k, 'tat', f(tat), 'rate', ARGV[6], 'burst', ARGV[7])\n"
    "  keep(tat)\n"
    "  return {0}\n"
    "end\n"
    "if pause > now then return {-2, pause - now, tonumber(h[3]) or 0} end\n"
    "local out = {0}\n"
    "for i = 1, tonumber(ARGV[4]) do\n"
    "  local at = math.max(now, tat - tau)\n"
    "  if at - now > tonumber(i == 1 and ARGV[8] or ARGV[5]) then break end\n"
    "  tat = math.max(tat, at) + T\n"
    "  out[#out + 1] = at - now\n"
    "end\n"
    "if #out == 1 then return {1, math.max(now, tat - tau) - now} end\n"
    "redis.call('HSET', k, 'tat', f(tat), 'rate', ARGV[6], 'burst', ARGV[7])\n"
    "keep(tat)\n"
    "return out\n";

typedef struct redis_lim {
    char host[256], sock[256], user[128], key[sizeof KEY_PREFIX + KEY_MAX];
    char *password;            /* malloc'd, wiped on free; never in any message */
    int port, db;
    double timeout_s;
    cxb_limiter *fallback;     /* local bucket while Redis is unreachable, or NULL */
    char rate_s[32], burst_s[32];
    pthread_mutex_t mu;        /* everything below; held across one Redis exchange */
    redisContext *ctx;
    char sha[41];
    int64_t slots[SLOTS_MAX];  /* CLOCK_MONOTONIC instants reserved for this process */
    int head, nslots;
    int64_t down_since, next_try, backoff;
    int told_down;
    int refused;               /* Redis refused us for good (WRONGPASS, NOPERM, ...): no retry helps */
} redis_lim;

typedef enum { RL_GRANTED, RL_WAIT, RL_PAUSED, RL_DOWN, RL_FATAL } rl_status;

/* ---- opening: the URL ----------------------------------------------------------------------- */

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return 0;
    }
    return 1;
}

/* Reads key=NAME and db=N from the query (already URL-decoded pieces). */
static int parse_query(redis_lim *r, char *q, char *err, size_t errlen)
{
    for (char *save = NULL, *kv = strtok_r(q, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = '\0';
        char *unesc = curl_easy_unescape(NULL, eq + 1, 0, NULL);
        if (!unesc) { snprintf(err, errlen, "out of memory"); return -1; }
        if (strcmp(kv, "key") == 0 && key_ok(unesc))
            snprintf(r->key, sizeof r->key, "%s%s", KEY_PREFIX, unesc);
        else if (strcmp(kv, "key") == 0)
            snprintf(err, errlen, "shared_limit: key must be 1-%d characters of [A-Za-z0-9._:-]", KEY_MAX);
        else if (strcmp(kv, "db") == 0)
            r->db = atoi(unesc);
        curl_free(unesc);
        if (err[0]) return -1;
    }
    if (!r->key[0]) {
        snprintf(err, errlen, "shared_limit: a Redis URL needs ?key=NAME (the bucket's name)");
        return -1;
    }
    return 0;
}

static int url_part(CURLU *u, CURLUPart part, char *out, size_t len, int decode)
{
    char *v = NULL;
    out[0] = '\0';
    if (curl_url_get(u, part, &v, decode ? CURLU_URLDECODE : 0) != CURLUE_OK || !v) return 0;
    int fits = strlen(v) < len;
    if (fits) snprintf(out, len, "%s", v);
    if (part == CURLUPART_PASSWORD) memset(v, 0, strlen(v));
    curl_free(v);
    return fits ? 1 : -1;
}

/* unix:///path/to/sock?key=NAME: libcurl 7.88 reads the first path segment of a scheme it does
 * not know as a host, so this form is split here (path, then the query) and only unescaped by
 * libcurl. */
static int parse_unix(redis_lim *r, const char *url, char *q, size_t qlen, char *err, size_t errlen)
{
    const char *path = url + strlen("unix://");
    const char *qm = strchr(path, '?');
    size_t plen = qm ? (size_t)(qm - path) : strlen(path);
    char *p = curl_easy_unescape(NULL, path, (int)plen, NULL);
    if (!p) { snprintf(err, errlen, "out of memory"); return -1; }
    int bad = p[0] != '/' || strlen(p) >= sizeof r->sock || strlen(qm ? qm + 1 : "") >= qlen;
    if (!bad) {
        snprintf(r->sock, sizeof r->sock, "%s", p);
        snprintf(q, qlen, "%s", qm ? qm + 1 : "");
    }
    curl_free(p);
    if (bad) snprintf(err, errlen, "shared_limit: write a socket as unix:///path/to/redis.sock?key=NAME");
    return bad ? -1 : 0;
}

/* redis://[user:password@]host[:port][/db]?key=NAME with libcurl's URL API. */
static int parse_redis(redis_lim *r, const char *url, char *q, size_t qlen, char *pw, size_t pwlen,
                       char *err, size_t errlen)
{
    CURLU *u = curl_url();
    if (!u) { snprintf(err, errlen, "out of memory"); return -1; }
    char path[256], port[16];
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
        snprintf(err, errlen, "shared_limit: not a valid redis:// URL");
        goto out;
    }
    if (url_part(u, CURLUPART_HOST, r->host, sizeof r->host, 1) < 0 ||
        url_part(u, CURLUPART_USER, r->user, sizeof r->user, 1) < 0 ||
        url_part(u, CURLUPART_PASSWORD, pw, pwlen, 1) < 0 ||
        url_part(u, CURLUPART_PATH, path, sizeof path, 1) < 0 ||
        url_part(u, CURLUPART_QUERY, q, qlen, 0) < 0 ||
        url_part(u, CURLUPART_PORT, port, sizeof port, 0) < 0) {
        snprintf(err, errlen, "shared_limit: a part of the Redis URL is too long");
        goto out;
    }
    r->port = port[0] ? atoi(port) : 6379;
    if (!r->host[0]) {
        snprintf(err, errlen, "shared_limit: the redis:// URL has no host");
        goto out;
    }
    if (path[0] && strcmp(path, "/") != 0) {
        char *end;
        long db = strtol(path + 1, &end, 10);
        if (*end || end == path + 1 || db < 0 || db > 1000000) {
            snprintf(err, errlen, "shared_limit: the path of a redis:// URL is the db number (/0)");
            goto out;
        }
        r->db = (int)db;
    }
    rc = 0;
out:
    curl_url_cleanup(u);
    return rc;
}

/* Messages name the part that is wrong, never echo the URL (it may hold a password). */
static int parse_url(redis_lim *r, const char *url, char *err, size_t errlen)
{
    char q[512], pw[256] = "";
    int rc = strncmp(url, "unix://", 7) == 0
                 ? parse_unix(r, url, q, sizeof q, err, errlen)
                 : parse_redis(r, url, q, sizeof q, pw, sizeof pw, err, errlen);
    if (rc == 0) rc = parse_query(r, q, err, errlen);
    const char *env = getenv("CXONE_REDIS_PASSWORD");
    if (rc == 0 && !pw[0] && env) snprintf(pw, sizeof pw, "%s", env);
    if (rc == 0 && pw[0] && !(r->password = strdup(pw))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    memset(pw, 0, sizeof pw);
    return rc;
}

/* ---- one exchange with Redis (r->mu held) ----------------------------------------------------- */

static void rl_redact(const redis_lim *r, char *msg)
{
    const char *const secrets[] = {r->password};
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
    r->ctx = r->sock[0] ? redisConnectUnixWithTimeout(r->sock, tv)
                        : redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(msg, len, "connect: %s", r->ctx ? r->ctx->errstr : "out of memory");
        rl_drop(r);
        return -1;
    }
    redisSetTimeout(r->ctx, tv);
    if (r->password) {
        const char *a[] = {"AUTH", r->user[0] ? r->user : r->password, r->password};
        if (rl_simple(r, "AUTH", msg, len, r->user[0] ? 3 : 2, a) != 0) return -1;
    }
    if (r->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        const char *a[] = {"SELECT", db};
        if (rl_simple(r, "SELECT", msg, len, 2, a) != 0) return -1;
    }
    return 0;
}

static int rl_load_script(cxb_limiter *l, redis_lim *r, char *msg, size_t len)
{
    redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", GCRA_SCRIPT);
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

/* Runs the script, loading it first when Redis does not know it. NULL with msg on failure. */
static redisReply *rl_eval(cxb_limiter *l, redis_lim *r, const char *mode, const char *arg5,
                           char *msg, size_t len)
{
    if (!r->ctx && rl_connect(r, msg, len) != 0) return NULL;
    if (!r->sha[0] && rl_load_script(l, r, msg, len) != 0) return NULL;
    char T[32], tau[32], n[16];
    snprintf(T, sizeof T, "%lld", (long long)((l->interval_ns + 999) / 1000));
    snprintf(tau, sizeof tau, "%lld", (long long)(l->tolerance_ns / 1000));
    double per = ceil(l->rate * LOOKAHEAD_US / 1e6);
    snprintf(n, sizeof n, "%d", per < 1 ? 1 : per > SLOTS_MAX ? SLOTS_MAX : (int)per);
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *a[] = {"EVALSHA", r->sha, "1", r->key, mode, T, tau, n, arg5, r->rate_s,
                           r->burst_s, STR(MAX_WAIT_US)};
        redisReply *rep = redisCommandArgv(r->ctx, 12, a, NULL);
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

/* One round-trip: fills the slot ring. *wait_ns says when to ask again when nothing came. */
static rl_status rl_refill(cxb_limiter *l, redis_lim *r, int64_t *wait_ns, char *msg, size_t len)
{
    char look[16];
    snprintf(look, sizeof look, "%d", LOOKAHEAD_US);
    redisReply *rep = rl_eval(l, r, "take", look, msg, len);
    if (!rep) return RL_DOWN;
    int64_t now = cxb_mono_ns(); /* after the reply: slots can only come later, never earlier */
    long long code = rep_int(rep, 0);
    rl_status st = RL_GRANTED;
    if (code == -1) {
        const redisReply *a = rep->elements > 2 ? rep->element[1] : NULL, *b = a ? rep->element[2] : NULL;
        /* The key holds exact "%.17g" figures; people read them as %g ("0.1/s", not
         * "0.10000000000000001/s"). */
        int n = snprintf(msg, len, "%s was created with rate %g/s burst %g; this process asked for "
                         "rate %g/s burst %g", l->label, a && a->str ? strtod(a->str, NULL) : NAN,
                         b && b->str ? strtod(b->str, NULL) : NAN, strtod(r->rate_s, NULL),
                         strtod(r->burst_s, NULL));
        cxb_text_fit(msg, len, n);
        st = RL_FATAL;
    } else if (code == -2) {
        rl_learn_pause(l, now, rep_int(rep, 1), rep_int(rep, 2));
        st = RL_PAUSED;
    } else if (code == 1) {
        *wait_ns = (int64_t)rep_int(rep, 1) * 1000;
        st = RL_WAIT;
    } else {
        for (size_t i = 1; i < rep->elements && r->nslots < SLOTS_MAX; i++)
            r->slots[(r->head + r->nslots++) % SLOTS_MAX] = now + (int64_t)rep_int(rep, i) * 1000;
    }
    freeReplyObject(rep);
    return st;
}

/* The next slot of this process that is not stale, or 0. */
static int64_t rl_pop(redis_lim *r, int64_t now)
{
    while (r->nslots > 0) {
        int64_t at = r->slots[r->head];
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
static rl_status rl_next(cxb_limiter *l, redis_lim *r, int64_t *slot, int64_t *wait_ns)
{
    int64_t now = cxb_mono_ns();
    if ((*slot = rl_pop(r, now)) != 0) return RL_GRANTED;
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
    if (st == RL_GRANTED) *slot = rl_pop(r, cxb_mono_ns());
    return st == RL_GRANTED && !*slot ? RL_WAIT : st;
}

static int rl_acquire(cxb_limiter *l, const atomic_int *cancel, double *scheduled_mono)
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
        pthread_mutex_lock(&r->mu);
        rl_status st = rl_next(l, r, &slot, &wait);
        pthread_mutex_unlock(&r->mu);
        if (st == RL_FATAL) return 1; /* the owner was told and fails the batch */
        if (st == RL_DOWN && r->fallback) return cxb_gcra_acquire_at(r->fallback, cancel, scheduled_mono);
        if (st == RL_GRANTED) {
            if (cxb_sleep_until_ns(slot, cancel)) return 1;
            if (cxb_pause_until_ns(l) > cxb_mono_ns()) continue; /* a pause began meanwhile */
            if (scheduled_mono) *scheduled_mono = (double)slot / 1e9;
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
    redisReply *rep = rl_eval(l, r, "pause", ra, msg, sizeof msg);
    pthread_mutex_unlock(&r->mu);
    if (rep)
        freeReplyObject(rep);
    else
        cxb_limiter_note_raise(l, CXB_LIM_NOTE_WAIT, 0, "%s: could not share the pause with the "
                               "fleet (%s); this process pauses anyway", l->label, msg);
}

static void rl_free(void *state)
{
    redis_lim *r = state;
    if (!r) return;
    rl_drop(r);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    cxb_limiter_free(r->fallback);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const cxb_limiter_backend redis_backend = {rl_acquire, rl_pause, rl_free};

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
    snprintf(r->rate_s, sizeof r->rate_s, "%.17g", c->rate);
    snprintf(r->burst_s, sizeof r->burst_s, "%.17g", c->burst);
    if (parse_url(r, c->shared, err, errlen) != 0 || rl_fallback(r, c, err, errlen) != 0) {
        cxb_limiter_free(l);
        return NULL;
    }
    if (r->sock[0])
        snprintf(l->label, sizeof l->label, "shared limit unix://%.40s?key=%s", r->sock,
                 r->key + strlen(KEY_PREFIX));
    else
        snprintf(l->label, sizeof l->label, "shared limit redis://%.40s:%d/%d?key=%s", r->host,
                 r->port, r->db, r->key + strlen(KEY_PREFIX));
    return l;
}
