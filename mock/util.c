#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double mock_now(void)
{
    return (double)mono_ns() / 1e9;
}

int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void format_iso8601_ms(int64_t ms, char out[32])
{
    /* By hand rather than strftime+snprintf: this runs on every successful PUT. */
    /* Civil date from days since the epoch (H. Hinnant's algorithm): gmtime_r takes
     * glibc's timezone lock, which worker threads would contend on. */
    if (ms < 0)
        ms = 0;
    int64_t days = ms / 86400000, rem = ms % 86400000;
    int64_t z = days + 719468, era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct tm tm;
    tm.tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    tm.tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10);
    tm.tm_year = (int)(yoe + era * 400 + (tm.tm_mon <= 1)) - 1900;
    tm.tm_hour = (int)(rem / 3600000);
    tm.tm_min = (int)(rem / 60000 % 60);
    tm.tm_sec = (int)(rem / 1000 % 60);
    int year = tm.tm_year + 1900, milli = (int)(rem % 1000);
    char *p = out;
    if (year < 0 || year > 9999)
        year = 9999;
    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = '-';
    p = put2(p, tm.tm_mon + 1);
    *p++ = '-';
    p = put2(p, tm.tm_mday);
    *p++ = 'T';
    p = put2(p, tm.tm_hour);
    *p++ = ':';
    p = put2(p, tm.tm_min);
    *p++ = ':';
    p = put2(p, tm.tm_sec);
    *p++ = '.';
    *p++ = (char)('0' + milli / 100);
    p = put2(p, milli % 100);
    *p++ = 'Z';
    *p = '\0';
}

void format_http_date(time_t t, char out[40])
{
    /* strftime's %a/%b follow the C locale, which this program never changes. */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

int random_fill(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int rng_init(struct rng *r)
{
    uint64_t seed;
    if (random_fill(&seed, sizeof seed) != 0)
        return -1;
    atomic_init(&r->state, seed);
    return 0;
}

uint64_t rng_next(struct rng *r)
{
    /* splitmix64: each caller gets its own point of the sequence from one atomic add. */
    uint64_t z = atomic_fetch_add_explicit(&r->state, 0x9e3779b97f4a7c15ULL, memory_order_relaxed)
                 + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

bool rng_chance(struct rng *r, double p)
{
    if (!(p > 0.0))
        return false;
    if (p >= 1.0)
        return true;
    return rng_unit(r) < p;
}

uint64_t hash_update(uint64_t h, const void *p, size_t n)
{
    /* Eight bytes per step (bodies and keys are hashed on every request), then the tail. */
    const unsigned char *s = p;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    while (n > 0) {
        h = (h ^ *s++) * 0x100000001b3ULL;
        n--;
    }
    return h;
}

uint64_t hash_finish(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

uint64_t hash_bytes(const void *p, size_t n)
{
    return hash_finish(hash_update(HASH_INIT, p, n));
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long pct_decode(const char *in, size_t len, char *out, bool plus_as_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%') {
            int hi = i + 1 < len ? hexval((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    return (long)o;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long base64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    return (long)o;
}

void base64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = tbl[(v >> 6) & 63];
    }
    out[o] = '\0';
}

bool has_control_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t need;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

bool ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

json_t *load_json_doc(const char *flag, const char *path, const char *builtin, const char *what,
                      char *err, size_t errlen)
{
    json_error_t jerr;
    char name[300];
    snprintf(name, sizeof name, "%s%s%.256s", path ? flag : "", path ? " " : "", path ? path : what);
    json_t *root = path ? json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)
                        : json_loads(builtin, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0)
            snprintf(err, errlen, "%s: line %d: %s", name, jerr.line, jerr.text);
        else
            snprintf(err, errlen, "%s: %s", name, jerr.text);
    }
    return root;
}
