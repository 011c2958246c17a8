/* POST /incontactapi/services/{version}/contacts/{contactId}/set-disposition with
 * {"dispositionInfo":{"skill","dispositionCode","notes"?,"callbackNumber"?,"callbackTime"?,
 * "commitmentAmount"?}} (the Admin API's shape, see docs/mock.md). No Idempotency-Key: every
 * accepted call is applied and counted, which is what the client's read-before-resend guards. */
#include <stdio.h>
#include <string.h>

#include "cxone.h"
#include "mock.h"

struct set_request {
    const json_t *skill, *code;
    struct disposition_set set;
};

/* A field of dispositionInfo that must be a string when present (and present when required):
 * NULL if fine, else what is wrong with it. */
static const char *string_field(const json_t *info, const char *name, bool required, const json_t **out)
{
    *out = json_object_get(info, name);
    if (!*out && !required)
        return NULL;
    if (!*out)
        return "missing";
    if (!json_is_string(*out))
        return "not a string";
    return NULL;
}

/* Checks the body's shape; false with a message naming the field in why. */
static bool body_fields(const json_t *doc, struct set_request *sr, char *why, size_t whylen)
{
    static const char *const opt[] = {"notes", "callbackNumber", "callbackTime", "commitmentAmount"};
    const char **dst[] = {&sr->set.notes, &sr->set.callback_number, &sr->set.callback_time,
                          &sr->set.commitment_amount};
    const json_t *info = json_object_get(doc, "dispositionInfo");
    if (!json_is_object(doc) || !json_is_object(info)) {
        snprintf(why, whylen, "the body must be {\"dispositionInfo\": {...}}");
        return false;
    }
    const char *bad = string_field(info, "skill", true, &sr->skill);
    const char *field = "skill";
    if (!bad) {
        bad = string_field(info, "dispositionCode", true, &sr->code);
        field = "dispositionCode";
    }
    for (size_t i = 0; !bad && i < 4; i++) {
        const json_t *v = NULL;
        bad = string_field(info, opt[i], false, &v);
        field = opt[i];
        *dst[i] = v ? json_string_value(v) : NULL;
    }
    if (bad)
        snprintf(why, whylen, "dispositionInfo.%s: %s", field, bad);
    return bad == NULL;
}

/* Parses and validates the body against the skills; false with a 400 prepared. */
static bool parse_request(struct mock *m, struct req *r, json_t *doc, struct set_request *sr)
{
    char why[128];
    if (!body_fields(doc, sr, why, sizeof why)) {
        reply_error(&r->reply, 400, "invalid_request", "%s", why);
        return false;
    }
    const struct skill *sk = skills_find(m->skills, json_string_value(sr->skill), json_string_length(sr->skill));
    if (!sk) {
        reply_error(&r->reply, 400, "invalid_skill", "unknown skill \"%.64s\"", json_string_value(sr->skill));
        return false;
    }
    sr->set.def = skill_disposition(sk, json_string_value(sr->code), json_string_length(sr->code));
    if (!sr->set.def) {
        reply_error(&r->reply, 400, "invalid_disposition",
                    "dispositionCode \"%.64s\" is not a disposition of skill %lld (see GET skills/%lld/dispositions)",
                    json_string_value(sr->code), sk->id, sk->id);
        return false;
    }
    return true;
}

/* Faults that only make sense after the disposition was applied. */
static void after_apply(struct mock *m, struct req *r)
{
    if (rng_chance(&m->rng, r->faults.drop)) {
        r->drop = true;
    } else if (rng_chance(&m->rng, r->faults.error_after)) {
        reply_error(&r->reply, 500, "internal_error", "fault injected by the mock after applying (error_after_mutate)");
        stats_bump(&m->stats, SC_ERRORS_AFTER_MUTATE);
    } else if (rng_chance(&m->rng, r->faults.late)) {
        r->delay_ns += (uint64_t)(r->faults.late_seconds * 1e9);
        stats_bump(&m->stats, SC_LATE);
    }
}

static bool permitted(struct mock *m, struct req *r)
{
    pthread_rwlock_rdlock(&m->cfg_lock);
    bool deny = m->cfg.deny_set_disposition;
    pthread_rwlock_unlock(&m->cfg_lock);
    if (deny)
        reply_error(&r->reply, 403, "forbidden",
                    "the API user's role lacks the permission to set contact dispositions");
    return !deny;
}

void cxone_set_disposition(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!cxone_authorize(m, r, c) || !permitted(m, r) || !cxone_id_ok(r, "contactId"))
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        reply_error(&r->reply, 400, "invalid_json", "malformed JSON body: %s", jerr.text);
        return;
    }
    struct set_request sr;
    memset(&sr, 0, sizeof sr);
    if (parse_request(m, r, doc, &sr) && cxone_contact_known(m, r)) {
        if (dispositions_apply(m->dispositions, r->id, r->id_len, &sr.set, unix_ms()) != 0) {
            reply_error(&r->reply, 503, "internal_error", "out of memory");
        } else {
            /* The real answer's body is not documented; an empty object, 202 Accepted. */
            reply_static(&r->reply, 202, "{}", 2);
            after_apply(m, r);
        }
    }
    json_decref(doc);
}
