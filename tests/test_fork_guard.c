/* Unit tests for src/common/fork_guard.c: the creator sees its guard as here, a forked child
 * does not (whether the kernel wipes the page or the pid fallback decides), and a child's free
 * leaves the creator's page alone. */
#include "check.h"

#include "common/fork_guard.h"

#include <sys/wait.h>
#include <unistd.h>

/* In a child: exit 0 when the guard says "not here", 1 when it says "here". */
static int child_sees(cxb_fork_guard *g)
{
    pid_t pid = fork();
    if (pid == 0) {
        int here = cxb_fork_guard_here(g);
        cxb_fork_guard_free(g); /* must not touch the parent's page (a no-op in the child) */
        _exit(here ? 1 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

int main(void)
{
    cxb_fork_guard *g = cxb_fork_guard_new();
    CHECK(g != NULL, "guard made");
    CHECK(cxb_fork_guard_here(g), "the creator is here");
    CHECK(child_sees(g) == 0, "a forked child is not here");
    CHECK(cxb_fork_guard_here(g), "the creator is still here after its child ran");
    cxb_fork_guard *h = cxb_fork_guard_new();
    CHECK(h != NULL && h != g, "a second guard is its own");
    CHECK(child_sees(h) == 0 && child_sees(g) == 0, "both are foreign in a child");
    cxb_fork_guard_free(h);
    cxb_fork_guard_free(g);
    cxb_fork_guard_free(NULL);
    return check_finish();
}
