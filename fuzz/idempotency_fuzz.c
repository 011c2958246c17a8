/* libFuzzer harness for cxb_idempotency_key (src/profile/idempotency.c).
 * Input: two 16-bit little-endian split lengths, then bytes that are cut into batch_id,
 * contact_id and body (lengths up to 65535 reach the digest path for long fields). Checks:
 * canonical lower-case v5 output, the same key from other buffers holding the same bytes,
 * and a different key when one byte moves across a field boundary. */
#include "profile/idempotency.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_canonical(const char *k)
{
    if (strlen(k) != CXB_KEY_LEN || k[14] != '5' || !strchr("89ab", k[19])) abort();
    for (int i = 0; i < CXB_KEY_LEN; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = k[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) abort();
    }
}

/* Exact-size heap copy, so an over-read of any field is an ASan report. */
static char *dup_exact(const uint8_t *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (!d) abort();
    if (n) memcpy(d, p, n);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t rest = size - 4;
    size_t a = (size_t)(data[0] | data[1] << 8) % (rest + 1);
    size_t b = (size_t)(data[2] | data[3] << 8) % (rest - a + 1);
    size_t c = rest - a - b;
    const uint8_t *p = data + 4;

    char k1[CXB_KEY_LEN + 1], k2[CXB_KEY_LEN + 1];
    cxb_idempotency_key((const char *)p, a, (const char *)p + a, b, (const char *)p + a + b, c, k1);
    check_canonical(k1);

    char *f1 = dup_exact(p, a), *f2 = dup_exact(p + a, b), *f3 = dup_exact(p + a + b, c);
    cxb_idempotency_key(f1, a, f2, b, f3, c, k2);
    if (strcmp(k1, k2) != 0) abort();
    free(f1);
    free(f2);
    free(f3);

    /* Move one byte from the end of batch_id to the start of contact_id. */
    if (a > 0) {
        cxb_idempotency_key((const char *)p, a - 1, (const char *)p + a - 1, b + 1,
                            (const char *)p + a + b, c, k2);
        if (strcmp(k1, k2) == 0) abort();
    }
    return 0;
}
