/* Unit tests for the one request builder (src/profile/request.c). The expected bytes and keys
 * were computed on main (b312e74) with the Lua builder then in use (bulk.describe), the same
 * values spec/request_bytes_spec.lua pins. */
#include "check.h"

#include "profile/request.h"

#include <stdio.h>
#include <string.h>

static cxb_request_ctx ctx(void)
{
    cxb_request_ctx c = {"pin-batch", 9, "http://127.0.0.1:9/api/v2/contacts/", 35,
                         "https://api.example.test", "v33.0"};
    return c;
}

static cxb_request_fields fields(const char *id, const char *a, const char *b)
{
    cxb_request_fields f;
    memset(&f, 0, sizeof f);
    f.id = id;
    f.id_len = strlen(id);
    f.outcome[0] = a;
    f.outcome_len[0] = strlen(a);
    f.outcome[1] = b;
    f.outcome_len[1] = strlen(b);
    return f;
}

static void test_tutorial(void)
{
    cxb_request_ctx c = ctx();
    cxb_request_fields f = fields("a b/c?d", "Say \"hi\"/bye", "back\\slash");
    cxb_request r;
    char err[128];
    CHECK(cxb_request_build(CXB_SHAPE_TUTORIAL, &c, &f, &r, err, sizeof err) == 0, "build: %s", err);
    CHECK_STR(r.method, "PUT");
    CHECK_STR(r.url, "http://127.0.0.1:9/api/v2/contacts/a%20b%2Fc%3Fd");
    CHECK_STR(r.body, "{\"outcome\":{\"category\":\"Say \\\"hi\\\"\\/bye\",\"subcategory\":\"back\\\\slash\"}}");
    CHECK_STR(r.key, "a728c49e-38fc-5633-a996-3ea40430da8b");
    cxb_request_free(&r);
    f.key = "my-own-key-1";
    f.key_len = 12;
    CHECK(cxb_request_build(CXB_SHAPE_TUTORIAL, &c, &f, &r, err, sizeof err) == 0, "build: %s", err);
    CHECK_STR(r.key, "my-own-key-1");
    cxb_request_free(&r);
}

/* lua-cjson's escaping of every byte below 0x20 and 0x7f (the validator refuses them in
 * outcome names today; the builder still writes what lua-cjson would). */
static void test_json_escapes(void)
{
    char in[33], out[CXB_JSON_STRING_MAX(33)];
    for (int i = 0; i < 32; i++)
        in[i] = (char)i;
    in[32] = 0x7f;
    size_t n = cxb_json_string(in, 33, out);
    out[n] = '\0';
    CHECK_STR(out, "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
                   "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c"
                   "\\u001d\\u001e\\u001f\\u007f\"");
}

static void test_cxone(void)
{
    cxb_request_ctx c = ctx();
    cxb_request_fields f = fields("5 002", "1001", "Callback Requested");
    f.optional[0] = "call back/later \"soon\"";
    f.optional[1] = ""; /* given empty: not sent */
    cxb_request r;
    char err[128];
    CHECK(cxb_request_build(CXB_SHAPE_CXONE, &c, &f, &r, err, sizeof err) == 0, "build: %s", err);
    CHECK_STR(r.method, "POST");
    CHECK_STR(r.url, "https://api.example.test/incontactapi/services/v33.0/contacts/5%20002/set-disposition");
    CHECK_STR(r.body, "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"Callback Requested\","
                      "\"notes\":\"call back/later \\\"soon\\\"\"}}");
    CHECK(r.key_len == 0, "a cxone request carries no key (got %zu bytes)", r.key_len);
    cxb_request_free(&r);
    c.api_base = NULL; /* the engine: the worker builds the URL once discovery found the host */
    CHECK(cxb_request_build(CXB_SHAPE_CXONE, &c, &f, &r, err, sizeof err) == 0, "build: %s", err);
    CHECK(r.url == NULL, "no URL before discovery");
    cxb_request_free(&r);
    f.outcome[1] = "";
    f.outcome_len[1] = 0;
    CHECK(cxb_request_build(CXB_SHAPE_CXONE, &c, &f, &r, err, sizeof err) != 0, "an empty code is refused");
    CHECK_STR(err, "disposition_code is required");
}

int main(void)
{
    test_tutorial();
    test_json_escapes();
    test_cxone();
    return check_finish();
}
