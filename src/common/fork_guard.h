/* Tells, without a system call, whether the running process is the one that made an object.
 * A Lua state copied into a forked child (nginx's master forks its workers after init_by_lua)
 * holds jobs whose threads do not exist there; every job method checks this first, so the check
 * runs once per task and must stay cheap. getpid() is a system call since glibc 2.25. */
#ifndef CXB_FORK_GUARD_H
#define CXB_FORK_GUARD_H

typedef struct cxb_fork_guard cxb_fork_guard;

/* NULL when out of memory. */
cxb_fork_guard *cxb_fork_guard_new(void);
/* 1 in the process that called cxb_fork_guard_new, 0 in a process forked from it. */
int cxb_fork_guard_here(const cxb_fork_guard *g);
/* In the making process only: a forked child leaves its copy alone. NULL is ignored. */
void cxb_fork_guard_free(cxb_fork_guard *g);

#endif
