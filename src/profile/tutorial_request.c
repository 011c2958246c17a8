#include "profile/tutorial_request.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int same_string(const json_t *have, const char *want)
{
    return json_is_string(have) && strcmp(json_string_value(have), want) == 0;
}

enum cxb_disposition_check cxb_tutorial_readback(const char *resp, size_t resp_len, const char *category,
                                                 const char *subcategory, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(resp, resp_len, 0, &jerr);
    enum cxb_disposition_check res = CXB_DISP_DIFFERS;
    const json_t *have = json_object_get(doc, "outcome");
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
    } else if (!category || !subcategory) {
        snprintf(err, errlen, "internal: the task has no wanted outcome");
        res = CXB_DISP_INVALID;
    } else if (same_string(json_object_get(have, "category"), category) &&
               same_string(json_object_get(have, "subcategory"), subcategory)) {
        res = CXB_DISP_MATCHES;
    }
    json_decref(doc);
    return res;
}
