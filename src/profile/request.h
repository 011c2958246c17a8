/* The one builder of a task's request (issue 23 §2): from the task's named fields — as the facade
 * checked and mapped them — to the URL, body and key, for each request shape a profile's `core`
 * names. The engine's general path, the plain path's bytes (plain_task.c uses the same JSON
 * escaping), the dry run and the undo file's keys all come from here, so what a dry run shows
 * is what is sent, and keys (UUIDv5 over the body) stay what earlier runs derived.
 * spec/request_bytes_spec.lua pins the bytes. */
#ifndef CXB_REQUEST_H
#define CXB_REQUEST_H
#include "profile/idempotency.h"
#include <stddef.h>

enum cxb_shape {
    CXB_SHAPE_TUTORIAL, /* PUT {url_prefix}{id} {"outcome":{"category","subcategory"}} + Idempotency-Key */
    CXB_SHAPE_CXONE     /* POST {api_base}/incontactapi/services/{version}/contacts/{id}/set-disposition */
};

#define CXB_REQUEST_OPTIONAL 4 /* cxone: notes, callback_number, callback_time, commitment_amount */

/* A task's named fields. outcome: category, subcategory (tutorial) or skill, disposition_code
 * (cxone); optional: cxone's optional fields in body order, NULL or "" when not given (not sent);
 * key: the task's own key (tutorial), NULL to derive one. */
typedef struct cxb_request_fields {
    const char *id;
    size_t id_len;
    const char *outcome[2];
    size_t outcome_len[2];
    const char *optional[CXB_REQUEST_OPTIONAL];
    const char *key;
    size_t key_len;
} cxb_request_fields;

/* Where the request goes and what its key is derived from. url_prefix: the tutorial contacts'
 * URL prefix; api_base (NULL: not known yet, the worker builds the URL once discovery found it)
 * and api_version: cxone's. */
typedef struct cxb_request_ctx {
    const char *batch;
    size_t batch_len;
    const char *url_prefix;
    size_t url_prefix_len;
    const char *api_base, *api_version;
} cxb_request_ctx;

/* The built request: url (NULL when not known yet) and body malloc'd; key points at derived or at
 * the task's own key ("" for cxone, whose API takes no key). */
typedef struct cxb_request {
    const char *method;
    char *url, *body;
    size_t url_len, body_len;
    const char *key;
    size_t key_len;
    char derived[CXB_KEY_LEN + 1];
} cxb_request;

/* Builds the request; 0, or -1 with a message naming the field in err (a required field empty,
 * a value not UTF-8 for cxone's JSON) or "out of memory". On success free with cxb_request_free. */
int cxb_request_build(enum cxb_shape shape, const cxb_request_ctx *ctx, const cxb_request_fields *f,
                      cxb_request *out, char *err, size_t errlen);
void cxb_request_free(cxb_request *r);

/* Room cxb_json_string needs for a field of len bytes. */
#define CXB_JSON_STRING_MAX(len) (6 * (len) + 2)

/* A JSON string exactly as lua-cjson writes it: '"', '\\' and '/' escaped, \b \t \n \f \r, other
 * bytes below 0x20 and 0x7f as \u00XX, every other byte as is. Returns the length written. */
size_t cxb_json_string(const char *s, size_t len, char *out);

/* Room cxb_tutorial_body needs for outcome names of these lengths. */
#define CXB_TUTORIAL_BODY_MAX(cat_len, sub_len) (CXB_JSON_STRING_MAX(cat_len) + CXB_JSON_STRING_MAX(sub_len) + 64)

/* {"outcome":{"category":..,"subcategory":..}} at out: the tutorial body, field by field so the
 * bytes (and the key derived from them) never depend on anything but the two names. */
size_t cxb_tutorial_body(const char *cat, size_t cat_len, const char *sub, size_t sub_len, char *out);

/* A URL path segment: RFC 3986 unreserved bytes kept, others %XX, uppercase (what
 * curl_easy_escape writes for the cxone URL). out has room for 3 * len. Returns the length. */
size_t cxb_pct_encode(const char *s, size_t len, char *out);
#endif
