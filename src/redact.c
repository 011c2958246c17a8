#include "redact.h"
#include <stdlib.h>
#include <string.h>

void cxb_redact(char *s, const char *const *needles, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *needle = needles[i];
        size_t nl = needle ? strlen(needle) : 0;
        if (nl < CXB_REDACT_MIN)
            continue; /* a 1-3 byte "secret" would mangle every message and hide nothing */
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
