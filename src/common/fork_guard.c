/* The guard is one page mapped with MADV_WIPEONFORK (Linux 4.14): a forked child sees it zeroed,
 * so `alive` reads 0 there. Where the kernel refuses the advice, the page records that and the
 * check falls back to comparing getpid() with the creator's pid. */
#define _GNU_SOURCE
#include "common/fork_guard.h"
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

struct cxb_fork_guard {
    int alive;   /* 1 in the creator; 0 in a child when the page is wiped on fork */
    int by_pid;  /* 1: no MADV_WIPEONFORK here, compare pids (a child copies this 1) */
    pid_t pid;
};

static size_t guard_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

cxb_fork_guard *cxb_fork_guard_new(void)
{
    void *p = mmap(NULL, guard_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    cxb_fork_guard *g = p;
    g->pid = getpid();
    g->by_pid = madvise(p, guard_size(), MADV_WIPEONFORK) != 0;
    g->alive = 1;
    return g;
}

int cxb_fork_guard_here(const cxb_fork_guard *g)
{
    if (g->by_pid)
        return g->pid == getpid();
    return g->alive;
}

void cxb_fork_guard_free(cxb_fork_guard *g)
{
    if (g && cxb_fork_guard_here(g))
        munmap(g, guard_size());
}
