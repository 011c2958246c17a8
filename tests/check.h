/* Minimal assertion helpers shared by the C unit tests (header-only, one test binary each).
 * Every binary ends with check_finish(), which prints exactly "N passed, N failed" on its own
 * line (mk/ctest.mk sums those lines) and returns the exit status. */
#ifndef CXB_TEST_CHECK_H
#define CXB_TEST_CHECK_H
#include <stdio.h>
#include <string.h>

/* Owned by the test binary's main thread; worker threads and forked children never touch it. */
static struct { int passed, failed; } check_counts;

/* CHECK(cond, fmt, ...): counts one assertion; on failure prints where, the condition and the
 * formatted detail to stderr. */
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (cond) {                                                                          \
            check_counts.passed++;                                                           \
        } else {                                                                             \
            check_counts.failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

/* CHECK_STR(got, want): the strings are equal (got may be NULL, which never matches). */
#define CHECK_STR(got, want) check_str(__FILE__, __LINE__, (got), (want))

static inline void check_str(const char *file, int line, const char *got, const char *want)
{
    if (got && strcmp(got, want) == 0) {
        check_counts.passed++;
        return;
    }
    check_counts.failed++;
    fprintf(stderr, "FAIL %s:%d: got \"%s\", want \"%s\"\n", file, line, got ? got : "(null)",
            want);
}

static inline int check_finish(void)
{
    fflush(stderr);
    printf("%d passed, %d failed\n", check_counts.passed, check_counts.failed);
    fflush(stdout);
    return check_counts.failed ? 1 : 0;
}
#endif
