/* Per-request helpers shared by the HTTP glue (server.c, routes.c) and the route handlers. */
#include <string.h>

#include "mock.h"

double req_now(const struct req *r)
{
    return (double)r->arrival_ns / 1e9;
}

void method_not_allowed(struct req *r, const char *allow)
{
    reply_method_not_allowed(&r->reply, r->method_name, allow);
}

/* The id is one opaque path segment: percent-decoded here (MHD is told not to), so
 * "%2F" is a '/' inside the id and ".." is just an id, never a path. */
void req_decode_id(struct req *r, const char *seg, size_t n)
{
    char tmp[CONTACT_ID_MAX * 3 + 1];
    if (n > sizeof tmp - 1) {
        r->id_error = "contact id is longer than 512 bytes";
        return;
    }
    long len = pct_decode(seg, n, tmp, false);
    if (len < 0)
        r->id_error = "contact id has a malformed percent-escape";
    else if (len > CONTACT_ID_MAX)
        r->id_error = "contact id is longer than 512 bytes";
    else if (has_control_chars(tmp, (size_t)len))
        r->id_error = "contact id contains control characters";
    else if (!utf8_valid(tmp, (size_t)len))
        r->id_error = "contact id is not valid UTF-8";
    if (r->id_error)
        return;
    memcpy(r->id, tmp, (size_t)len);
    r->id[len] = '\0';
    r->id_len = (size_t)len;
}
