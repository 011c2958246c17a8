/* The fleet limiter's Redis script alone (src/limiter/gcra.lua), against a redis-server this test
 * starts on a Unix socket: the bytes the build embeds are the file's, and the script's replies
 * (a fresh bucket's head start and slot waits, the identity check, a pause, an adaptive cut once
 * per generation) are what its header comment and redis_limiter.c expect. No limiter code runs:
 * the arguments are built here the way redis_limiter.c builds them. Needs redis-server (Debian
 * redis-server, .ci/extra-packages); without it the test fails, naming it. */
#include "check.h"

#include "limiter/gcra_lua.h"
#include "limiter/rate_ctl.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GCRA_PATH "src/limiter/gcra.lua"
#define MAX_WAIT "500000"
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct server {
    char dir[64], sock[96];
    pid_t pid;
    redisContext *c;
} server;

/* The file as the repository holds it equals the bytes compiled into the module. */
static void test_embedded_bytes(void)
{
    FILE *f = fopen(GCRA_PATH, "rb");
    CHECK(f != NULL, "cannot open %s (run from the source root, as make ctest does)", GCRA_PATH);
    if (!f) return;
    static char buf[sizeof CXB_GCRA_LUA + 2];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n == sizeof CXB_GCRA_LUA - 1, "%s has %zu bytes, the embedded script %zu", GCRA_PATH, n,
          sizeof CXB_GCRA_LUA - 1);
    CHECK(memcmp(buf, CXB_GCRA_LUA, sizeof CXB_GCRA_LUA - 1) == 0, "embedded bytes differ from %s",
          GCRA_PATH);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* redis-server on a socket in a fresh directory, no persistence; NULL context if it never came up. */
static int server_start(server *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/cxb-gcra-XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    s->pid = fork();
    if (s->pid < 0) return -1;
    if (s->pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", s->sock, "--save", "",
               "--appendonly", "no", "--dir", s->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !s->c; i++) {
        sleep_ms(50);
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) { s->pid = 0; return -1; }
        redisContext *c = redisConnectUnix(s->sock);
        if (c && !c->err) s->c = c;
        else if (c) redisFree(c);
    }
    return s->c ? 0 : -1;
}

static void server_stop(server *s)
{
    if (s->c) redisFree(s->c);
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    unlink(s->sock);
    rmdir(s->dir);
}

/* The script's arguments (gcra.lua's header; redis_limiter.c rl_args): rate 10/s, burst 5, so
 * T = 100000 us and tau = 400000 us. A NULL adaptive runs a fixed bucket. */
typedef struct call {
    const char *mode, *arg5, *identity, *adaptive, *set_rate, *n;
} call;

static redisReply *eval(server *s, const char *sha, const char *key, const call *k)
{
    const char *a[] = {"EVALSHA", sha, "1", key, k->mode, "100000", "400000", k->n ? k->n : "4", k->arg5,
                       k->identity ? k->identity : "10", "5", MAX_WAIT, k->adaptive ? k->adaptive : "0",
                       "40", "80", k->set_rate ? k->set_rate : "", "", STR(CXB_CTL_BETA), STR(CXB_CTL_C),
                       STR(CXB_CTL_FLOOR), STR(CXB_CTL_STEP), "100000", "500000", STR(CXB_CTL_SMOOTH),
                       STR(CXB_CTL_C_PROBE)};
    redisReply *r = redisCommandArgv(s->c, (int)(sizeof a / sizeof a[0]), a, NULL);
    CHECK(r && r->type == REDIS_REPLY_ARRAY, "%s on %s: %s", k->mode, key,
          r && r->type == REDIS_REPLY_ERROR ? r->str : "no array reply");
    if (r && r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static long long num(const redisReply *r, size_t i)
{
    if (!r || i >= r->elements) return -999999999;
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_INTEGER ? e->integer : e->type == REDIS_REPLY_STRING ? atoll(e->str) : -999999999;
}

static const char *str(const redisReply *r, size_t i)
{
    return r && i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

/* A fresh bucket starts max_wait ahead: with tau = 4 T the first of 8 slots is 1 T away and the
 * others follow T apart (within lookahead 1 s; exact: one TIME per call). The next call finds its
 * first slot 9 T ahead, beyond max_wait, and commits nothing. */
static void test_fixed_take(server *s, const char *sha)
{
    redisReply *r = eval(s, sha, "fixed", &(call){"take", "1000000", NULL, NULL, NULL, "8"});
    CHECK(r && r->elements == 7 + 8, "take: %zu elements, want 7 head + 8 waits", r ? r->elements : 0);
    CHECK(num(r, 0) == 0, "take: code %lld", num(r, 0));
    for (int i = 0; i < 8; i++)
        CHECK(num(r, 7 + (size_t)i) == 100000LL * (i + 1), "slot %d wait %lld", i, num(r, 7 + (size_t)i));
    if (r) freeReplyObject(r);
    r = eval(s, sha, "fixed", &(call){"take", "100000", NULL, NULL, NULL, NULL});
    CHECK(num(r, 0) == 1 && r && r->elements == 8, "take when full: code %lld", num(r, 0));
    CHECK(num(r, 7) > 500000 && num(r, 7) <= 900000, "next slot in %lld us", num(r, 7));
    if (r) freeReplyObject(r);
    r = eval(s, sha, "fixed", &(call){"take", "100000", "20", NULL, NULL, NULL});
    CHECK(num(r, 0) == -1, "another rate on the same key: code %lld", num(r, 0));
    CHECK_STR(str(r, 1), "10");
    CHECK_STR(str(r, 2), "5");
    if (r) freeReplyObject(r);
}

/* A Retry-After of 2 s pauses the bucket: the next take says how long is left and why. */
static void test_pause(server *s, const char *sha)
{
    redisReply *r = eval(s, sha, "paused", &(call){"pause", "2000000", NULL, NULL, NULL, NULL});
    CHECK(num(r, 0) == 3, "pause: code %lld", num(r, 0));
    if (r) freeReplyObject(r);
    r = eval(s, sha, "paused", &(call){"take", "100000", NULL, NULL, NULL, NULL});
    CHECK(num(r, 0) == -2, "take while paused: code %lld", num(r, 0));
    CHECK(num(r, 7) > 1000000 && num(r, 7) <= 2000000, "pause left %lld us", num(r, 7));
    CHECK(num(r, 8) == 2000000, "Retry-After %lld us", num(r, 8));
    if (r) freeReplyObject(r);
}

/* Adaptive, start 40/s: a cut of generation 0 lowers the rate to BETA * 40 and opens generation
 * 1; a second cut naming generation 0 (another slot of the same burst of 429s) changes nothing. */
static void test_adaptive_cut(server *s, const char *sha)
{
    redisReply *r = eval(s, sha, "auto", &(call){"take", "100000", "auto", "1", NULL, NULL});
    CHECK_STR(str(r, 1), "40");
    CHECK(num(r, 2) == 0, "gen %lld before a cut", num(r, 2));
    if (r) freeReplyObject(r);
    char want[32];
    snprintf(want, sizeof want, "%.17g", CXB_CTL_BETA * 40);
    for (int i = 0; i < 2; i++) {
        r = eval(s, sha, "auto", &(call){"cut", "0", "auto", "1", NULL, NULL});
        CHECK(num(r, 0) == 3, "cut %d: code %lld", i, num(r, 0));
        CHECK_STR(str(r, 1), want);
        CHECK(num(r, 2) == 1, "cut %d: gen %lld, want 1", i, num(r, 2));
        if (r) freeReplyObject(r);
    }
    r = eval(s, sha, "auto", &(call){"take", "100000", "auto", "1", "60", NULL});
    CHECK_STR(str(r, 1), "60");
    CHECK(num(r, 6) == 3, "why %lld after set_rate, want 3", num(r, 6));
    if (r) freeReplyObject(r);
}

int main(void)
{
    test_embedded_bytes();
    server s;
    int up = server_start(&s) == 0;
    CHECK(up, "redis-server did not start (apt-get install redis-server)");
    redisReply *r = up ? redisCommand(s.c, "SCRIPT LOAD %s", CXB_GCRA_LUA) : NULL;
    CHECK(r && r->type == REDIS_REPLY_STRING && r->len == 40, "SCRIPT LOAD: %s",
          r && r->type == REDIS_REPLY_ERROR ? r->str : "no sha");
    if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
        test_fixed_take(&s, r->str);
        test_pause(&s, r->str);
        test_adaptive_cut(&s, r->str);
    }
    if (r) freeReplyObject(r);
    server_stop(&s);
    return check_finish();
}
