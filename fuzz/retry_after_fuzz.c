/* libFuzzer harness for cxb_retry_after_parse (src/net/backoff.c).
 * Input: the raw header value. Besides crashes and sanitizer reports it checks the contract:
 * rc is 0 or -1, a success lies in [0, 86400], a failure leaves *seconds alone, and surrounding
 * whitespace never changes the answer. */
#include "net/backoff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((time_t)1700000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy without a NUL: any over-read is an ASan report. */
    char *v = malloc(size ? size : 1);
    char *padded = malloc(size + 4);
    if (!v || !padded) abort();
    memcpy(v, data, size);
    double s = -1;
    int rc = cxb_retry_after_parse(v, size, NOW, &s);
    if (rc != 0 && rc != -1) abort();
    if (rc == 0 && !(s >= 0 && s <= 86400)) abort();
    if (rc == -1 && s != -1) abort();

    memcpy(padded, " \t", 2);
    memcpy(padded + 2, data, size);
    memcpy(padded + 2 + size, "\t ", 2);
    double s2 = -1;
    int rc2 = cxb_retry_after_parse(padded, size + 4, NOW, &s2);
    if (rc2 != rc || (rc == 0 && s2 != s)) abort();
    free(padded);
    free(v);
    return 0;
}
