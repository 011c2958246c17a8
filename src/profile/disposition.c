#include "profile/disposition.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field names in body order: the task's names (for messages) and the API's. */
static const char *const TASK_NAMES[] = {"skill", "disposition_code", "notes", "callback_number", "callback_time",
                                         "commitment_amount"};
static const char *const API_NAMES[] = {"skill", "dispositionCode", "notes", "callbackNumber", "callbackTime",
                                        "commitmentAmount"};
#define N_FIELDS 6

static void values(const struct cxb_disposition *d, const char *out[N_FIELDS])
{
    out[0] = d->skill;
    out[1] = d->disposition_code;
    out[2] = d->notes;
    out[3] = d->callback_number;
    out[4] = d->callback_time;
    out[5] = d->commitment_amount;
}

/* jansson objects keep insertion order, so inserting in table order fixes the bytes. */
static json_t *info_object(const struct cxb_disposition *d, char *err, size_t errlen)
{
    const char *v[N_FIELDS];
    values(d, v);
    json_t *info = json_object();
    if (!info) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *why = NULL;
        json_t *s = NULL;
        if (i < 2 && (!v[i] || !*v[i]))
            why = "is required";
        else if (v[i] && !(s = json_string(v[i])))
            why = "is not valid UTF-8";
        else if (s && json_object_set_new(info, API_NAMES[i], s) != 0)
            why = "could not be stored (out of memory)";
        if (why) {
            snprintf(err, errlen, "%s %s", TASK_NAMES[i], why);
            json_decref(info);
            return NULL;
        }
    }
    return info;
}

char *cxb_disposition_body(const struct cxb_disposition *d, size_t *len, char *err, size_t errlen)
{
    json_t *info = info_object(d, err, errlen);
    if (!info)
        return NULL;
    json_t *root = json_pack("{s:o}", "dispositionInfo", info);
    char *out = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *len = strlen(out);
    return out;
}

/* The wanted code against the read-back's id (integer, or a decimal string) and name. */
static int code_matches(const json_t *id, const json_t *name, const char *code)
{
    char buf[32];
    if (json_is_integer(id)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        if (strcmp(buf, code) == 0)
            return 1;
    } else if (json_is_string(id) && strcmp(json_string_value(id), code) == 0) {
        return 1;
    }
    return json_is_string(name) && strcmp(json_string_value(name), code) == 0;
}

/* Wanted notes against the read-back's: equal text; wanted "" also matches absent or null. */
static int notes_match(const json_t *notes, const char *want)
{
    if (!want)
        return 1;
    if (json_is_string(notes))
        return strcmp(json_string_value(notes), want) == 0;
    return !*want && (!notes || json_is_null(notes));
}

enum cxb_disposition_check cxb_disposition_compare(const char *resp, size_t len, const struct cxb_disposition *want,
                                                   char *err, size_t errlen)
{
    json_error_t jerr;
    if (!want->disposition_code || !*want->disposition_code) {
        snprintf(err, errlen, "disposition_code is required");
        return CXB_DISP_INVALID;
    }
    json_t *doc = len ? json_loadb(resp, len, 0, &jerr) : json_object(); /* an empty body: none */
    if (!doc) {
        snprintf(err, errlen, "disposition read-back: not JSON (line %d: %s)", jerr.line, jerr.text);
        return CXB_DISP_INVALID;
    }
    enum cxb_disposition_check res = CXB_DISP_DIFFERS;
    const json_t *id = json_object_get(doc, "dispositionId");
    const json_t *name = json_object_get(doc, "dispositionName");
    const json_t *notes = json_object_get(doc, "notes");
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "disposition read-back: expected a JSON object");
        res = CXB_DISP_INVALID;
    } else if ((!id || json_is_null(id)) && (!name || json_is_null(name))) {
        res = CXB_DISP_NONE;
    } else if (code_matches(id, name, want->disposition_code) && notes_match(notes, want->notes)) {
        res = CXB_DISP_MATCHES;
    }
    json_decref(doc);
    return res;
}
