/* Unit tests for full-jitter backoff and Retry-After parsing (src/net/backoff.c). */
#include "check.h"

#include "net/backoff.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777; "now" is two minutes before it. */
#define DATE_T 784111777
#define NOW (DATE_T - 120)

struct ra_case {
    const char *value;
    int rc;
    double seconds;
};

static const struct ra_case ra_cases[] = {
    { "120", 0, 120 },
    { "0", 0, 0 },
    { "007", 0, 7 },
    { " 120", 0, 120 },
    { "120\t ", 0, 120 },
    { "86400", 0, 86400 },
    { "86401", 0, 86400 },
    { "99999999999999999999999999999999999999999999", 0, 86400 }, /* no overflow, capped */
    { "Sun, 06 Nov 1994 08:49:37 GMT", 0, 120 },                 /* IMF-fixdate */
    { "Sunday, 06-Nov-94 08:49:37 GMT", 0, 120 },                /* RFC 850 */
    { "Sun Nov  6 08:49:37 1994", 0, 120 },                      /* asctime */
    { "  Sun, 06 Nov 1994 08:49:37 GMT  ", 0, 120 },
    { "Sun, 06 Nov 1994 08:47:37 GMT", 0, 0 },                   /* exactly now */
    { "Sat, 05 Nov 1994 08:49:37 GMT", 0, 0 },                   /* past */
    { "Thu, 01 Jan 1970 00:00:00 GMT", 0, 0 },
    { "Sun, 06 Nov 1994 09:49:37 GMT", 0, 3720 },                /* future */
    { "Mon, 06 Nov 1995 08:49:37 GMT", 0, 86400 },               /* far future, capped */
    { "", -1, 0 },
    { "   ", -1, 0 },
    { "-1", -1, 0 },
    { "+5", -1, 0 },
    { "1.5", -1, 0 },
    { "12 3", -1, 0 },
    { "120abc", -1, 0 },
    { "0x10", -1, 0 },
    { "abc", -1, 0 },
    { "soon", -1, 0 },
    { "Sun, 06 Nov 1994 08:49:37 GMT xyz", -1, 0 },  /* curl_getdate alone would accept it */
    { "Sun, 06 Nov 1994 08:49:37 gmt", -1, 0 },
    { "Sun, 06 Nov 1994 08:49:37 +0000", -1, 0 },
    { "Sun, 06 Foo 1994 08:49:37 GMT", -1, 0 },
    { "Sun, 06 Nov 1994 25:49:37 GMT", -1, 0 },
    { "06 Nov 1994", -1, 0 },
    { "Sun, 6 Nov 1994 08:49:37 GMT", -1, 0 },
    { "1234567890123456789012345678901234567890123456789012345678901234567890", -1, 0 }, /* > 64 */
};

static void test_retry_after_table(void)
{
    for (size_t i = 0; i < sizeof ra_cases / sizeof *ra_cases; i++) {
        const struct ra_case *c = &ra_cases[i];
        /* An exact-length heap copy: any read past the end is caught by ASan/valgrind. */
        size_t len = strlen(c->value);
        char *v = malloc(len ? len : 1);
        if (!v) abort();
        memcpy(v, c->value, len);
        double s = -42;
        int rc = cxb_retry_after_parse(v, len, NOW, &s);
        CHECK(rc == c->rc, "\"%s\": rc %d, want %d", c->value, rc, c->rc);
        if (rc == 0 && c->rc == 0)
            CHECK(s == c->seconds, "\"%s\": %.0f s, want %.0f", c->value, s, c->seconds);
        if (rc != 0) CHECK(s == -42, "\"%s\": failed parse wrote %.0f", c->value, s);
        free(v);
    }
}

static void test_retry_after_edges(void)
{
    double s = -1;
    /* Only the first len bytes count: the rest of the buffer is somebody else's data. */
    const char *buf = "120XYZ";
    CHECK(cxb_retry_after_parse(buf, 3, NOW, &s) == 0 && s == 120, "prefix of \"120XYZ\": %g", s);
    const char *date = "Sun, 06 Nov 1994 08:49:37 GMTjunk";
    CHECK(cxb_retry_after_parse(date, 29, NOW, &s) == 0 && s == 120, "29-byte date prefix: %g", s);
    CHECK(cxb_retry_after_parse(date, 30, NOW, &s) == -1, "date followed by a letter accepted");
    CHECK(cxb_retry_after_parse("12\0" "3", 4, NOW, &s) == -1, "embedded NUL accepted");
    CHECK(cxb_retry_after_parse(NULL, 3, NOW, &s) == -1, "NULL value accepted");
    CHECK(cxb_retry_after_parse("5", 1, NOW, NULL) == -1, "NULL out accepted");
    CHECK(cxb_retry_after_parse("5", 0, NOW, &s) == -1, "empty length accepted");
    /* Long surrounding whitespace is trimmed before the length limit applies. */
    char padded[200];
    memset(padded, ' ', sizeof padded);
    memcpy(padded + 100, "42", 2);
    CHECK(cxb_retry_after_parse(padded, sizeof padded, NOW, &s) == 0 && s == 42,
          "42 padded with spaces: %g", s);
}

static double ceiling_for(double base, double cap, int retry)
{
    if (retry < 0) retry = 0;
    double c = retry > 1100 ? INFINITY : ldexp(base, retry);
    return c < cap ? c : cap;
}

static void test_backoff_bounds(void)
{
    uint64_t rng = cxb_rng_seed(1);
    const int retries[] = { -5, 0, 1, 2, 3, 5, 6, 7, 10, 31, 63, 64, 80, 1000, 1100, INT_MAX };
    for (size_t r = 0; r < sizeof retries / sizeof *retries; r++) {
        double ceil_ = ceiling_for(0.5, 30, retries[r]), hi = 0;
        int bad = 0;
        for (int i = 0; i < 2000; i++) {
            double d = cxb_backoff_delay(0.5, 30, retries[r], &rng);
            if (!(d >= 0 && d <= ceil_)) bad++;
            if (d > hi) hi = d;
        }
        CHECK(bad == 0, "retry %d: %d delays outside [0, %g]", retries[r], bad, ceil_);
        CHECK(hi >= 0.95 * ceil_, "retry %d: max %g never near the ceiling %g", retries[r], hi, ceil_);
    }
    CHECK(cxb_backoff_delay(NAN, 30, 2, &rng) == 0, "NaN base gives a delay");
    CHECK(cxb_backoff_delay(0, 30, 2, &rng) == 0, "zero base gives a delay");
    CHECK(cxb_backoff_delay(1, NAN, 2, &rng) == 0, "NaN cap gives a delay");
    CHECK(cxb_backoff_delay(1, -1, 2, &rng) == 0, "negative cap gives a delay");
    double d = cxb_backoff_delay(1, INFINITY, 3, &rng);
    CHECK(d >= 0 && d <= 8, "uncapped retry 3 gave %g", d);
    d = cxb_backoff_delay(1, INFINITY, INT_MAX, &rng);
    CHECK(isfinite(d) && d >= 0, "uncapped INT_MAX retry gave %g", d);

    uint64_t zero = 0; /* a zero xorshift state would otherwise stay zero forever */
    double a = cxb_backoff_delay(1, 100, 6, &zero), b = cxb_backoff_delay(1, 100, 6, &zero);
    CHECK(zero != 0 && a != b, "zero rng state is stuck (%g, %g)", a, b);
}

/* Full jitter is uniform on [0, ceiling]: check the mean and a coarse histogram. */
static void test_backoff_distribution(void)
{
    enum { N = 200000, BINS = 8 };
    uint64_t rng = cxb_rng_seed(7);
    size_t bins[BINS] = { 0 };
    double sum = 0;
    for (int i = 0; i < N; i++) {
        double d = cxb_backoff_delay(1, 100, 3, &rng); /* ceiling 8 */
        sum += d;
        int b = (int)d;
        if (b >= 0 && b < BINS) bins[b]++;
    }
    double mean = sum / N;
    CHECK(fabs(mean - 4) < 0.04, "mean %.4f, want 4 +- 1%%", mean);
    for (int b = 0; b < BINS; b++)
        CHECK(fabs((double)bins[b] - N / BINS) < 0.05 * N / BINS, "bin %d holds %zu of %d", b,
              bins[b], N);
}

static void test_rng_seed(void)
{
    enum { N = 1000 };
    uint64_t seeds[N];
    int zero = 0;
    for (int i = 0; i < N; i++) {
        seeds[i] = cxb_rng_seed((uint64_t)i % 3);
        zero += seeds[i] == 0;
    }
    CHECK(zero == 0, "%d zero seeds", zero);
    int dup = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) dup += seeds[i] == seeds[j];
    CHECK(dup == 0, "%d duplicate seeds among %d", dup, N);
    uint64_t r1 = cxb_rng_seed(1), r2 = cxb_rng_seed(1);
    double x = cxb_backoff_delay(1, 1e6, 40, &r1), y = cxb_backoff_delay(1, 1e6, 40, &r2);
    CHECK(x != y, "two seeds gave the same first delay %g", x);
}

int main(void)
{
    test_retry_after_table();
    test_retry_after_edges();
    test_backoff_bounds();
    test_backoff_distribution();
    test_rng_seed();
    return check_finish();
}
