#include "profile/tutorial_request.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int same_string(const json_t *a, const json_t *b)
{
    return json_is_string(a) && json_is_string(b) && strcmp(json_string_value(a), json_string_value(b)) == 0;
}

enum cxb_disposition_check cxb_tutorial_readback(const char *resp, size_t resp_len, const char *body,
                                                 size_t body_len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(resp, resp_len, 0, &jerr);
    json_t *want = json_loadb(body, body_len, 0, NULL); /* ours: it parses */
    enum cxb_disposition_check res = CXB_DISP_DIFFERS;
    const json_t *have = json_object_get(doc, "outcome");
    const json_t *wanted = json_object_get(want, "outcome");
    if (!doc) {
        snprintf(err, errlen, "contact read-back: not JSON (line %d: %s)", jerr.line, jerr.text);
        res = CXB_DISP_INVALID;
    } else if (!json_is_object(doc)) {
        snprintf(err, errlen, "contact read-back: expected a JSON object");
        res = CXB_DISP_INVALID;
    } else if (!have || json_is_null(have)) {
        res = CXB_DISP_NONE;
    } else if (!json_is_object(have)) {
        snprintf(err, errlen, "contact read-back: \"outcome\" is not an object");
        res = CXB_DISP_INVALID;
    } else if (!json_is_object(wanted)) {
        snprintf(err, errlen, "internal: the PUT body has no outcome");
        res = CXB_DISP_INVALID;
    } else if (same_string(json_object_get(have, "category"), json_object_get(wanted, "category")) &&
               same_string(json_object_get(have, "subcategory"), json_object_get(wanted, "subcategory"))) {
        res = CXB_DISP_MATCHES;
    }
    json_decref(doc);
    json_decref(want);
    return res;
}
