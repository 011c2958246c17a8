/* libFuzzer harness for cxb_http_parse_header_line (src/net/http.c): response header lines exactly
 * as libcurl hands them to the header callback (not NUL-terminated, CRLF included).
 * Input: any bytes, split at '\n' into lines that are fed, in order, to one response, the way a
 * response (or several, after 1xx) arrives. Contract checked after every line: Retry-After is -1
 * or within [0, 86400], Idempotent-Replayed is 0 or 1, and no field the parser does not own
 * (status, body, error text) changes. Each line is an exact-size heap copy: an over-read is an
 * ASan report. */
#include "net/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cxb_http_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.retry_after = -1;
    resp.status = 299;
    resp.body_len = 77;
    const char *sentinel_body = "body";
    resp.body = sentinel_body;
    size_t start = 0;
    while (start < size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) + 1 : size;
        size_t len = end - start;
        char *line = malloc(len ? len : 1);
        if (!line)
            abort();
        memcpy(line, data + start, len);
        cxb_http_parse_header_line(line, len, &resp);
        free(line);
        if (resp.retry_after != -1 && !(resp.retry_after >= 0 && resp.retry_after <= 86400))
            abort();
        if (resp.replayed != 0 && resp.replayed != 1)
            abort();
        if (resp.status != 299 || resp.body_len != 77 || resp.body != sentinel_body ||
            resp.truncated != 0 || resp.curl_rc != CURLE_OK || resp.error[0] != '\0')
            abort();
        start = end;
    }
    return 0;
}
