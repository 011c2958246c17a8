/* Host-wide limiter: the GCRA state of limiter.c in a small file under /dev/shm, shared by every
 * process that opens the same name.
 *
 * The state is two lock-free atomic words updated by compare-and-swap, so there is no lock a
 * process could die holding: `kill -9` at any instant leaves the state consistent and the others
 * keep the full shared rate. The file is created with O_CREAT|O_EXCL by exactly one process,
 * which initialises it and then publishes a magic word with a release store; everyone else maps
 * it and waits (bounded) for that word with acquire loads before touching the state. */
#include "limiter_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIR_PREFIX "/dev/shm/cxone-bulk-limit."
#define SHM_NAME_MAX 64
/* "cxb-lim1": bump the digit whenever struct shm_layout changes. */
#define SHM_MAGIC UINT64_C(0x6378622d6c696d31)
/* How long an opener waits for the creator to size and initialise the file. */
#define SHM_READY_WAIT_NS (2LL * 1000000000LL)
#define SHM_POLL_NS (1000000L)
/* Attempts when the file vanishes between our O_EXCL failure and our open (creator failed). */
#define SHM_OPEN_ATTEMPTS 5

/* Address-free atomics are required for sharing across processes; lock-free ones are. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2,
               "the shared limiter needs lock-free 64-bit atomics");

struct shm_layout {
    _Atomic uint64_t ready; /* SHM_MAGIC once rate, burst and state are initialised */
    uint64_t layout_size;   /* sizeof(struct shm_layout) as written by the creator */
    double rate, burst;     /* what the creator asked for; every opener must match */
    struct cxb_gcra_state state;
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Thread-safe strerror (XSI strerror_r: this file is built without _GNU_SOURCE). */
static const char *errstr(int e, char *buf, size_t len)
{
    if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "errno %d", e);
    return buf;
}

static int name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

int cxb_shared_limit_path(const char *name, char *path, size_t pathlen, char *err, size_t errlen)
{
    if (!name || !*name) {
        errf(err, errlen, "shared limit name must not be empty");
        return -1;
    }
    size_t n = strnlen(name, SHM_NAME_MAX + 1);
    if (n > SHM_NAME_MAX) {
        errf(err, errlen, "shared limit name is longer than %d characters", SHM_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok(name[i])) {
            errf(err, errlen, "shared limit name '%s' has a character outside [A-Za-z0-9._-] "
                 "at position %zu", name, i + 1);
            return -1;
        }
    }
    if ((size_t)snprintf(path, pathlen, "%s%s", SHM_DIR_PREFIX, name) >= pathlen) {
        errf(err, errlen, "path buffer too small for shared limit '%s'", name);
        return -1;
    }
    return 0;
}

static void nap(void)
{
    struct timespec ts = { 0, SHM_POLL_NS };
    nanosleep(&ts, NULL);
}

/* We created the file: size it, initialise it, then publish. */
static struct shm_layout *init_new(int fd, const char *name, const char *path, double rate,
                                   double burst, char *err, size_t errlen)
{
    char eb[128];
    if (ftruncate(fd, (off_t)sizeof(struct shm_layout)) != 0) {
        errf(err, errlen, "cannot size shared limit file %s: %s", path, errstr(errno, eb, sizeof eb));
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct shm_layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        errf(err, errlen, "cannot map shared limit '%s': %s", name, errstr(errno, eb, sizeof eb));
        return NULL;
    }
    struct shm_layout *m = p;
    m->layout_size = sizeof *m;
    m->rate = rate;
    m->burst = burst;
    atomic_store(&m->state.tat_ns, 0);
    atomic_store(&m->state.pause_ns, 0);
    /* Release: an opener that sees the magic (acquire) also sees everything written above. */
    atomic_store_explicit(&m->ready, SHM_MAGIC, memory_order_release);
    return m;
}

/* Someone else created the file: wait until it is sized and published, then map it. */
static struct shm_layout *open_existing(int fd, const char *name, const char *path, char *err,
                                        size_t errlen)
{
    char eb[128];
    int64_t deadline = cxb_mono_ns() + SHM_READY_WAIT_NS;
    struct stat sb;
    for (;;) {
        if (fstat(fd, &sb) != 0) {
            errf(err, errlen, "cannot stat %s: %s", path, errstr(errno, eb, sizeof eb));
            return NULL;
        }
        if (sb.st_uid != geteuid() || !S_ISREG(sb.st_mode)) {
            /* /dev/shm is world-writable: never let another user's file steer our rate. */
            errf(err, errlen, "shared limit file %s is not a regular file owned by this user; "
                 "refusing to use it", path);
            return NULL;
        }
        /* Mapping before the creator's ftruncate would SIGBUS on first access. */
        if (sb.st_size >= (off_t)sizeof(struct shm_layout)) break;
        if (cxb_mono_ns() > deadline) goto never_ready;
        nap();
    }
    void *p = mmap(NULL, sizeof(struct shm_layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        errf(err, errlen, "cannot map shared limit '%s': %s", name, errstr(errno, eb, sizeof eb));
        return NULL;
    }
    struct shm_layout *m = p;
    for (;;) {
        uint64_t magic = atomic_load_explicit(&m->ready, memory_order_acquire);
        if (magic == SHM_MAGIC && m->layout_size == sizeof *m) return m;
        if (magic != 0) {
            errf(err, errlen, "shared limit file %s has an incompatible layout (another version "
                 "of cxone-bulk?); remove it when no process uses it", path);
            munmap(p, sizeof *m);
            return NULL;
        }
        if (cxb_mono_ns() > deadline) {
            munmap(p, sizeof *m);
            goto never_ready;
        }
        nap();
    }
never_ready:
    errf(err, errlen, "shared limit '%s' (%s) was never initialised; its creator probably died "
         "while creating it: remove the file and retry", name, path);
    return NULL;
}

cxb_limiter *cxb_limiter_open_shared(const char *name, double rate, double burst, char *err,
                                     size_t errlen)
{
    char path[sizeof SHM_DIR_PREFIX + SHM_NAME_MAX];
    char eb[128];
    if (cxb_shared_limit_path(name, path, sizeof path, err, errlen) != 0) return NULL;
    cxb_limiter *l = calloc(1, sizeof *l);
    if (!l) {
        errf(err, errlen, "out of memory allocating a limiter");
        return NULL;
    }
    if (cxb_limiter_set_params(l, rate, burst, err, errlen) != 0) goto fail;

    struct shm_layout *m = NULL;
    for (int attempt = 0; !m; attempt++) {
        if (attempt == SHM_OPEN_ATTEMPTS) {
            errf(err, errlen, "shared limit file %s keeps disappearing while being opened", path);
            goto fail;
        }
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            m = init_new(fd, name, path, rate, burst, err, errlen);
            close(fd);
            if (!m) {
                unlink(path); /* never published, so nobody can be using it */
                goto fail;
            }
            break;
        }
        if (errno != EEXIST) {
            errf(err, errlen, "cannot create shared limit file %s: %s", path,
                 errstr(errno, eb, sizeof eb));
            goto fail;
        }
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) continue; /* the creator gave up and removed it: try to create */
            errf(err, errlen, "cannot open shared limit file %s: %s", path,
                 errstr(errno, eb, sizeof eb));
            goto fail;
        }
        m = open_existing(fd, name, path, err, errlen);
        close(fd);
        if (!m) goto fail;
    }

    if (m->rate != rate || m->burst != burst) {
        errf(err, errlen, "shared limit '%s' was created with rate %g/s burst %g; this process "
             "asked for rate %g/s burst %g", name, m->rate, m->burst, rate, burst);
        munmap(m, sizeof *m);
        goto fail;
    }
    l->map = m;
    l->map_len = sizeof *m;
    l->st = &m->state;
    return l;
fail:
    free(l);
    return NULL;
}
