/* Analysis of recorded grant instants, shared by the limiter tests (header-only). */
#ifndef CXB_TEST_GRANTS_H
#define CXB_TEST_GRANTS_H
#include <math.h>
#include <stdlib.h>
#include <time.h>

static int grants_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void grants_sort(double *t, size_t n) { qsort(t, n, sizeof *t, grants_cmp); }

/* Most grants inside any closed window [a, a + w] of the sorted instants t[0..n). A window
 * holding the most grants can always be slid to start at a grant, so only those are tried. */
static inline size_t grants_max_in_window(const double *t, size_t n, double w)
{
    size_t best = 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        if (j < i) j = i;
        while (j < n && t[j] - t[i] <= w + 1e-9) j++;
        if (j - i > best) best = j - i;
    }
    return best;
}

/* The limiter's promise for a window of w seconds: burst + rate * w grants (rounded down). */
static inline size_t grants_bound(double rate, double burst, double w)
{
    return (size_t)floor(burst + rate * w + 1e-9);
}

static inline void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) != 0) {
    }
}
#endif
