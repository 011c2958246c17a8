/* libFuzzer harness for cxb_auth_parse_token (src/net/auth.c): the token endpoint's response body.
 * Input: the raw body. Besides crashes and sanitizer reports it checks the contract: rc is 0 or
 * -1; a failure always says why; a success yields a NUL-terminated bearer token of visible ASCII
 * that fits the buffer and a finite lifetime in (0, 86400]. Every output buffer is an exact-size
 * heap block, so writing one byte past its end is an ASan report. The same body is parsed again
 * with small buffers to exercise the length checks and message truncation. */
#include "net/auth.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cstr(const char *s, size_t cap)
{
    if (memchr(s, '\0', cap) == NULL)
        abort();
}

static void parse_once(const char *body, size_t size, size_t tokenlen, size_t grantedlen, size_t msglen)
{
    char *token = malloc(tokenlen);
    char *granted = malloc(grantedlen);
    char *msg = malloc(msglen);
    if (!token || !granted || !msg)
        abort();
    memset(token, 'X', tokenlen);
    msg[0] = '\0';
    double life = -7;
    int scope_ok = -7;
    int rc = cxb_auth_parse_token(body, size, "contact:update", token, tokenlen, &life, &scope_ok,
                                  granted, grantedlen, msg, msglen);
    if (rc != 0 && rc != -1)
        abort();
    check_cstr(granted, grantedlen);
    if (rc == 0) {
        check_cstr(token, tokenlen);
        size_t n = strlen(token);
        if (n == 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e)
                abort();
        if (!isfinite(life) || !(life > 0) || life > 86400)
            abort();
        if (scope_ok != 0 && scope_ok != 1)
            abort();
    } else {
        check_cstr(msg, msglen);
        if (msglen > 1 && msg[0] == '\0')
            abort(); /* a failure must say why */
    }
    free(msg);
    free(granted);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy without a NUL: any over-read is an ASan report. */
    char *body = malloc(size ? size : 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    parse_once(body, size, CXB_TOKEN_MAX, 256, 512);
    parse_once(body, size, 8, 4, 24);
    free(body);
    return 0;
}
