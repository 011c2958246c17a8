#include "outcomes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Realistic outbound-campaign dispositions; used when no --outcomes file is given. */
static const char BUILTIN[] =
    "{\"categories\":["
    "{\"name\":\"Contacted\",\"subcategories\":["
    "{\"name\":\"Information Provided\",\"description\":\"Customer reached; information given\"},"
    "{\"name\":\"Callback Requested\",\"description\":\"Customer asked to be called back later\"},"
    "{\"name\":\"Appointment Scheduled\",\"description\":\"An appointment was booked\"},"
    "{\"name\":\"Sale Completed\",\"description\":\"Customer accepted the offer\"},"
    "{\"name\":\"Not Interested\",\"description\":\"Customer declined the offer\"},"
    "{\"name\":\"Do Not Call\",\"description\":\"Customer asked not to be called again\"}]},"
    "{\"name\":\"Not Contacted\",\"subcategories\":["
    "{\"name\":\"No Answer\",\"description\":\"The call rang out\"},"
    "{\"name\":\"Busy\",\"description\":\"The line was busy\"},"
    "{\"name\":\"Voicemail\",\"description\":\"Reached voicemail or an answering machine\"},"
    "{\"name\":\"Wrong Number\",\"description\":\"The person reached is not the contact\"},"
    "{\"name\":\"Disconnected Number\",\"description\":\"The number is not in service\"}]},"
    "{\"name\":\"Follow-up\",\"subcategories\":["
    "{\"name\":\"Email Sent\",\"description\":\"Details were sent by email\"},"
    "{\"name\":\"Escalated to Supervisor\",\"description\":\"Handed over to a supervisor\"}]}"
    "]}";

void outcomes_free(struct outcomes *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_cats; i++) {
        struct outcome_cat *c = &o->cats[i];
        for (size_t j = 0; j < c->n_subs; j++) {
            free(c->subs[j].name);
            free(c->subs[j].description);
            free(c->subs[j].json);
        }
        free(c->subs);
        free(c->name);
    }
    free(o->cats);
    free(o->json);
    free(o);
}

/* A name must be a non-empty string without control characters. */
static const char *name_of(const json_t *obj, const char *field, char *err, size_t errlen, const char *where)
{
    const json_t *v = json_object_get(obj, field);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 256 ||
        has_control_chars(json_string_value(v), json_string_length(v))) {
        snprintf(err, errlen, "%s: \"%s\" must be a non-empty string (max 256 bytes, no control characters)",
                 where, field);
        return NULL;
    }
    return json_string_value(v);
}

/* Subcategory js (at where) of cat, appended to cat->subs. 0 or -1 with err. */
static int parse_sub(struct outcome_cat *cat, const json_t *js, const char *where, char *err, size_t errlen)
{
    if (!json_is_object(js)) {
        snprintf(err, errlen, "%s must be an object", where);
        return -1;
    }
    const char *sname = name_of(js, "name", err, errlen, where);
    if (!sname)
        return -1;
    for (size_t k = 0; k < cat->n_subs; k++)
        if (strcmp(cat->subs[k].name, sname) == 0) {
            snprintf(err, errlen, "%s: duplicate subcategory \"%.64s\"", where, sname);
            return -1;
        }
    const json_t *jd = json_object_get(js, "description");
    if (jd && !json_is_string(jd)) {
        snprintf(err, errlen, "%s: \"description\" must be a string", where);
        return -1;
    }
    struct outcome_sub *s = &cat->subs[cat->n_subs];
    s->name = strdup(sname);
    if (jd) {
        s->description = strdup(json_string_value(jd));
    } else {
        size_t n = strlen(cat->name) + strlen(sname) + 4;
        s->description = malloc(n);
        if (s->description)
            snprintf(s->description, n, "%s - %s", cat->name, sname);
    }
    s->cat = cat;
    cat->n_subs++;
    if (!s->name || !s->description) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_cat(struct outcome_cat *cat, const json_t *jc, size_t idx, char *err, size_t errlen)
{
    char where[96];
    snprintf(where, sizeof where, "categories[%zu]", idx);
    if (!json_is_object(jc)) {
        snprintf(err, errlen, "%s must be an object", where);
        return -1;
    }
    const char *name = name_of(jc, "name", err, errlen, where);
    if (!name)
        return -1;
    const json_t *subs = json_object_get(jc, "subcategories");
    if (!json_is_array(subs) || json_array_size(subs) == 0) {
        snprintf(err, errlen, "%s (\"%.64s\"): \"subcategories\" must be a non-empty array", where, name);
        return -1;
    }
    cat->name = strdup(name);
    cat->subs = calloc(json_array_size(subs), sizeof *cat->subs);
    if (!cat->name || !cat->subs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t j = 0; j < json_array_size(subs); j++) {
        snprintf(where, sizeof where, "categories[%zu].subcategories[%zu]", idx, j);
        if (parse_sub(cat, json_array_get(subs, j), where, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Canonical JSON for GET /api/v2/contact/outcomes, rendered once. */
static int render(struct outcomes *o)
{
    json_t *cats = json_array();
    json_t *root = json_pack("{s:o}", "categories", cats);
    if (!root)
        return -1;
    int bad = 0;
    for (size_t i = 0; i < o->n_cats; i++) {
        for (size_t j = 0; j < o->cats[i].n_subs; j++) {
            struct outcome_sub *s = &o->cats[i].subs[j];
            json_t *frag = json_pack("{s:s,s:s,s:s}", "category", o->cats[i].name, "subcategory", s->name,
                                     "description", s->description);
            s->json = frag ? json_dumps(frag, JSON_COMPACT) : NULL;
            json_decref(frag);
            if (!s->json)
                bad = 1;
            else
                s->json_len = strlen(s->json);
        }
        json_t *subs = json_array();
        for (size_t j = 0; subs && j < o->cats[i].n_subs; j++)
            bad |= json_array_append_new(subs, json_pack("{s:s,s:s}", "name", o->cats[i].subs[j].name,
                                                          "description", o->cats[i].subs[j].description));
        bad |= json_array_append_new(cats, json_pack("{s:s,s:o}", "name", o->cats[i].name,
                                                      "subcategories", subs));
    }
    if (!bad)
        o->json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!o->json)
        return -1;
    o->json_len = strlen(o->json);
    return 0;
}

struct outcomes *outcomes_load(const char *path, char *err, size_t errlen)
{
    char what[300];
    snprintf(what, sizeof what, "%s%.256s", path ? "--outcomes " : "", path ? path : "built-in outcomes");
    json_t *root = load_json_doc("--outcomes", path, BUILTIN, "built-in outcomes", err, errlen);
    if (!root)
        return NULL;
    struct outcomes *o = calloc(1, sizeof *o);
    const json_t *cats = json_object_get(root, "categories");
    if (!o) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!json_is_array(cats) || json_array_size(cats) == 0) {
        snprintf(err, errlen, "%s: expected {\"categories\": [ ... ]} with at least one category", what);
        goto fail;
    }
    o->cats = calloc(json_array_size(cats), sizeof *o->cats);
    if (!o->cats) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(cats); i++) {
        /* Count first so a half-parsed category is still freed. */
        o->n_cats++;
        if (parse_cat(&o->cats[i], json_array_get(cats, i), i, err, errlen) != 0) {
            char why[256];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "%s: %s", what, why);
            goto fail;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(o->cats[k].name, o->cats[i].name) == 0) {
                snprintf(err, errlen, "categories[%zu]: duplicate category \"%.64s\"", i, o->cats[i].name);
                goto fail;
            }
    }
    if (render(o) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    json_decref(root);
    return o;
fail:
    json_decref(root);
    outcomes_free(o);
    return NULL;
}

const struct outcome_sub *outcomes_find(const struct outcomes *o, const char *cat, size_t cat_len,
                                        const char *sub, size_t sub_len)
{
    /* Linear scans: hierarchies hold a few dozen names, cheaper than hashing. */
    for (size_t i = 0; i < o->n_cats; i++) {
        const struct outcome_cat *c = &o->cats[i];
        if (strlen(c->name) != cat_len || memcmp(c->name, cat, cat_len) != 0)
            continue;
        for (size_t j = 0; j < c->n_subs; j++)
            if (strlen(c->subs[j].name) == sub_len && memcmp(c->subs[j].name, sub, sub_len) == 0)
                return &c->subs[j];
        return NULL;
    }
    return NULL;
}

json_t *outcome_value_json(const struct outcome_sub *s)
{
    if (!s)
        return json_null();
    return json_pack("{s:s,s:s}", "category", s->cat->name, "subcategory", s->name);
}
