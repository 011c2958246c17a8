/* The CXone Contact API routes: PUT/GET /api/v2/contacts/{id}, GET /api/v2/contact/outcomes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

#define REALM "Bearer realm=\"cxone-mock\""

/* Bearer token check (RFC 6750): 401 for missing/unknown/expired/revoked tokens, 403
 * naming the scope when the token lacks it. Fills r->reply and returns false on refusal. */
static bool authorize(struct mock *m, struct req *r, struct MHD_Connection *c, unsigned need)
{
    struct reply *rep = &r->reply;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || !*h) {
        reply_error(rep, 401, "invalid_token", "missing bearer token (Authorization: Bearer <token>)");
        rep->www_authenticate = REALM;
        return false;
    }
    if (!has_prefix_ci(h, "Bearer ")) {
        reply_error(rep, 401, "invalid_token", "the Authorization header must use the Bearer scheme");
        rep->www_authenticate = REALM;
        return false;
    }
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t len = strlen(t);
    while (len > 0 && t[len - 1] == ' ')
        len--;
    unsigned scopes = 0;
    const char *why = NULL;
    switch (tokens_check(m->tokens, t, len, req_now(r), &scopes)) {
    case TOKEN_OK:
        break;
    case TOKEN_UNKNOWN:
        why = "unknown access token";
        break;
    case TOKEN_EXPIRED:
        why = "access token expired";
        break;
    case TOKEN_REVOKED:
        why = "access token revoked";
        break;
    }
    if (why) {
        reply_error(rep, 401, "invalid_token", "%s", why);
        rep->www_authenticate = REALM ", error=\"invalid_token\"";
        return false;
    }
    if ((scopes & need) != need) {
        bool upd = need & SCOPE_UPDATE;
        reply_error(rep, 403, "insufficient_scope", "the access token lacks the %s scope",
                    upd ? "contact:update" : "contact:read");
        rep->www_authenticate = upd ? REALM ", error=\"insufficient_scope\", scope=\"contact:update\""
                                    : REALM ", error=\"insufficient_scope\", scope=\"contact:read\"";
        return false;
    }
    return true;
}

/* {"id":..,"outcome":{..}|null,"updatedDate":".."|null}. This is the hot path of every
 * PUT, so it is assembled from pieces: the outcome object was rendered by jansson at
 * load time and the id is encoded by jansson straight into the output buffer. */
static void reply_contact(struct reply *rep, const struct req *r, const struct contact_view *v)
{
    /* The id is checked UTF-8 without control characters; unless it holds '"' or '\\'
     * its JSON form is the id in quotes. Otherwise jansson encodes it. */
    bool plain = !memchr(r->id, '"', r->id_len) && !memchr(r->id, '\\', r->id_len);
    json_t *jid = plain ? NULL : json_stringn_nocheck(r->id, r->id_len);
    size_t id_max = 6 * r->id_len + 2; /* worst case: every byte \u00XX */
    size_t frag = v->outcome ? v->outcome->json_len : 4;
    char *out = plain || jid ? malloc(id_max + frag + 64) : NULL;
    if (!out) {
        json_decref(jid);
        reply_json(rep, 500, NULL);
        return;
    }
    char *p = out;
    memcpy(p, "{\"id\":", 6);
    p += 6;
    if (plain) {
        *p++ = '"';
        memcpy(p, r->id, r->id_len);
        p += r->id_len;
        *p++ = '"';
    } else {
        size_t n = json_dumpb(jid, p, id_max, JSON_ENCODE_ANY);
        json_decref(jid);
        if (n == 0 || n > id_max) {
            free(out);
            reply_json(rep, 500, NULL);
            return;
        }
        p += n;
    }
    if (v->outcome) {
        memcpy(p, ",\"outcome\":", 11);
        p += 11;
        memcpy(p, v->outcome->json, frag);
        p += frag;
        char date[32];
        format_iso8601_ms(v->updated_ms, date);
        size_t dl = strlen(date);
        memcpy(p, ",\"updatedDate\":\"", 16);
        p += 16;
        memcpy(p, date, dl);
        p += dl;
        memcpy(p, "\"}", 2);
        p += 2;
    } else {
        static const char tail[] = ",\"outcome\":null,\"updatedDate\":null}";
        memcpy(p, tail, sizeof tail - 1);
        p += sizeof tail - 1;
    }
    *p = '\0';
    reply_owned(rep, 200, out, (size_t)(p - out));
}

static void not_found(struct req *r)
{
    reply_error(&r->reply, 404, "not_found", "contact \"%.200s\" not found", r->id);
}

/* Claims the Idempotency-Key, or answers from the store: replay, 409 while the first
 * request is still being processed, 422 when the key came with a different request. */
static bool claim_key(struct mock *m, struct req *r, const char *key, size_t klen)
{
    struct reply *rep = &r->reply;
    struct idem_fp fp = idem_fingerprint(r->method_name, r->path, r->body_hash, r->body_len);
    uint64_t claim = 0;
    unsigned status = 0;
    char *body = NULL;
    size_t blen = 0;
    switch (idem_claim(m->idem, key, klen, fp, req_now(r), r->faults.retention, &claim, &status, &body, &blen)) {
    case IDEM_FRESH:
        memcpy(r->idem_key, key, klen);
        r->idem_key_len = klen;
        r->idem_claim = claim;
        r->idem_claimed = true;
        return true;
    case IDEM_REPLAY:
        reply_owned(rep, status, body, blen);
        rep->replayed = true;
        stats_bump(&m->stats, SC_REPLAYS);
        return false;
    case IDEM_CONFLICT:
        reply_error(rep, 409, "idempotency_conflict",
                    "a request with this Idempotency-Key is still being processed");
        reply_retry_after(rep, 1, false);
        stats_bump(&m->stats, SC_CONFLICTS_409);
        return false;
    case IDEM_MISMATCH:
        reply_error(rep, 422, "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request");
        stats_bump(&m->stats, SC_MISMATCH_422);
        return false;
    case IDEM_NOMEM:
        break;
    }
    reply_error(rep, 503, "internal_error", "out of memory");
    return false;
}

/* Checks {"outcome":{"category":"..","subcategory":".."}}; NULL if fine, else why not. */
static const char *outcome_fields(const json_t *doc, const json_t **cat, const json_t **sub)
{
    if (!json_is_object(doc))
        return "the body must be a JSON object";
    const json_t *o = json_object_get(doc, "outcome");
    if (!o)
        return "missing field: outcome";
    if (!json_is_object(o))
        return "outcome must be an object";
    *cat = json_object_get(o, "category");
    *sub = json_object_get(o, "subcategory");
    if (!*cat)
        return "missing field: outcome.category";
    if (!json_is_string(*cat))
        return "outcome.category must be a string";
    if (!*sub)
        return "missing field: outcome.subcategory";
    if (!json_is_string(*sub))
        return "outcome.subcategory must be a string";
    return NULL;
}

/* Parses the PUT body with jansson and resolves the outcome; on success the result is
 * cached for identical bodies. NULL with a 400 prepared when the body is unusable. */
static const struct outcome_sub *parse_outcome(struct mock *m, struct req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        reply_error(&r->reply, 400, "invalid_json", "malformed JSON body: %s", jerr.text);
        return NULL;
    }
    const json_t *jcat = NULL, *jsub = NULL;
    const char *why = outcome_fields(doc, &jcat, &jsub);
    const struct outcome_sub *oc = NULL;
    if (why) {
        reply_error(&r->reply, 400, "invalid_request", "%s", why);
    } else if (!(oc = outcomes_find(m->outcomes, json_string_value(jcat), json_string_length(jcat),
                                    json_string_value(jsub), json_string_length(jsub)))) {
        reply_error(&r->reply, 400, "invalid_outcome",
                    "unknown outcome: category \"%.100s\", subcategory \"%.100s\" (see GET /api/v2/contact/outcomes)",
                    json_string_value(jcat), json_string_value(jsub));
    } else {
        body_cache_put(m->bodies, r->body, r->body_len, r->body_hash, oc);
    }
    json_decref(doc);
    return oc;
}

void api_put_contact(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    struct reply *rep = &r->reply;
    if (!authorize(m, r, c, SCOPE_UPDATE))
        return;
    if (r->id_error) {
        reply_error(rep, 400, "invalid_contact_id", "%s", r->id_error);
        return;
    }
    r->body_hash = hash_bytes(r->body, r->body_len);
    /* Without a key every PUT mutates, as on the real API: that is what keys are for. */
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (key) {
        size_t klen = strlen(key);
        if (klen == 0 || klen > IDEM_KEY_MAX) {
            reply_error(rep, 400, "invalid_idempotency_key", "Idempotency-Key must be 1 to %d characters",
                        IDEM_KEY_MAX);
            return;
        }
        if (!claim_key(m, r, key, klen))
            return;
    }
    const struct outcome_sub *oc = body_cache_get(m->bodies, r->body, r->body_len, r->body_hash);
    if (!oc && !(oc = parse_outcome(m, r)))
        return; /* 400 prepared */
    struct contact_view v;
    switch (contacts_mutate(m->contacts, r->id, r->id_len, oc, unix_ms(), &v)) {
    case CONTACT_OK:
        break;
    case CONTACT_NOT_FOUND:
        not_found(r);
        return;
    case CONTACT_NOMEM:
        reply_error(rep, 503, "internal_error", "out of memory");
        return;
    }
    reply_contact(rep, r, &v);
    /* Faults that only make sense after a real mutation (never on replays). */
    if (rng_chance(&m->rng, r->faults.drop)) {
        r->drop = true;
    } else if (rng_chance(&m->rng, r->faults.late)) {
        r->delay_ns += (uint64_t)(r->faults.late_seconds * 1e9);
        stats_bump(&m->stats, SC_LATE);
    }
}

void api_get_contact(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!authorize(m, r, c, SCOPE_READ))
        return;
    if (r->id_error) {
        reply_error(&r->reply, 400, "invalid_contact_id", "%s", r->id_error);
        return;
    }
    struct contact_view v;
    if (contacts_read(m->contacts, r->id, r->id_len, &v) != CONTACT_OK) {
        not_found(r);
        return;
    }
    if (v.count == 0) /* never written: the value it started with */
        v.outcome = iv_outcome(m->initial, r->id, r->id_len, &v.updated_ms);
    reply_contact(&r->reply, r, &v);
}

void api_get_outcomes(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!authorize(m, r, c, SCOPE_READ))
        return;
    reply_static(&r->reply, 200, m->outcomes->json, m->outcomes->json_len);
}
