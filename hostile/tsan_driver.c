/* ThreadSanitizer driver for the core: links the core objects built with -fsanitize=thread and
 * drives real jobs against the mock server with many workers, so every cross-thread path runs
 * under contention: the pool (queue, results ring, counters, events), the limiter (local and
 * /dev/shm shared), the token source (1 s tokens refreshed ahead of expiry, revocations forcing
 * 401 re-auth while other workers hold the old token), cancellation mid-batch, and the
 * release-without-join path where the last worker frees the job.
 * (Lua is left out on purpose: TSan and a dlopen'd module inside an uninstrumented interpreter
 * give unreliable reports.)
 *
 *   tsan-driver MOCK_BINARY
 *
 * Exit 0 when every phase kept its invariants (every task exactly one result, the expected
 * refreshes/re-auths/cancellations happened); TSan itself exits non-zero on any report
 * (TSAN_OPTIONS=halt_on_error=1 exitcode=66, set by mk/hardening.mk). */
#include "common/clock.h"
#include "profile/idempotency.h"
#include "engine/job.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct mock_proc {
    pid_t pid;
    char base[64];
} mock_proc;

static int failures;

static void *xcalloc(size_t n)
{
    void *p = calloc(n, 1);
    if (!p) {
        fprintf(stderr, "tsan-driver: out of memory\n");
        exit(2);
    }
    return p;
}

static void check(int cond, const char *phase, const char *what)
{
    if (!cond) {
        fprintf(stderr, "tsan-driver: %s: FAILED: %s\n", phase, what);
        failures++;
    }
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Starts the mock with its stdout on a pipe and reads the port it prints. */
static int mock_start(mock_proc *m, const char *bin)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {(char *)bin, "--quiet", "--any-contact", "--rate", "0", "--threads", "4",
                    "--expires-in", "1", "--error-rate", "0.05", NULL};
    int rc = posix_spawn(&m->pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        fprintf(stderr, "tsan-driver: cannot start %s: %s\n", bin, strerror(rc));
        return -1;
    }
    char line[32] = {0};
    size_t n = 0;
    while (n + 1 < sizeof line) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    close(fds[0]);
    int port = atoi(line);
    if (port <= 0) {
        fprintf(stderr, "tsan-driver: the mock printed no port\n");
        kill(m->pid, SIGTERM);
        waitpid(m->pid, NULL, 0);
        return -1;
    }
    snprintf(m->base, sizeof m->base, "http://127.0.0.1:%d", port);
    return 0;
}

static void mock_stop(mock_proc *m)
{
    kill(m->pid, SIGTERM);
    waitpid(m->pid, NULL, 0);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *ud)
{
    return size * nmemb;
}

/* POSTs a JSON object to the mock's /_mock/config. */
static int mock_config(const mock_proc *m, const char *json)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[128];
    snprintf(url, sizeof url, "%s/_mock/config", m->base);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = h ? curl_easy_perform(c) : CURLE_OUT_OF_MEMORY;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK && status == 200 ? 0 : -1;
}

/* Revokes every token every 150 ms while the job runs. */
typedef struct revoker {
    const mock_proc *mock;
    atomic_int stop;
    int revocations;
} revoker;

static void *revoker_main(void *arg)
{
    revoker *r = arg;
    while (!atomic_load(&r->stop)) {
        if (mock_config(r->mock, "{\"revoke_tokens\":true}") == 0)
            r->revocations++;
        sleep_s(0.15);
    }
    return NULL;
}

static cxb_config base_config(const mock_proc *m, char *token_url, size_t len)
{
    snprintf(token_url, len, "%s/oauth2/token", m->base);
    cxb_config c;
    memset(&c, 0, sizeof c);
    c.token_url = token_url;
    c.client_id = "demo-client";
    c.client_secret = "demo-secret";
    c.scope = "contact:read contact:update";
    c.workers = 16;
    c.rate = 3000;
    c.burst = 100;
    c.max_retries = 6;
    c.backoff_base = 0.001;
    c.backoff_max = 0.01;
    c.timeout = 5;
    c.connect_timeout = 5;
    c.pause_threshold = 30;
    c.queue_size = 64;
    c.api_version = "v33.0";
    return c;
}

static cxb_task *make_task(const mock_proc *m, uint64_t i)
{
    char id[32], url[160], key[CXB_KEY_LEN + 1];
    static const char body[] = "{\"outcome\":{\"category\":\"Contacted\",\"subcategory\":\"Information Provided\"}}";
    int idn = snprintf(id, sizeof id, "tsan-%06llu", (unsigned long long)i);
    int un = snprintf(url, sizeof url, "%s/api/v2/contacts/%s", m->base, id);
    cxb_idempotency_key("tsan", 4, id, (size_t)idn, body, sizeof body - 1, key);
    return cxb_task_new(i, id, (size_t)idn, url, (size_t)un, body, sizeof body - 1, key, CXB_KEY_LEN);
}

typedef struct tally {
    unsigned char *seen;   /* results per index (1-based) */
    long results, ok, cancelled, dup;
} tally;

static void tally_take(cxb_job *j, tally *t, double wait)
{
    cxb_task *out[64];
    size_t n = cxb_job_take(j, out, 64, wait, 1);
    for (size_t i = 0; i < n; i++) {
        cxb_task *k = out[i];
        if (t->seen[k->index]++)
            t->dup++;
        t->results++;
        t->ok += k->ok;
        t->cancelled += k->cancelled;
        cxb_task_free(k);
    }
    cxb_event ev[32];
    while (cxb_job_events(j, ev, 32) > 0) {
    }
}

/* Submits tasks 1..n as slots free, taking results meanwhile; cancels once `cancel_after`
 * seconds have passed (< 0: never). Returns the number submitted. */
static long run_job(const mock_proc *m, cxb_job *j, long n, double cancel_after, tally *t)
{
    double start = cxb_now_mono();
    long next = 1;
    int cancelled = 0;
    while (next <= n) {
        if (!cancelled && cancel_after >= 0 && cxb_now_mono() - start >= cancel_after) {
            cxb_job_cancel(j);
            cancelled = 1;
        }
        cxb_task *k = make_task(m, (uint64_t)next);
        if (!k) {
            fprintf(stderr, "tsan-driver: out of memory\n");
            exit(2);
        }
        if (cxb_job_submit(j, k, NULL) == 0) {
            next++;
            continue;
        }
        cxb_task_free(k);
        tally_take(j, t, 0.05);
    }
    cxb_job_close_input(j);
    while (!cxb_job_finished(j)) {
        if (!cancelled && cancel_after >= 0 && cxb_now_mono() - start >= cancel_after) {
            cxb_job_cancel(j);
            cancelled = 1;
        }
        tally_take(j, t, 0.05);
    }
    return next - 1;
}

static int tally_exactly_once(const tally *t, long n)
{
    for (long i = 1; i <= n; i++)
        if (t->seen[i] != 1)
            return 0;
    return t->dup == 0 && t->results == n;
}

/* Phase 1: 16 workers, 1 s tokens, revocations every 150 ms, 5% injected 5xx. */
static void phase_refresh(const mock_proc *m, long n)
{
    char tu[128];
    cxb_config c = base_config(m, tu, sizeof tu);
    char err[512];
    cxb_kind kind;
    cxb_job *j = cxb_job_new(&c, &kind, err, sizeof err);
    if (!j) {
        check(0, "refresh", err);
        return;
    }
    tally t = {xcalloc((size_t)n + 1), 0, 0, 0, 0};
    revoker r = {m, 0, 0};
    pthread_t rt;
    int have_rt = pthread_create(&rt, NULL, revoker_main, &r) == 0;
    double t0 = cxb_now_mono();
    run_job(m, j, n, -1, &t);
    atomic_store(&r.stop, 1);
    if (have_rt)
        pthread_join(rt, NULL);
    cxb_counters cc;
    cxb_job_counters(j, &cc, NULL, err, sizeof err);
    cxb_job_close(j);
    printf("tsan-driver: refresh: %ld tasks in %.1f s, %ld ok, %ld token fetches, %ld re-auths, "
           "%ld retries, %d revocations\n",
           n, cxb_now_mono() - t0, t.ok, cc.token_refreshes, cc.reauths, cc.retried, r.revocations);
    check(tally_exactly_once(&t, n), "refresh", "every task exactly one result");
    check(t.ok >= n * 9 / 10, "refresh", "at least 90% ok");
    check(cc.token_refreshes >= 2, "refresh", "tokens were refreshed");
    check(cc.reauths >= 1, "refresh", "revocations forced re-auth");
    check(cc.retried >= 1, "refresh", "injected 5xx were retried");
    free(t.seen);
}

/* Phase 2: the /dev/shm shared limiter with two jobs at once on separate threads. */
typedef struct shared_run {
    const mock_proc *m;
    const char *name;
    long n;
    tally t;
    int ok;
} shared_run;

static void *shared_main(void *arg)
{
    shared_run *s = arg;
    char tu[128], err[512];
    cxb_config c = base_config(s->m, tu, sizeof tu);
    c.workers = 8;
    c.shared_limit = s->name;
    cxb_kind kind;
    cxb_job *j = cxb_job_new(&c, &kind, err, sizeof err);
    if (!j) {
        fprintf(stderr, "tsan-driver: shared: %s\n", err);
        return NULL;
    }
    run_job(s->m, j, s->n, -1, &s->t);
    cxb_job_close(j);
    s->ok = tally_exactly_once(&s->t, s->n);
    return NULL;
}

static void phase_shared(const mock_proc *m, long n)
{
    char name[64];
    snprintf(name, sizeof name, "tsan-driver-%ld", (long)getpid());
    shared_run a = {m, name, n, {xcalloc((size_t)n + 1), 0, 0, 0, 0}, 0};
    shared_run b = {m, name, n, {xcalloc((size_t)n + 1), 0, 0, 0, 0}, 0};
    pthread_t ta, tb;
    int ha = pthread_create(&ta, NULL, shared_main, &a) == 0;
    int hb = pthread_create(&tb, NULL, shared_main, &b) == 0;
    if (ha)
        pthread_join(ta, NULL);
    if (hb)
        pthread_join(tb, NULL);
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/cxone-bulk-limit.%s", name);
    unlink(path);
    printf("tsan-driver: shared limiter: 2 jobs x %ld tasks, %ld + %ld ok\n", n, a.t.ok, b.t.ok);
    check(ha && hb && a.ok && b.ok, "shared", "both jobs: every task exactly one result");
    free(a.t.seen);
    free(b.t.seen);
}

/* Phase 3: cancel while 16 workers have requests in flight and tasks are queued. */
static void phase_cancel(const mock_proc *m, long n)
{
    mock_config(m, "{\"latency_ms\":20,\"latency_jitter_ms\":20}");
    char tu[128], err[512];
    cxb_config c = base_config(m, tu, sizeof tu);
    cxb_kind kind;
    cxb_job *j = cxb_job_new(&c, &kind, err, sizeof err);
    if (!j) {
        check(0, "cancel", err);
        return;
    }
    tally t = {xcalloc((size_t)n + 1), 0, 0, 0, 0};
    double t0 = cxb_now_mono();
    long submitted = run_job(m, j, n, 0.4, &t);
    double took = cxb_now_mono() - t0;
    cxb_job_close(j);
    printf("tsan-driver: cancel: %ld submitted, %ld ok, %ld cancelled, %.2f s\n", submitted, t.ok,
           t.cancelled, took);
    check(tally_exactly_once(&t, submitted), "cancel", "every submitted task exactly one result");
    check(t.cancelled > 0 && t.ok > 0, "cancel", "some tasks done, the rest cancelled");
    check(t.ok + t.cancelled <= submitted, "cancel", "counts add up");
    free(t.seen);
}

/* Phase 3b: the journal's write-ahead barrier. The owner appends an intent line and marks it
 * written right after each submit, as the Lua facade does, while 16 workers wait for their
 * task's intent and sync the file (one sync for everything written so far). */
static void phase_journal(const mock_proc *m, long n)
{
    char tu[128], err[512], path[] = "/tmp/tsan-journal-XXXXXX";
    int fd = mkstemp(path);
    cxb_config c = base_config(m, tu, sizeof tu);
    cxb_kind kind;
    cxb_job *j = fd >= 0 ? cxb_job_new(&c, &kind, err, sizeof err) : NULL;
    if (!j || cxb_job_attach_journal(j, fd, err, sizeof err) != 0) {
        check(0, "journal", fd < 0 ? "mkstemp failed" : err);
        if (j)
            cxb_job_close(j);
        if (fd >= 0)
            close(fd), unlink(path);
        return;
    }
    tally t = {xcalloc((size_t)n + 1), 0, 0, 0, 0};
    for (long next = 1; next <= n;) {
        cxb_task *k = make_task(m, (uint64_t)next);
        if (k && cxb_job_submit(j, k, NULL) == 0) {
            dprintf(fd, "{\"intent\":true,\"index\":%ld}\n", next);
            cxb_job_intents_written(j, (uint64_t)next++);
            continue;
        }
        cxb_task_free(k);
        tally_take(j, &t, 0.05);
    }
    cxb_job_close_input(j);
    while (!cxb_job_finished(j))
        tally_take(j, &t, 0.05);
    cxb_job_close(j);
    close(fd);
    unlink(path);
    printf("tsan-driver: journal: %ld tasks behind the write-ahead barrier, %ld ok\n", n, t.ok);
    check(tally_exactly_once(&t, n), "journal", "every task exactly one result");
    check(t.ok >= n * 9 / 10, "journal", "at least 90% ok");
    free(t.seen);
}

/* Phase 4: the owner drops the job mid-flight without joining (Lua __gc in an event loop); the
 * last worker out frees it. Waits until the workers must be gone so TSan sees the free. */
static void phase_release(const mock_proc *m)
{
    char tu[128], err[512];
    cxb_config c = base_config(m, tu, sizeof tu);
    c.workers = 8;
    cxb_kind kind;
    cxb_job *j = cxb_job_new(&c, &kind, err, sizeof err);
    if (!j) {
        check(0, "release", err);
        return;
    }
    for (uint64_t i = 1; i <= 40; i++) {
        cxb_task *k = make_task(m, i);
        if (!k || cxb_job_submit(j, k, NULL) != 0)
            cxb_task_free(k);
    }
    sleep_s(0.1);
    cxb_job_release(j);
    sleep_s(1.5); /* transfers abort within ~50 ms of the cancel; the latency is 20-40 ms */
    printf("tsan-driver: release: job dropped with requests in flight\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tsan-driver MOCK_BINARY\n");
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 2;
    mock_proc m;
    if (mock_start(&m, argv[1]) != 0)
        return 2;
    phase_refresh(&m, 3000);
    phase_shared(&m, 400);
    phase_journal(&m, 1000);
    phase_cancel(&m, 3000);
    phase_release(&m);
    mock_stop(&m);
    curl_global_cleanup();
    if (failures) {
        fprintf(stderr, "tsan-driver: %d check(s) failed\n", failures);
        return 1;
    }
    printf("tsan-driver: all phases passed\n");
    return 0;
}
