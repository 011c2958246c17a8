/* Unit tests for the host-wide limiter (src/limiter/shm_limiter.c): shared across forked processes,
 * survives a participant being killed with SIGKILL, rejects mismatches, bad names and files it
 * must not trust. Every limit name carries this process's pid and is removed afterwards. */
#include "check.h"
#include "grants.h"

#include "common/clock.h"
#include "limiter/limiter_impl.h"
#include "limiter_try.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN 160

/* A unique limit name for this run; its /dev/shm path goes to path. */
static void limit_name(char *name, size_t len, const char *what, char *path)
{
    snprintf(name, len, "ctest-%ld-%s", (long)getpid(), what);
    char err[128];
    if (cxb_shared_limit_path(name, path, PATH_LEN, err, sizeof err) != 0) {
        fprintf(stderr, "bad test name %s: %s\n", name, err);
        abort();
    }
    unlink(path); /* a leftover from a crashed earlier run with a recycled pid */
}

static int contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static void test_bad_names(void)
{
    char err[256], long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    struct { const char *name, *msg; } bad[] = {
        { "", "shared limit name must not be empty" },
        { "a/b", "shared limit name 'a/b' has a character outside [A-Za-z0-9._-] at position 2" },
        { "../etc", "shared limit name '../etc' has a character outside [A-Za-z0-9._-] at position 3" },
        { "has space", "shared limit name 'has space' has a character outside [A-Za-z0-9._-] at position 4" },
        { long_name, "shared limit name is longer than 64 characters" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cxb_limiter *l = cxb_limiter_open_shared(bad[i].name, 10, 1, err, sizeof err);
        CHECK(l == NULL, "name '%s' accepted", bad[i].name);
        cxb_limiter_free(l);
        CHECK_STR(err, bad[i].msg);
    }
    CHECK(cxb_limiter_open_shared(NULL, 10, 1, err, sizeof err) == NULL, "NULL name accepted");

    /* 64 characters is the longest valid name. */
    char name[80], path[PATH_LEN];
    limit_name(name, sizeof name, "x", path);
    size_t n = strlen(name);
    memset(name + n, 'z', 64 - n);
    name[64] = '\0';
    if (cxb_shared_limit_path(name, path, sizeof path, err, sizeof err) != 0) abort();
    unlink(path);
    cxb_limiter *l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
    CHECK(l != NULL, "64-character name rejected: %s", err);
    cxb_limiter_free(l);
    unlink(path);

    /* Bad parameters are reported before any file is created. */
    limit_name(name, sizeof name, "params", path);
    CHECK(cxb_limiter_open_shared(name, 10, 0.5, err, sizeof err) == NULL, "burst 0.5 accepted");
    CHECK_STR(err, "burst must be >= 1 (got 0.5)");
    CHECK(access(path, F_OK) != 0, "a rejected open left %s behind", path);
}

static void test_mismatch_and_sharing(void)
{
    char name[80], path[PATH_LEN], err[256], want[256];
    limit_name(name, sizeof name, "mismatch", path);
    cxb_limiter *a = cxb_limiter_open_shared(name, 45, 20, err, sizeof err);
    CHECK(a != NULL, "create: %s", err);
    if (!a) return;
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "%s mode %o, want 600", path,
          (unsigned)(sb.st_mode & 0777));
    cxb_limiter *b = cxb_limiter_open_shared(name, 50, 20, err, sizeof err);
    CHECK(b == NULL, "rate mismatch accepted");
    snprintf(want, sizeof want, "shared limit '%s' was created with rate 45/s burst 20; this "
             "process asked for rate 50/s burst 20", name);
    CHECK_STR(err, want);
    b = cxb_limiter_open_shared(name, 45, 21, err, sizeof err);
    CHECK(b == NULL, "burst mismatch accepted");
    snprintf(want, sizeof want, "shared limit '%s' was created with rate 45/s burst 20; this "
             "process asked for rate 45/s burst 21", name);
    CHECK_STR(err, want);

    /* Two handles on one name share one bucket. */
    b = cxb_limiter_open_shared(name, 45, 20, err, sizeof err);
    CHECK(b != NULL, "second open with the same values: %s", err);
    if (b) {
        for (int i = 0; i < 20; i++) CHECK(limiter_try(a) == 0, "burst token %d refused", i);
        double wait = limiter_try(b);
        CHECK(wait > 0, "the other handle still had tokens after the burst was spent");
        cxb_limiter_free(b);
    }
    cxb_limiter_free(a);
    unlink(path);
}

struct rate_log {
    int n;
    double rate;
};

static void rate_note(void *arg, const cxb_limiter_note *n)
{
    struct rate_log *log = arg;
    if (n->kind != CXB_LIM_NOTE_RATE) return;
    log->n++;
    log->rate = n->rate;
}

/* The rate is one value in the file: a change (set_rate, a cut) by one handle is the rate of
 * every handle, and each reports it; adaptive and fixed limits do not mix. */
static void test_shared_rate(void)
{
    char name[80], path[PATH_LEN], err[256], want[300];
    limit_name(name, sizeof name, "auto", path);
    cxb_limit_config c = {45, 20, name, 0, NULL, 1, 90};
    cxb_limiter *a = cxb_limiter_open(&c, err, sizeof err);
    CHECK(a != NULL, "create: %s", err);
    if (!a) return;
    cxb_limiter *f = cxb_limiter_open_shared(name, 45, 20, err, sizeof err);
    CHECK(f == NULL, "a fixed rate joined an adaptive limit");
    snprintf(want, sizeof want, "shared limit '%s' was created with rate auto (start 45/s, max 90/s) "
             "burst 20; this process asked for rate 45/s burst 20", name);
    CHECK_STR(err, want);
    cxb_limiter *b = cxb_limiter_open(&c, err, sizeof err);
    CHECK(b != NULL, "join: %s", err);
    if (!b) {
        cxb_limiter_free(a);
        return;
    }
    struct rate_log log = {0};
    cxb_limiter_set_notify(b, rate_note, &log);
    CHECK(cxb_limiter_set_rate(a, 30, err, sizeof err) == 0, "set_rate: %s", err);
    cxb_rate_status st;
    cxb_limiter_rate_status(b, &st);
    CHECK(st.adaptive && st.rate == 30 && st.max_rate == 90, "the other handle sees rate %g max %g", st.rate,
          st.max_rate);
    CHECK(cxb_limiter_acquire(b, NULL) == 0 && log.n == 1 && log.rate == 30,
          "the other handle reports the change: %d notes, %g", log.n, log.rate);
    cxb_slot s;
    CHECK(cxb_limiter_acquire_slot(b, NULL, &s) == 0, "grant");
    cxb_limiter_throttled(b, &s);
    cxb_limiter_rate_status(a, &st);
    CHECK(st.rate == 21 && st.rate_found == 30, "a cut by one is the rate of all: %g (found %g)", st.rate,
          st.rate_found);
    cxb_limiter_free(b);
    cxb_limiter_free(a);
    unlink(path);
}

/* The rate in force is the users' while any is attached; once the last has gone (closed, or
 * killed with -9), the next opener starts at its configured rate: a set_rate, a max_rate or a
 * found rate never outlives the runs that made it. */
static void test_rate_ends_with_its_users(void)
{
    char name[80], path[PATH_LEN], err[256];
    limit_name(name, sizeof name, "ends", path);
    cxb_rate_status st;
    cxb_limiter *a = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(a != NULL, "open: %s", err);
    if (!a) return;
    CHECK(cxb_limiter_set_rate(a, 30, err, sizeof err) == 0, "set_rate: %s", err);
    cxb_limiter *b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(b != NULL, "join: %s", err);
    if (b) {
        cxb_limiter_rate_status(b, &st);
        CHECK(st.rate == 30, "a handle joining a limit in use takes its rate in force: %g", st.rate);
        cxb_limiter_free(b);
    }
    cxb_limiter_free(a);
    b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(b != NULL, "reopen: %s", err);
    if (b) {
        cxb_limiter_rate_status(b, &st);
        CHECK(st.rate == 10, "the rate of runs that have all ended outlived them: %g", st.rate);
        cxb_limiter_free(b);
    }
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) { /* attaches, moves the rate, says so, and waits to be killed */
        cxb_limiter *c = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
        char ok = c && cxb_limiter_set_rate(c, 40, err, sizeof err) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1) _exit(2);
        for (;;) pause();
    }
    char ok = 'n';
    CHECK(read(ready[0], &ok, 1) == 1 && ok == 'y', "the child did not attach");
    b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    if (b) {
        cxb_limiter_rate_status(b, &st);
        CHECK(st.rate == 40, "the child's rate while it is attached: %g", st.rate);
        cxb_limiter_free(b);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    if (b) {
        cxb_limiter_rate_status(b, &st);
        CHECK(st.rate == 10, "a user killed with -9 left its rate behind: %g", st.rate);
        cxb_limiter_free(b);
    }
    cxb_limit_config c = {45, 20, name, 0, NULL, 1, 90};
    unlink(path);
    a = cxb_limiter_open(&c, err, sizeof err);
    CHECK(a != NULL, "adaptive: %s", err);
    if (!a) return;
    CHECK(cxb_limiter_set_max_rate(a, 60, err, sizeof err) == 0 && cxb_limiter_set_rate(a, 50, err, sizeof err) == 0,
          "set: %s", err);
    cxb_limiter_free(a);
    a = cxb_limiter_open(&c, err, sizeof err);
    if (a) {
        cxb_limiter_rate_status(a, &st);
        CHECK(st.rate == 45 && st.max_rate == 90 && st.rate_found == 0,
              "adaptive: rate %g max %g found %g, want the configured 45, 90, none", st.rate, st.max_rate,
              st.rate_found);
        cxb_limiter_free(a);
    }
    unlink(path);
}

/* A pause set by one process holds every process back. */
static void test_pause_across_processes(void)
{
    char name[80], path[PATH_LEN], err[256];
    limit_name(name, sizeof name, "pause", path);
    cxb_limiter *l = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(l != NULL, "open: %s", err);
    if (!l) return;
    pid_t pid = fork();
    if (pid == 0) {
        cxb_limiter_free(l); /* the child's copy of the parent's handle: keeps valgrind quiet */
        cxb_limiter *c = cxb_limiter_open_shared(name, 10, 2, NULL, 0);
        if (!c) _exit(2);
        cxb_limiter_pause(c, cxb_now_mono() + 5); /* long: the parent may be scheduled late */
        cxb_limiter_free(c);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed (status %d)", st);
    double left = cxb_limiter_pause_remaining(l);
    CHECK(left > 3 && left <= 5.001, "pause set by another process: %.3f s left here", left);
    CHECK(limiter_try(l) > 3, "token granted during another process's pause");
    cxb_limiter_free(l);
    unlink(path);
}

struct grant_rec {
    double sched, ret;
};

#define CHILDREN 4

/* Child body: open the limit by name and take tokens until `end`, writing each to fd. */
static void child_run(const char *name, double rate, double burst, double end, int fd)
{
    cxb_limiter *l = cxb_limiter_open_shared(name, rate, burst, NULL, 0);
    if (!l) {
        struct grant_rec fail = { -1, -1 };
        (void)!write(fd, &fail, sizeof fail);
        _exit(3);
    }
    while (cxb_now_mono() < end) {
        struct grant_rec r;
        if (cxb_limiter_acquire_at(l, NULL, &r.sched) != 0) _exit(4);
        r.ret = cxb_now_mono();
        if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(5);
    }
    cxb_limiter_free(l);
    _exit(0);
}

static size_t drain(int fd, struct grant_rec *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        struct grant_rec r;
        ssize_t got = read(fd, &r, sizeof r);
        if (got != (ssize_t)sizeof r) break;
        if (n < cap) out[n++] = r;
    }
    return n;
}

/* Four processes share rate 100 burst 5 for 1.5 s; one is killed with SIGKILL after 0.5 s.
 * The aggregate must obey the bound and the survivors must keep the full shared rate. */
static void test_fork_shared_bound(void)
{
    const double rate = 100, burst = 5, run = 1.5, kill_after = 0.5;
    char name[80], path[PATH_LEN];
    limit_name(name, sizeof name, "fork", path);
    int fds[CHILDREN][2];
    pid_t pids[CHILDREN];
    double start = cxb_now_mono(), end = start + run;
    for (int i = 0; i < CHILDREN; i++) {
        if (pipe(fds[i]) != 0) abort();
        pids[i] = fork();
        if (pids[i] < 0) abort();
        if (pids[i] == 0) {
            close(fds[i][0]);
            child_run(name, rate, burst, end, fds[i][1]);
        }
        close(fds[i][1]);
    }
    sleep_s(start + kill_after - cxb_now_mono());
    double killed_at = cxb_now_mono();
    kill(pids[0], SIGKILL);

    enum { CAP = 1024 };
    struct grant_rec *recs = malloc(CHILDREN * CAP * sizeof *recs);
    double *sched = malloc(CHILDREN * CAP * sizeof *sched);
    if (!recs || !sched) abort();
    size_t total = 0, per_child_after[CHILDREN] = { 0 };
    int open_failed = 0;
    for (int i = 0; i < CHILDREN; i++) {
        size_t n = drain(fds[i][0], recs + total, CAP); /* EOF once the child is gone */
        close(fds[i][0]);
        int st = 0;
        waitpid(pids[i], &st, 0);
        if (i == 0)
            CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child 0 was not killed (status %d)", st);
        else
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", i, st);
        for (size_t k = total; k < total + n; k++) {
            if (recs[k].sched < 0) open_failed++;
            if (recs[k].sched > killed_at + 0.05) per_child_after[i]++;
        }
        total += n;
    }
    CHECK(open_failed == 0, "%d children could not open the shared limit", open_failed);
    for (size_t k = 0; k < total; k++) sched[k] = recs[k].sched;
    grants_sort(sched, total);

    const double windows[] = { 0, 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 1.4 };
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
        size_t got = grants_max_in_window(sched, total, windows[w]);
        size_t lim = grants_bound(rate, burst, windows[w]);
        CHECK(got <= lim, "%zu grants across processes within %.3f s, bound %zu", got,
              windows[w], lim);
    }
    /* After the kill the three survivors still saturate the shared rate. */
    double from = killed_at + 0.05, to = end - 0.05;
    size_t in_span = 0;
    for (size_t k = 0; k < total; k++) in_span += sched[k] >= from && sched[k] < to;
    double achieved = (double)in_span / (to - from);
    CHECK(achieved >= rate * 0.97 - 1 / (to - from) && achieved <= rate * 1.03 + 1 / (to - from),
          "rate after the kill %.1f/s, configured %.0f/s", achieved, rate);
    CHECK(per_child_after[0] == 0, "the killed child granted %zu tokens after its death",
          per_child_after[0]);
    for (int i = 1; i < CHILDREN; i++)
        CHECK(per_child_after[i] > 5, "survivor %d got only %zu tokens after the kill", i,
              per_child_after[i]);
    printf("fork: %zu grants by %d processes, %.1f/s after one was killed\n", total, CHILDREN,
           achieved);
    free(recs);
    free(sched);
    unlink(path);
}

struct note_log {
    int n;
    char last[256];
    double wait;
};

static void log_note(void *arg, const cxb_limiter_note *note)
{
    struct note_log *log = arg;
    log->n++;
    log->wait = note->wait;
    snprintf(log->last, sizeof log->last, "%s", note->msg);
}

/* Writes state words straight into an open limit's file, as a broken writer would. */
static void poke_state(const char *path, int64_t tat, int64_t pause_w)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) abort();
    struct cxb_gcra_state st;
    atomic_init(&st.next_w, cxb_next_pack(tat, 0));
    atomic_init(&st.pause_w, pause_w);
    off_t off = 32; /* after ready, layout_size, rate, burst */
    if (pwrite(fd, &st, sizeof st, off) != (ssize_t)sizeof st) abort();
    close(fd);
}

/* An absurd pause or next slot is reported and reset; a plausible long pause left by a
 * killed run is kept, and a waiter held by it says until when, once. */
static void test_absurd_state(void)
{
    char name[80], path[PATH_LEN], err[512];
    limit_name(name, sizeof name, "absurd", path);
    cxb_limiter *a = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(a != NULL, "open: %s", err);
    int64_t now = cxb_mono_ns(), s = 1000000000LL;
    poke_state(path, now + 400000 * s, cxb_pause_pack(now + 3 * 86400 * s, 3 * 86400 * s));
    struct note_log log = {0};
    cxb_limiter *b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    CHECK(b != NULL, "open: %s", err);
    if (b) cxb_limiter_set_notify(b, log_note, &log);
    CHECK(log.n == 2, "want two reset notes (pause, next slot), got %d: %s", log.n, log.last);
    CHECK(b && cxb_limiter_pause_remaining(b) == 0 && limiter_try(b) == 0,
          "the absurd state still holds the limit");
    cxb_limiter_free(b);

    /* set in the future: until 10 s ahead by a Retry-After of 2 s */
    now = cxb_mono_ns();
    poke_state(path, now, cxb_pause_pack(now + 10 * s, 2 * s));
    memset(&log, 0, sizeof log);
    b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    if (b) cxb_limiter_set_notify(b, log_note, &log);
    CHECK(log.n == 1 && contains(log.last, "in the future"), "note: %s", log.last);
    CHECK(b && cxb_limiter_pause_remaining(b) == 0, "a pause set in the future was kept");
    cxb_limiter_free(b);

    /* plausible: a 1 s pause by Retry-After 1 from another process */
    cxb_limiter_pause(a, cxb_now_mono() + 1.0);
    memset(&log, 0, sizeof log);
    b = cxb_limiter_open_shared(name, 10, 2, err, sizeof err);
    if (b) cxb_limiter_set_notify(b, log_note, &log);
    CHECK(log.n == 0, "a valid pause was reported as invalid: %s", log.last);
    atomic_int cancel;
    atomic_init(&cancel, 0);
    CHECK(b && cxb_limiter_acquire(b, &cancel) == 0, "acquire after the pause");
    CHECK(log.n == 1 && contains(log.last, "paused until") && contains(log.last, "Retry-After 1 s"),
          "the wait on another's pause was not reported: %d %s", log.n, log.last);
    CHECK(log.wait > 0.5 && log.wait <= 1.001, "reported wait %.3f s", log.wait);
    CHECK(b && cxb_limiter_acquire(b, &cancel) == 0 && log.n == 1, "reported twice");
    /* a's own pause is not reported to a */
    struct note_log own = {0};
    if (a) cxb_limiter_set_notify(a, log_note, &own);
    cxb_limiter_pause(a, cxb_now_mono() + 0.2);
    CHECK(a && cxb_limiter_acquire(a, &cancel) == 0 && own.n == 0, "own pause reported: %s", own.last);
    cxb_limiter_free(b);
    cxb_limiter_free(a);
    unlink(path);
}

/* Creates `path` by hand with `len` bytes of `fill`, as a broken or hostile creator would. */
static void forge_file(const char *path, unsigned char fill, size_t len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) abort();
    unsigned char buf[4096];
    memset(buf, fill, sizeof buf);
    if (len > sizeof buf || write(fd, buf, len) != (ssize_t)len) abort();
    close(fd);
}

static void test_untrusted_files(void)
{
    char name[80], path[PATH_LEN], err[512];

    limit_name(name, sizeof name, "stale", path);
    forge_file(path, 0x00, 4096); /* sized but never published: the creator died */
    double t0 = cxb_now_mono();
    cxb_limiter *l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
    double took = cxb_now_mono() - t0;
    CHECK(l != NULL, "an unpublished file was not reset: %s", err);
    CHECK(took >= 1.9 && took < 4, "reset after %.2f s, want the bounded 2 s wait", took);
    struct note_log log = {0};
    if (l) cxb_limiter_set_notify(l, log_note, &log);
    CHECK(log.n == 1 && contains(log.last, "was never initialised") && contains(log.last, path),
          "notes %d, last: %s", log.n, log.last);
    CHECK(l && limiter_try(l) == 0, "the reset limit does not grant");
    cxb_limiter_free(l);
    unlink(path);

    /* The same left long ago (not modified for more than the creator's 2 s), and one left
     * empty (a creator that died before sizing it): reset at once, with the note. */
    for (int empty = 0; empty <= 1; empty++) {
        limit_name(name, sizeof name, empty ? "empty" : "old", path);
        forge_file(path, 0x00, empty ? 0 : 4096);
        struct timespec old[2];
        clock_gettime(CLOCK_REALTIME, &old[0]);
        old[0].tv_sec -= 60;
        old[1] = old[0];
        if (utimensat(AT_FDCWD, path, old, 0) != 0) abort();
        t0 = cxb_now_mono();
        l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
        took = cxb_now_mono() - t0;
        CHECK(l != NULL, "%s file was not reset: %s", empty ? "an empty" : "an old", err);
        CHECK(took < 0.5, "%s file reset after %.2f s, want at once", empty ? "an empty" : "an old", took);
        memset(&log, 0, sizeof log);
        if (l) cxb_limiter_set_notify(l, log_note, &log);
        CHECK(log.n == 1 && contains(log.last, "was never initialised") && contains(log.last, path),
              "notes %d, last: %s", log.n, log.last);
        CHECK(l && limiter_try(l) == 0, "the reset limit does not grant");
        cxb_limiter_free(l);
        unlink(path);
    }

    /* An empty file just created waits the creator's 2 s once, not once for the size and once
     * more for the magic. */
    limit_name(name, sizeof name, "fresh-empty", path);
    forge_file(path, 0x00, 0);
    t0 = cxb_now_mono();
    l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
    took = cxb_now_mono() - t0;
    CHECK(l != NULL, "a fresh empty file was not reset: %s", err);
    CHECK(took >= 1.9 && took < 3, "reset after %.2f s, want the one bounded 2 s wait", took);
    cxb_limiter_free(l);
    unlink(path);

    limit_name(name, sizeof name, "alien", path);
    forge_file(path, 0xa7, 40); /* garbage, and too short */
    t0 = cxb_now_mono();
    l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
    memset(&log, 0, sizeof log);
    if (l) cxb_limiter_set_notify(l, log_note, &log);
    CHECK(l != NULL, "a corrupt file was not reset: %s", err);
    CHECK(log.n == 1 && contains(log.last, "corrupt") && contains(log.last, "reset"), "last note: %s", log.last);
    CHECK(l && limiter_try(l) == 0, "the reset limit does not grant");
    cxb_limiter_free(l);
    unlink(path);

    /* cxb-lim1 and cxb-lim2: files of earlier layouts, maybe still in use by an older version */
    for (uint64_t v = UINT64_C(0x6378622d6c696d31); v <= UINT64_C(0x6378622d6c696d32); v++) {
        limit_name(name, sizeof name, "old", path);
        forge_file(path, 0x00, 4096);
        int fd = open(path, O_RDWR);
        if (fd < 0 || write(fd, &v, sizeof v) != (ssize_t)sizeof v) abort();
        close(fd);
        l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
        CHECK(l == NULL, "a file of the previous layout %llx was used", (unsigned long long)v);
        CHECK(contains(err, "incompatible layout"), "message: %s", err);
        unlink(path);
    }

    limit_name(name, sizeof name, "link", path);
    if (symlink("/dev/null", path) != 0) abort();
    l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
    CHECK(l == NULL, "a symlink was followed");
    CHECK(contains(err, "cannot open shared limit file"), "message: %s", err);
    unlink(path);

    if (geteuid() == 0) {
        limit_name(name, sizeof name, "owner", path);
        cxb_limiter *mine = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
        CHECK(mine != NULL, "open: %s", err);
        cxb_limiter_free(mine);
        if (chown(path, 65534, 65534) != 0) abort();
        l = cxb_limiter_open_shared(name, 10, 1, err, sizeof err);
        CHECK(l == NULL, "a file owned by another user was used");
        CHECK(contains(err, "not a regular file owned by this user"), "message: %s", err);
        unlink(path);
    } else {
        printf("skipped: foreign-owner check needs root to chown a file\n");
    }
}

int main(void)
{
    test_bad_names();
    test_mismatch_and_sharing();
    test_shared_rate();
    test_rate_ends_with_its_users();
    test_pause_across_processes();
    test_fork_shared_bound();
    test_untrusted_files();
    test_absurd_state();
    return check_finish();
}
