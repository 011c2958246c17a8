/* libFuzzer harness for cxb_http_error_message (src/http.c): turns a hostile error body into
 * the text that ends up in results, logs and the terminal.
 * Input: the raw body. Contract checked for several output sizes: the output is NUL-terminated
 * within its buffer (never one byte past it: the buffers are exact-size heap blocks), and holds
 * no control characters (C0 or DEL), so a body cannot inject escape sequences or fake log lines.
 * An output size of 0 must leave the buffer untouched. */
#include "../src/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const char *body, size_t size, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1);
    if (!out)
        abort();
    memset(out, 'Z', outlen ? outlen : 1);
    cxb_http_error_message(body, size, out, outlen);
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
