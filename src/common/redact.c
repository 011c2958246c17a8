#include "common/redact.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One CXB_REDACT_RUN-byte window of a needle: its hash and where it starts. */
typedef struct redact_gram {
    uint64_t h;
    size_t off;
} redact_gram;

#define REDACT_BASE UINT64_C(1099511628211) /* odd, so multiplication mod 2^64 is invertible */
#define REDACT_STACK_GRAMS 256              /* tokens up to 271 bytes need no allocation */

static uint64_t redact_hash(const unsigned char *p)
{
    uint64_t h = 0;
    for (int k = 0; k < CXB_REDACT_RUN; k++)
        h = h * REDACT_BASE + p[k];
    return h;
}

static int redact_gram_cmp(const void *a, const void *b)
{
    uint64_t x = ((const redact_gram *)a)->h, y = ((const redact_gram *)b)->h;
    return x < y ? -1 : x > y;
}

/* 1 when the window at w equals one of the needle's windows (hash lookup, then memcmp). */
static int redact_gram_hit(const redact_gram *g, size_t m, uint64_t h, const char *needle,
                           const char *w)
{
    size_t lo = 0, hi = m;
    while (lo < hi) { /* first entry with hash >= h */
        size_t mid = lo + (hi - lo) / 2;
        if (g[mid].h < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < m && g[lo].h == h; lo++)
        if (memcmp(needle + g[lo].off, w, CXB_REDACT_RUN) == 0)
            return 1;
    return 0;
}

/* Masks every run of >= CXB_REDACT_RUN bytes of needle in s[0..len). A byte is masked once no
 * window still to be examined reads it, so every window is compared against the original text. */
static void redact_runs_indexed(char *s, size_t len, const char *needle, const redact_gram *g,
                                size_t m)
{
    const unsigned char *u = (const unsigned char *)s;
    uint64_t top = 1; /* REDACT_BASE^(RUN-1): the weight of the byte leaving the window */
    for (int k = 1; k < CXB_REDACT_RUN; k++)
        top *= REDACT_BASE;
    uint64_t h = redact_hash(u);
    size_t mask_to = 0, last = len - CXB_REDACT_RUN;
    for (size_t i = 0; i <= last; i++) {
        if (redact_gram_hit(g, m, h, needle, s + i))
            mask_to = i + CXB_REDACT_RUN;
        if (i < last)
            h = (h - u[i] * top) * REDACT_BASE + u[i + CXB_REDACT_RUN];
        if (i < mask_to)
            s[i] = '*';
    }
    for (size_t i = last + 1; i < mask_to; i++)
        s[i] = '*';
}

static void redact_runs(char *s, size_t len, const char *needle, size_t nl)
{
    if (len < CXB_REDACT_RUN)
        return;
    size_t m = nl - CXB_REDACT_RUN + 1;
    redact_gram stack[REDACT_STACK_GRAMS];
    redact_gram *g = m <= REDACT_STACK_GRAMS ? stack : malloc(m * sizeof *g);
    if (!g) { /* out of memory: hide the whole message rather than risk a piece of a secret */
        memset(s, '*', len);
        return;
    }
    const unsigned char *u = (const unsigned char *)needle;
    for (size_t k = 0; k < m; k++) {
        g[k].h = redact_hash(u + k);
        g[k].off = k;
    }
    qsort(g, m, sizeof *g, redact_gram_cmp);
    redact_runs_indexed(s, len, needle, g, m);
    if (g != stack)
        free(g);
}

void cxb_redact(char *s, const char *const *needles, size_t n)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++) {
        const char *needle = needles[i];
        size_t nl = needle ? strlen(needle) : 0;
        if (nl < CXB_REDACT_MIN)
            continue; /* a 1-3 byte "secret" would mangle every message and hide nothing */
        if (nl >= CXB_REDACT_RUN) {
            redact_runs(s, len, needle, nl);
            continue;
        }
        char *p = s;
        while ((p = strstr(p, needle)) != NULL) {
            memset(p, '*', nl);
            p += nl;
        }
    }
}

char *cxb_base64(const unsigned char *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = malloc(out_len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}
