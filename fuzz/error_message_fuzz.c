/* libFuzzer harness for cxb_http_error_message (src/net/http.c): turns a hostile error body into
 * the text that ends up in results, logs and the terminal.
 * Input: the raw body. Contract checked for several output sizes: the output is NUL-terminated
 * within its buffer (never one byte past it: the buffers are exact-size heap blocks), and holds
 * no control characters (C0 or DEL), so a body cannot inject escape sequences or fake log lines.
 * An output size of 0 must leave the buffer untouched. No run of CXB_REDACT_RUN bytes of the
 * secret passed in may appear in the output, wherever the body put it (an input that contains
 * the secret, or any 16-byte piece of it, exercises the redaction before the cut). */
#include "net/http.h"
#include "common/redact.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SECRET[] = "Bearer-tk0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH";

static void check_no_run(const char *out)
{
    size_t n = strlen(SECRET);
    char piece[CXB_REDACT_RUN + 1];
    for (size_t k = 0; k + CXB_REDACT_RUN <= n; k++) {
        memcpy(piece, SECRET + k, CXB_REDACT_RUN);
        piece[CXB_REDACT_RUN] = '\0';
        if (strstr(out, piece))
            abort();
    }
}

static void check_one(const char *body, size_t size, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1);
    if (!out)
        abort();
    memset(out, 'Z', outlen ? outlen : 1);
    const char *const secrets[] = {SECRET};
    cxb_http_error_message(body, size, secrets, 1, out, outlen);
    if (outlen == 0) {
        if (out[0] != 'Z')
            abort();
    } else {
        const char *nul = memchr(out, '\0', outlen);
        if (!nul)
            abort();
        for (const char *p = out; p < nul; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
                abort();
        check_no_run(out);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy without a NUL: any over-read is an ASan report. */
    char *body = malloc(size ? size : 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    static const size_t sizes[] = {0, 1, 2, 17, 256, 400};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        check_one(body, size, sizes[i]);
    free(body);
    return 0;
}
