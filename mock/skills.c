#include "skills.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Used without --skills: skill 1001 with codes 1..5 and a second skill whose codes differ,
 * so a code valid for one skill and not the other can be tested. */
static const char BUILTIN[] =
    "{\"skills\":["
    "{\"skillId\":1001,\"skillName\":\"Outbound Campaign\",\"dispositions\":["
    "{\"dispositionId\":1,\"dispositionName\":\"Sale\",\"classification\":\"Positive\"},"
    "{\"dispositionId\":2,\"dispositionName\":\"Callback Requested\",\"classification\":\"Neutral\"},"
    "{\"dispositionId\":3,\"dispositionName\":\"Not Interested\",\"classification\":\"Negative\"},"
    "{\"dispositionId\":4,\"dispositionName\":\"No Answer\",\"classification\":\"Neutral\"},"
    "{\"dispositionId\":5,\"dispositionName\":\"Wrong Number\",\"classification\":\"Negative\"}]},"
    "{\"skillId\":1002,\"skillName\":\"Collections\",\"dispositions\":["
    "{\"dispositionId\":11,\"dispositionName\":\"Promise To Pay\",\"classification\":\"Positive\"},"
    "{\"dispositionId\":12,\"dispositionName\":\"Refused To Pay\",\"classification\":\"Negative\"},"
    "{\"dispositionId\":13,\"dispositionName\":\"Left Message\",\"classification\":\"Neutral\"}]}"
    "]}";

void skills_free(struct skills *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->list[i].n_defs; j++)
            free(s->list[i].defs[j].name);
        free(s->list[i].defs);
        free(s->list[i].name);
        free(s->list[i].json);
    }
    free(s->list);
    free(s);
}

/* A positive integer id and a non-empty name without control characters. */
static int id_and_name(const json_t *o, const char *idk, const char *namek, long long *id, const char **name,
                       const char *where, char *err, size_t errlen)
{
    const json_t *jid = json_object_get(o, idk);
    const json_t *jn = json_object_get(o, namek);
    if (!json_is_integer(jid) || json_integer_value(jid) <= 0) {
        snprintf(err, errlen, "%s: \"%s\" must be a positive integer", where, idk);
        return -1;
    }
    if (!json_is_string(jn) || json_string_length(jn) == 0 || json_string_length(jn) > 256 ||
        has_control_chars(json_string_value(jn), json_string_length(jn))) {
        snprintf(err, errlen, "%s: \"%s\" must be a non-empty string (max 256 bytes, no control characters)",
                 where, namek);
        return -1;
    }
    *id = (long long)json_integer_value(jid);
    *name = json_string_value(jn);
    return 0;
}

/* {"totalRecords","skillId","skillName","dispositions":[{"dispositionId","dispositionName",
 * "displayOrder","classification","systemOutcome"}]}: the Admin API's shape. Optional fields
 * the file gives (classification, systemOutcome) are passed through. */
static int render_skill(struct skill *sk, const json_t *jdefs)
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:I,s:I,s:s,s:o}", "totalRecords", (json_int_t)sk->n_defs, "skillId",
                             (json_int_t)sk->id, "skillName", sk->name, "dispositions", arr);
    if (!root)
        return -1;
    int bad = 0;
    for (size_t j = 0; j < sk->n_defs; j++) {
        const json_t *src = json_array_get(jdefs, j);
        json_t *d = json_pack("{s:I,s:s,s:I}", "dispositionId", (json_int_t)sk->defs[j].id, "dispositionName",
                              sk->defs[j].name, "displayOrder", (json_int_t)(j + 1));
        const char *opt[] = {"classification", "systemOutcome"};
        for (size_t k = 0; d && k < 2; k++) {
            const json_t *v = json_object_get(src, opt[k]);
            if (json_is_string(v))
                bad |= json_object_set(d, opt[k], (json_t *)v);
        }
        bad |= json_array_append_new(arr, d);
    }
    sk->json = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!sk->json)
        return -1;
    sk->json_len = strlen(sk->json);
    return 0;
}

static int parse_defs(struct skill *sk, const json_t *jdefs, size_t si, char *err, size_t errlen)
{
    char where[96];
    sk->defs = calloc(json_array_size(jdefs), sizeof *sk->defs);
    if (!sk->defs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t j = 0; j < json_array_size(jdefs); j++) {
        const json_t *jd = json_array_get(jdefs, j);
        snprintf(where, sizeof where, "skills[%zu].dispositions[%zu]", si, j);
        long long id;
        const char *name;
        if (!json_is_object(jd)) {
            snprintf(err, errlen, "%s must be an object", where);
            return -1;
        }
        if (id_and_name(jd, "dispositionId", "dispositionName", &id, &name, where, err, errlen) != 0)
            return -1;
        for (size_t k = 0; k < sk->n_defs; k++)
            if (sk->defs[k].id == id || strcmp(sk->defs[k].name, name) == 0) {
                snprintf(err, errlen, "%s: duplicate dispositionId %lld or dispositionName \"%.64s\"", where, id,
                         name);
                return -1;
            }
        struct disposition_def *d = &sk->defs[sk->n_defs];
        d->id = id;
        d->skill = sk;
        d->name = strdup(name);
        if (!d->name) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sk->n_defs++;
    }
    return 0;
}

static int parse_skill(struct skills *s, const json_t *js, size_t i, char *err, size_t errlen)
{
    char where[64];
    snprintf(where, sizeof where, "skills[%zu]", i);
    struct skill *sk = &s->list[i];
    const char *name;
    if (!json_is_object(js)) {
        snprintf(err, errlen, "%s must be an object", where);
        return -1;
    }
    if (id_and_name(js, "skillId", "skillName", &sk->id, &name, where, err, errlen) != 0)
        return -1;
    for (size_t k = 0; k < i; k++)
        if (s->list[k].id == sk->id) {
            snprintf(err, errlen, "%s: duplicate skillId %lld", where, sk->id);
            return -1;
        }
    const json_t *jdefs = json_object_get(js, "dispositions");
    if (!json_is_array(jdefs) || json_array_size(jdefs) == 0) {
        snprintf(err, errlen, "%s: \"dispositions\" must be a non-empty array", where);
        return -1;
    }
    if (!(sk->name = strdup(name))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (parse_defs(sk, jdefs, i, err, errlen) != 0)
        return -1;
    if (render_skill(sk, jdefs) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

struct skills *skills_load(const char *path, char *err, size_t errlen)
{
    char what[300];
    snprintf(what, sizeof what, "%s%.256s", path ? "--skills " : "", path ? path : "built-in skills");
    json_t *root = load_json_doc("--skills", path, BUILTIN, "built-in skills", err, errlen);
    if (!root)
        return NULL;
    const json_t *list = json_object_get(root, "skills");
    struct skills *s = calloc(1, sizeof *s);
    char why[256];
    if (!s || !json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, errlen, "%s: %s", what,
                 s ? "expected {\"skills\": [ ... ]} with at least one skill" : "out of memory");
        goto fail;
    }
    if (!(s->list = calloc(json_array_size(list), sizeof *s->list))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        s->n++; /* counted first so a half-parsed skill is still freed */
        if (parse_skill(s, json_array_get(list, i), i, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", what, why);
            goto fail;
        }
    }
    json_decref(root);
    return s;
fail:
    json_decref(root);
    skills_free(s);
    return NULL;
}

/* Parses a positive decimal id (no sign, no leading garbage); -1 if it is not one. */
static long long decimal_id(const char *p, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

const struct skill *skills_find(const struct skills *s, const char *id, size_t len)
{
    long long v = decimal_id(id, len);
    for (size_t i = 0; v > 0 && i < s->n; i++)
        if (s->list[i].id == v)
            return &s->list[i];
    return NULL;
}

const struct disposition_def *skill_disposition(const struct skill *sk, const char *code, size_t len)
{
    long long v = decimal_id(code, len);
    for (size_t j = 0; j < sk->n_defs; j++) {
        const struct disposition_def *d = &sk->defs[j];
        if (d->id == v || (strlen(d->name) == len && memcmp(d->name, code, len) == 0))
            return d;
    }
    return NULL;
}

json_t *disposition_value_json(const struct disposition_def *d, const char *notes)
{
    if (!d)
        return json_null();
    json_t *o = json_pack("{s:I,s:I,s:s}", "skill", (json_int_t)d->skill->id, "dispositionId", (json_int_t)d->id,
                          "dispositionName", d->name);
    if (o && notes && json_object_set_new(o, "notes", json_string(notes)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}
