/* Host-wide limiter: the GCRA state of limiter.c in a small file under /dev/shm, shared by every
 * process that opens the same name.
 *
 * The state is two lock-free atomic words updated by compare-and-swap, so there is no lock a
 * process could die holding: `kill -9` at any instant leaves the state consistent and the others
 * keep the full shared rate. The file is created with O_CREAT|O_EXCL by exactly one process,
 * which initialises it and then publishes a magic word with a release store; everyone else maps
 * it and waits (bounded) for that word with acquire loads before touching the state. */
#include "limiter/limiter_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHM_DIR_PREFIX "/dev/shm/cxone-bulk-limit."
#define SHM_NAME_MAX 64
/* "cxb-lim3": bump the digit whenever struct shm_layout or the meaning of a field changes
 * (2: the pause word carries its Retry-After; 3: the tat word carries its rate epoch, and the
 * file the changeable rate). "cxb-lim1"/"cxb-lim2" files belong to an older version that may
 * still be running, so they are refused, never reset. */
#define SHM_MAGIC UINT64_C(0x6378622d6c696d33)
#define SHM_MAGIC_V1 UINT64_C(0x6378622d6c696d31)
#define SHM_MAGIC_V2 UINT64_C(0x6378622d6c696d32)
/* "cxb-rst!": one process is rewriting a state that could not be valid. */
#define SHM_RESETTING UINT64_C(0x6378622d72737421)
/* A state whose next slot lies further ahead than this many emission intervals (plus tau and
 * a second) cannot come from waiters queueing: no host runs that many at once. */
#define SHM_MAX_QUEUED 4096
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
    double max_rate;        /* adaptive: the creator's max_rate (0: a fixed rate) */
    uint64_t adaptive;
    struct cxb_rate_state rs; /* the rate in force, changeable while the limit is in use */
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

/* Writes a fresh state for l's configuration and then publishes it: the creator, or the one
 * process that claimed a reset (every other opener waits for the magic). -1 when the rate's
 * lock cannot be made (the file then stays unpublished). */
static int shm_publish(struct shm_layout *m, const cxb_limiter *l)
{
    m->layout_size = sizeof *m;
    m->rate = l->rate;
    m->burst = l->burst;
    m->max_rate = l->adaptive ? l->max_rate : 0;
    m->adaptive = (uint64_t)l->adaptive;
    atomic_store(&m->state.next_w, 0);
    atomic_store(&m->state.pause_w, 0);
    if (cxb_rate_state_init(&m->rs, l, 1) != 0) return -1;
    /* Release: an opener that sees the magic (acquire) also sees everything written above. */
    atomic_store_explicit(&m->ready, SHM_MAGIC, memory_order_release);
    return 0;
}

/* We created the file: size it, initialise it, then publish. */
static struct shm_layout *init_new(cxb_limiter *l, int fd, const char *name, const char *path,
                                   char *err, size_t errlen)
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
    if (shm_publish(p, l) != 0) {
        errf(err, errlen, "cannot create the lock of shared limit '%s'", name);
        munmap(p, sizeof(struct shm_layout));
        return NULL;
    }
    return p;
}

/* True when the file was last modified more than the creator's wait ago: a creator sizes and
 * publishes within microseconds of creating it, so a file that old and still unready was left
 * by one that died, and waiting for it would only delay the reset. */
static int shm_stale(const struct stat *sb)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return 0;
    int64_t age = ((int64_t)now.tv_sec - (int64_t)sb->st_mtim.tv_sec) * 1000000000LL +
                  ((int64_t)now.tv_nsec - (int64_t)sb->st_mtim.tv_nsec);
    return age > SHM_READY_WAIT_NS;
}

/* Waits (bounded) until the file is at least a layout long; a file still too short after the
 * wait, or already stale (shm_stale: *stale is set), was left by a creator that died (or by
 * someone else) and is grown to size at once. */
static int shm_wait_sized(int fd, const char *path, int *stale, char *err, size_t errlen)
{
    char eb[128];
    int64_t deadline = cxb_mono_ns() + SHM_READY_WAIT_NS;
    struct stat sb;
    *stale = -1;
    for (;;) {
        if (fstat(fd, &sb) != 0) {
            errf(err, errlen, "cannot stat %s: %s", path, errstr(errno, eb, sizeof eb));
            return -1;
        }
        if (sb.st_uid != geteuid() || !S_ISREG(sb.st_mode)) {
            /* /dev/shm is world-writable: never let another user's file steer our rate. */
            errf(err, errlen, "shared limit file %s is not a regular file owned by this user; "
                 "refusing to use it", path);
            return -1;
        }
        if (*stale < 0) *stale = shm_stale(&sb); /* before our own ftruncate touches it */
        /* Mapping before the creator's ftruncate would SIGBUS on first access. */
        if (sb.st_size >= (off_t)sizeof(struct shm_layout)) return 0;
        if (*stale) break;
        if (cxb_mono_ns() > deadline) {
            *stale = 1; /* its creator had the whole wait: the magic will not come either */
            break;
        }
        nap();
    }
    if (ftruncate(fd, (off_t)sizeof(struct shm_layout)) != 0) {
        errf(err, errlen, "cannot size shared limit file %s: %s", path, errstr(errno, eb, sizeof eb));
        return -1;
    }
    return 0;
}

/* Takes over a file whose magic is `seen` (garbage, or never published within the wait): the
 * process whose compare-and-swap wins rewrites it; the others wait for its magic. */
static void shm_claim_reset(cxb_limiter *l, struct shm_layout *m, uint64_t seen, const char *path)
{
    if (!atomic_compare_exchange_strong(&m->ready, &seen, SHM_RESETTING) || shm_publish(m, l) != 0) return;
    cxb_limiter_note_raise(l, CXB_LIM_NOTE_STATE, 0, "%s: state file %s %s; reset it",
                           l->label, path, seen == 0 || seen == SHM_RESETTING
                               ? "was never initialised (its creator died)"
                               : "held no valid state (corrupt)");
}

/* Someone else created the file: wait until it is sized and published, then map it. A file
 * that cannot hold a valid state is reset (and said so); one of the previous layout version is
 * refused, since a process of that version may still use it. */
static struct shm_layout *open_existing(cxb_limiter *l, int fd, const char *name,
                                        const char *path, char *err, size_t errlen)
{
    char eb[128];
    int stale;
    if (shm_wait_sized(fd, path, &stale, err, errlen) != 0) return NULL;
    void *p = mmap(NULL, sizeof(struct shm_layout), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        errf(err, errlen, "cannot map shared limit '%s': %s", name, errstr(errno, eb, sizeof eb));
        return NULL;
    }
    struct shm_layout *m = p;
    /* A stale file that is not ready is reset now (with its note), not after another wait. */
    int64_t deadline = cxb_mono_ns() + (stale ? 0 : SHM_READY_WAIT_NS);
    for (;;) {
        uint64_t magic = atomic_load_explicit(&m->ready, memory_order_acquire);
        if (magic == SHM_MAGIC && m->layout_size == sizeof *m) return m;
        if (magic == SHM_MAGIC_V1 || magic == SHM_MAGIC_V2) {
            errf(err, errlen, "shared limit file %s has an incompatible layout (another version "
                 "of cxone-bulk?); remove it when no process uses it", path);
            munmap(p, sizeof *m);
            return NULL;
        }
        int settling = magic == 0 || magic == SHM_RESETTING; /* being created or reset */
        if (!settling || cxb_mono_ns() > deadline) {
            shm_claim_reset(l, m, magic, path);
            deadline = cxb_mono_ns() + SHM_READY_WAIT_NS;
        }
        nap();
    }
}

/* Reports and resets what no run of this library can have written: impossible rate or burst
 * (the whole file), a pause set in the future or longer than any Retry-After, a next slot
 * further ahead than any queue of waiters could push it. */
static int shm_rate_sane(struct shm_layout *m)
{
    if (!isfinite(m->rate) || !(m->rate > 0) || !isfinite(m->burst) || !(m->burst >= 1) ||
        m->adaptive > 1 || (m->adaptive && !(m->max_rate >= m->rate && isfinite(m->max_rate))))
        return 0;
    for (int e = 0; e < 2; e++) {
        int64_t t = atomic_load(&m->rs.interval_ns[e]), tau = atomic_load(&m->rs.tolerance_ns[e]);
        if (t < 1 || t > CXB_MAX_INTERVAL_NS || tau < 0 || tau > CXB_MAX_TOLERANCE_NS) return 0;
    }
    return 1;
}

static void shm_check_state(cxb_limiter *l, struct shm_layout *m, const char *path)
{
    if (!shm_rate_sane(m)) {
        uint64_t seen = SHM_MAGIC;
        if (atomic_compare_exchange_strong(&m->ready, &seen, SHM_RESETTING) && shm_publish(m, l) == 0) {
            cxb_limiter_note_raise(l, CXB_LIM_NOTE_STATE, 0, "%s: state file %s held an impossible "
                                   "rate or burst; reset it", l->label, path);
        }
        return;
    }
    int64_t now = cxb_mono_ns();
    int64_t w = atomic_load(&m->state.pause_w);
    cxb_pause_info p;
    cxb_pause_unpack(w, &p);
    if (w != 0 && (p.until_ns - now > PAUSE_MAX_NS + 1000000000LL || p.set_ns > now + 1000000000LL ||
                   w < 0)) {
        if (atomic_compare_exchange_strong(&m->state.pause_w, &w, 0))
            cxb_limiter_note_raise(l, CXB_LIM_NOTE_STATE, 0, "%s: state file %s held a pause of "
                                   "%.0f s set %.0f s in the future, which no Retry-After can "
                                   "give; reset it", l->label, path, (double)(p.until_ns - now) / 1e9,
                                   (double)(p.set_ns - now) / 1e9);
        p.until_ns = 0;
    }
    int64_t base = p.until_ns > now ? p.until_ns : now;
    int64_t nw = atomic_load(&m->state.next_w), next = cxb_next_of(nw);
    int e = cxb_epoch_of(nw);
    int64_t ahead_max = SHM_MAX_QUEUED * atomic_load(&m->rs.interval_ns[e]) + 1000000000LL;
    if (next - base > ahead_max || nw < 0) {
        if (atomic_compare_exchange_strong(&m->state.next_w, &nw, cxb_next_pack(base, e)))
            cxb_limiter_note_raise(l, CXB_LIM_NOTE_STATE, 0, "%s: state file %s held a next slot "
                                   "%.0f s ahead, more than any queue of waiters can reserve; "
                                   "reset it", l->label, path, (double)(next - base) / 1e9);
    }
}

/* How the creator's and this process's rates read in a mismatch message. */
static void shm_rate_words(char *buf, size_t len, int adaptive, double rate, double max, double burst)
{
    if (adaptive)
        snprintf(buf, len, "rate auto (start %g/s, max %g/s) burst %g", rate, max, burst);
    else
        snprintf(buf, len, "rate %g/s burst %g", rate, burst);
}

/* Every opener must ask for what the creator asked for; 0 when it does. */
static int shm_mismatch(const struct shm_layout *m, const cxb_limiter *l, const char *name, char *err,
                        size_t errlen)
{
    if (m->rate == l->rate && m->burst == l->burst && (int)m->adaptive == l->adaptive &&
        (!l->adaptive || m->max_rate == l->max_rate))
        return 0;
    char was[96], asked[96];
    shm_rate_words(was, sizeof was, (int)m->adaptive, m->rate, m->max_rate, m->burst);
    shm_rate_words(asked, sizeof asked, l->adaptive, l->rate, l->max_rate, l->burst);
    errf(err, errlen, "shared limit '%s' was created with %s; this process asked for %s", name, was, asked);
    return -1;
}

cxb_limiter *cxb_limiter_open_shared(const char *name, double rate, double burst, char *err,
                                     size_t errlen)
{
    cxb_limit_config c = {rate, burst, name, 0, NULL, 0, 0};
    return cxb_limiter_open_shm(&c, err, errlen);
}

/* Creates the file (and initialises it) or opens the one another process created; *fdp is the
 * file, left open (the caller attaches with it). NULL with a message when neither works. */
static struct shm_layout *shm_map(cxb_limiter *l, const char *name, const char *path, int *fdp,
                                  char *err, size_t errlen)
{
    char eb[128];
    for (int attempt = 0; attempt < SHM_OPEN_ATTEMPTS; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            struct shm_layout *m = init_new(l, fd, name, path, err, errlen);
            if (!m) {
                close(fd);
                unlink(path); /* never published, so nobody can be using it */
            }
            *fdp = fd;
            return m;
        }
        if (errno != EEXIST) {
            errf(err, errlen, "cannot create shared limit file %s: %s", path,
                 errstr(errno, eb, sizeof eb));
            return NULL;
        }
        fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) continue; /* the creator gave up and removed it: try to create */
            errf(err, errlen, "cannot open shared limit file %s: %s", path,
                 errstr(errno, eb, sizeof eb));
            return NULL;
        }
        struct shm_layout *m = open_existing(l, fd, name, path, err, errlen);
        if (!m) close(fd);
        *fdp = fd;
        return m;
    }
    errf(err, errlen, "shared limit file %s keeps disappearing while being opened", path);
    return NULL;
}

/* Attaches this handle to the shared state: every handle holds a shared flock on the file while
 * it is open (released by close or by the process's death, kill -9 included). One that can take it
 * exclusively is the only user: the rate in force then goes back to the configured one, so a
 * set_rate, a max_rate or an adaptive rate of runs that have all ended never outlives them (the
 * GCRA state is kept: the slots those runs took still count). The exclusive lock is held only
 * for that reset; another opener waits for it at most that long. */
static void shm_attach(cxb_limiter *l, int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) cxb_limiter_rate_restart(l);
    while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {
    }
    l->attach_fd = fd;
    l->has_attach = 1;
}

cxb_limiter *cxb_limiter_open_shm(const cxb_limit_config *c, char *err, size_t errlen)
{
    const char *name = c->shared;
    char path[sizeof SHM_DIR_PREFIX + SHM_NAME_MAX];
    if (cxb_shared_limit_path(name, path, sizeof path, err, errlen) != 0) return NULL;
    cxb_limiter *l = calloc(1, sizeof *l);
    if (!l) {
        errf(err, errlen, "out of memory allocating a limiter");
        return NULL;
    }
    if (cxb_limiter_set_params(l, c->rate, c->burst, err, errlen) != 0 ||
        cxb_limiter_set_mode(l, c->adaptive, c->max_rate, err, errlen) != 0)
        goto fail;
    atomic_init(&l->reported_bits, cxb_dbits(c->rate));
    snprintf(l->label, sizeof l->label, "shared limit '%s'", name);
    int fd = -1;
    struct shm_layout *m = shm_map(l, name, path, &fd, err, errlen);
    if (!m) goto fail;
    shm_check_state(l, m, path);
    if (shm_mismatch(m, l, name, err, errlen) != 0) {
        munmap(m, sizeof *m);
        close(fd);
        goto fail;
    }
    l->map = m;
    l->map_len = sizeof *m;
    l->st = &m->state;
    l->rs = &m->rs;
    shm_attach(l, fd);
    return l;
fail:
    free(l);
    return NULL;
}
