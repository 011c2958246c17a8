/* Unit tests of the Redis limiter's option handling (no server needed): URL forms, the
 * messages for bad ones (never the password), the fallback and timeout checks, and that an
 * unreachable Redis fails closed: no grant, a WAIT note, then a FATAL note after the timeout. */
#include "check.h"

#include "common/clock.h"
#include "limiter/limiter_impl.h"
#include "limiter/redis_limiter.h"

#include <stdlib.h>
#include <string.h>

#define PW "Sup3r-s3cret-pw"

static int contains(const char *s, const char *needle) { return s && strstr(s, needle) != NULL; }

static cxb_limiter *open_url(const char *url, const char *fallback, double timeout, char *err, size_t len)
{
    cxb_limit_config c = {45, 20, url, timeout, fallback, 0, 0};
    return cxb_limiter_open(&c, err, len);
}

static void test_urls(void)
{
    char err[512];
    cxb_limiter *l = open_url("redis://u:" PW "@127.0.0.1:6390/3?key=tenant-1", NULL, 0, err, sizeof err);
    CHECK(l != NULL, "open: %s", err);
    CHECK(l && strcmp(l->label, "shared limit redis://127.0.0.1:6390/3?key=tenant-1") == 0, "label %s",
          l ? l->label : "");
    cxb_limiter_free(l);
    l = open_url("unix:///run/redis/r.sock?key=a.b", NULL, 0, err, sizeof err);
    CHECK(l && contains(l->label, "unix:///run/redis/r.sock?key=a.b"), "label %s", l ? l->label : err);
    cxb_limiter_free(l);

    static const struct { const char *url, *msg; } bad[] = {
        {"redis://u:" PW "@127.0.0.1:6390/0", "needs ?key=NAME"},
        {"redis://u:" PW "@127.0.0.1/x?key=a", "the db number"},
        {"redis://u:" PW "@127.0.0.1/0?key=a%2Fb", "key must be"},
        {"redis://:" PW "@/0?key=a", "redis:// URL"},
        {"unix://relative/r.sock?key=a", "unix:///path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        l = open_url(bad[i].url, NULL, 0, err, sizeof err);
        CHECK(l == NULL, "accepted %s", bad[i].url);
        CHECK(contains(err, bad[i].msg), "%s: message %s", bad[i].url, err);
        CHECK(!contains(err, PW) && !contains(err, "s3cret"), "password in: %s", err);
        cxb_limiter_free(l);
    }
    l = open_url("redis://127.0.0.1:1/0?key=a", "local:99", 0, err, sizeof err);
    CHECK(l == NULL && contains(err, "shared_limit_fallback must be"), "fallback above rate: %s", err);
    l = open_url("redis://127.0.0.1:1/0?key=a", NULL, 90000, err, sizeof err);
    CHECK(l == NULL && contains(err, "shared_limit_timeout"), "timeout: %s", err);
    l = open_url("name-only", "local:5", 0, err, sizeof err);
    CHECK(l == NULL && contains(err, "needs a redis://"), "fallback on /dev/shm: %s", err);
}

struct notes {
    int wait, fatal;
    char all[2048];
};

static void on_note(void *arg, const cxb_limiter_note *n)
{
    struct notes *s = arg;
    if (n->kind == CXB_LIM_NOTE_WAIT) s->wait++;
    if (n->kind == CXB_LIM_NOTE_FATAL) s->fatal++;
    strncat(s->all, n->msg, sizeof s->all - strlen(s->all) - 1);
}

/* Port 1 on loopback refuses at once: the acquire waits, says so once, and gives up (returns 1,
 * FATAL note) after the 0.3 s timeout, without a grant. */
static void test_fail_closed(void)
{
    char err[512];
    setenv("CXONE_REDIS_PASSWORD", PW, 1);
    cxb_limiter *l = open_url("redis://127.0.0.1:1/0?key=closed", NULL, 0.3, err, sizeof err);
    unsetenv("CXONE_REDIS_PASSWORD");
    CHECK(l != NULL, "open: %s", err);
    if (!l) return;
    struct notes s = {0};
    cxb_limiter_set_notify(l, on_note, &s);
    atomic_int cancel;
    atomic_init(&cancel, 0);
    double t0 = cxb_now_mono();
    int rc = cxb_limiter_acquire(l, &cancel);
    double took = cxb_now_mono() - t0;
    CHECK(rc == 1, "granted without Redis (rc %d)", rc);
    CHECK(took >= 0.3 && took < 2.5, "gave up after %.2f s, want ~0.3 s", took);
    CHECK(s.wait == 1 && s.fatal == 1, "notes: %d wait, %d fatal: %s", s.wait, s.fatal, s.all);
    CHECK(contains(s.all, "Redis unreachable") && !contains(s.all, PW), "notes: %s", s.all);
    cxb_limiter_free(l);
}

int main(void)
{
    test_urls();
    test_fail_closed();
    return check_finish();
}
