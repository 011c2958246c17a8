/* Retry timing: full-jitter exponential backoff and Retry-After parsing. */
#include "net/backoff.h"

#include <curl/curl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define RETRY_AFTER_CAP 86400     /* a day: anything longer is a misconfigured server */
#define RETRY_AFTER_MAX_LEN 64    /* the longest valid form (RFC 850) is 30 characters */

/* xorshift64* (Vigna): small, fast, good enough for jitter; state must stay non-zero. */
static uint64_t xorshift64s(uint64_t *s)
{
    uint64_t x = *s ? *s : UINT64_C(0x9E3779B97F4A7C15); /* a zero state would stick at zero */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* splitmix64 finaliser: spreads every input bit over the whole seed. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

uint64_t cxb_rng_seed(uint64_t salt)
{
    struct timespec mono, wall;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    pthread_t self = pthread_self();
    uint64_t tid = 0;
    memcpy(&tid, &self, sizeof self < sizeof tid ? sizeof self : sizeof tid);
    int local; /* its address differs per thread stack (and per process with ASLR) */
    uint64_t s = mix64(salt);
    s = mix64(s ^ ((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec));
    s = mix64(s ^ ((uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec));
    s = mix64(s ^ tid);
    s = mix64(s ^ (uint64_t)getpid());
    s = mix64(s ^ (uint64_t)(uintptr_t)&local);
    return s ? s : UINT64_C(0x9E3779B97F4A7C15);
}

double cxb_backoff_delay(double base, double cap, int retry, uint64_t *rng)
{
    if (!(base > 0) || !(cap > 0)) return 0; /* also NaN */
    if (retry < 0) retry = 0;
    /* 2^1100 is +inf in a double and any base*inf then caps; bounding the exponent keeps ldexp
     * well-defined for INT_MAX retries. */
    double ceiling = ldexp(base, retry > 1100 ? 1100 : retry);
    if (!(ceiling < cap)) ceiling = cap;
    if (isinf(ceiling)) ceiling = DBL_MAX; /* cap = inf means "no cap"; keep the product finite */
    /* 53 random bits give a uniform double in [0, 1). */
    double u = (double)(xorshift64s(rng) >> 11) * 0x1.0p-53;
    return u * ceiling;
}

/* Copy of `s` with surrounding OWS (space, tab) removed; 0 on success. */
static int trim_copy(const char *s, size_t len, char *out, size_t outlen)
{
    while (len && (*s == ' ' || *s == '\t')) { s++; len--; }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (len == 0 || len >= outlen) return -1;
    if (memchr(s, '\0', len)) return -1; /* an embedded NUL is never valid */
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* delta-seconds = 1*DIGIT; huge values cap at RETRY_AFTER_CAP without overflowing. */
static int parse_delta(const char *s, double *seconds)
{
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1; /* "120abc", "1.5", "12 3" */
        if (v <= RETRY_AFTER_CAP) v = v * 10 + (*p - '0');
    }
    *seconds = v > RETRY_AFTER_CAP ? RETRY_AFTER_CAP : (double)v;
    return 0;
}

/* Shape templates of the three HTTP-date forms (RFC 9110 §5.6.7): 'A' a letter, 'D' a digit,
 * 'd' a digit or space, '+' one or more letters, anything else itself. curl_getdate() is lenient
 * (it skips unknown words), so this keeps "date plus junk" out; curl does the real parsing. */
static const char *const date_shapes[] = {
    "Aaa, DD Aaa DDDD DD:DD:DD GMT", /* IMF-fixdate */
    "+, DD-Aaa-DD DD:DD:DD GMT",     /* obsolete RFC 850 */
    "Aaa Aaa dD DD:DD:DD DDDD",      /* obsolete asctime() */
};

static int is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int shape_matches(const char *shape, const char *s)
{
    for (; *shape; shape++) {
        char k = *shape;
        if (k == 'A' || k == 'a') {
            if (!is_letter(*s++)) return 0;
        } else if (k == 'D') {
            if (!is_digit(*s++)) return 0;
        } else if (k == 'd') {
            if (!is_digit(*s) && *s != ' ') return 0;
            s++;
        } else if (k == '+') {
            if (!is_letter(*s)) return 0;
            while (is_letter(*s)) s++;
        } else if (*s++ != k) {
            return 0;
        }
    }
    return *s == '\0';
}

static int parse_date(const char *s, time_t now_wall, double *seconds)
{
    int shaped = 0;
    for (size_t i = 0; i < sizeof date_shapes / sizeof *date_shapes; i++)
        shaped |= shape_matches(date_shapes[i], s);
    if (!shaped) return -1;
    time_t when = curl_getdate(s, NULL); /* thread-safe, no curl_global_init needed */
    if (when == (time_t)-1) return -1;   /* bad month name, hour 25, ... */
    double d = difftime(when, now_wall);
    *seconds = d <= 0 ? 0 : d > RETRY_AFTER_CAP ? RETRY_AFTER_CAP : d;
    return 0;
}

int cxb_retry_after_parse(const char *value, size_t len, time_t now_wall, double *seconds)
{
    char buf[RETRY_AFTER_MAX_LEN + 1];
    if (!value || !seconds || trim_copy(value, len, buf, sizeof buf) != 0) return -1;
    /* Every date form starts with a letter; a leading digit means delta-seconds or nothing. */
    if (is_digit(buf[0])) return parse_delta(buf, seconds);
    return parse_date(buf, now_wall, seconds);
}
