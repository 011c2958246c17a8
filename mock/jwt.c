#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Appends base64url(data[0..len)) at *p and advances it. */
static void put_b64(char **p, const char *data, size_t len)
{
    base64url_encode((const unsigned char *)data, len, *p);
    *p += strlen(*p);
}

char *jwt_make(const json_t *payload)
{
    /* RS256 as the real issuer uses; "kid" tells a curious reader it is the mock's. */
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"cxone-mock\"}";
    static const char sig[] = JWT_PLACEHOLDER_SIGNATURE;
    char *body = json_dumps(payload, JSON_COMPACT);
    if (!body)
        return NULL;
    size_t blen = strlen(body);
    size_t cap = 4 * ((sizeof header + blen + sizeof sig) / 3 + 3) + 8;
    char *out = malloc(cap);
    if (out) {
        char *p = out;
        put_b64(&p, header, sizeof header - 1);
        *p++ = '.';
        put_b64(&p, body, blen);
        *p++ = '.';
        put_b64(&p, sig, sizeof sig - 1);
    }
    free(body);
    return out;
}
