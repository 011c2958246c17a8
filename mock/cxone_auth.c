/* POST /auth/token of the cxone profile: the OAuth 2.0 password grant as NICE documents it
 * for back-end applications (RFC 6749 §4.3). The registered application authenticates with
 * HTTP Basic (client id and secret); the API user's access key id and secret are the
 * username and password. The answer adds an id_token whose payload carries tenantId. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "mock.h"
#include "oauth.h"

/* What the endpoint needs from the live config, copied under the lock (wiped after use). */
struct cxone_settings {
    char id[CRED_MAX + 1], secret[CRED_MAX + 1];
    char key_id[CRED_MAX + 1], key_secret[CRED_MAX + 1];
    char tenant[129];
    double expires_in, error_rate;
};

static void snapshot(struct mock *m, struct cxone_settings *s)
{
    pthread_rwlock_rdlock(&m->cfg_lock);
    snprintf(s->id, sizeof s->id, "%s", m->cfg.client_id);
    snprintf(s->secret, sizeof s->secret, "%s", m->cfg.client_secret);
    snprintf(s->key_id, sizeof s->key_id, "%s", m->cfg.access_key_id);
    snprintf(s->key_secret, sizeof s->key_secret, "%s", m->cfg.access_key_secret);
    snprintf(s->tenant, sizeof s->tenant, "%s", m->cfg.tenant_id);
    s->expires_in = m->cfg.expires_in;
    s->error_rate = m->cfg.token_error_rate;
    pthread_rwlock_unlock(&m->cfg_lock);
}

/* The id_token: iss (this mock), aud (the client id), tenantId, iat/exp in Unix seconds. */
static char *id_token(const struct mock *m, const struct cxone_settings *s)
{
    char iss[40];
    snprintf(iss, sizeof iss, "http://127.0.0.1:%u", mock_port(m));
    json_int_t now = (json_int_t)time(NULL);
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "iss", iss, "sub", "cxone-mock-api-user", "aud", s->id,
                          "tenantId", s->tenant, "iat", now, "exp", now + (json_int_t)s->expires_in);
    char *jwt = p ? jwt_make(p) : NULL;
    json_decref(p);
    return jwt;
}

static void issue(struct mock *m, struct reply *rep, const struct cxone_settings *s)
{
    char tok[TOKEN_LEN + 1];
    char *idt = id_token(m, s);
    if (!idt || tokens_issue(m->tokens, mock_now(), s->expires_in, SCOPE_CXONE, tok) != 0) {
        free(idt);
        oauth_error(rep, 503, "temporarily_unavailable", "cannot issue a token (out of memory)");
        return;
    }
    reply_json(rep, 200, json_pack("{s:s,s:s,s:I,s:s}", "access_token", tok, "token_type", "Bearer",
                                   "expires_in", (json_int_t)s->expires_in, "id_token", idt));
    free(idt);
    rep->no_store = true; /* RFC 6749 §5.1 */
    stats_bump(&m->stats, SC_TOKENS_ISSUED);
}

/* Client (Basic) then grant checks; true when a token may be issued, else a reply is set. */
static bool check(struct reply *rep, const char *auth, const struct form *f, const struct cxone_settings *s)
{
    struct creds cr;
    bool ok = false;
    if (!auth || !has_prefix_ci(auth, "Basic ") || !oauth_parse_basic(auth, &cr)) {
        oauth_error(rep, 401, "invalid_client", "client authentication by HTTP Basic (client id and secret) required");
        rep->www_authenticate = BASIC_REALM;
        return false;
    }
    /* Both comparisons always run so timing does not tell which part was wrong. */
    bool id_ok = ct_equal(cr.id, cr.id_len, s->id, strlen(s->id));
    bool secret_ok = ct_equal(cr.secret, cr.secret_len, s->secret, strlen(s->secret));
    explicit_bzero(&cr, sizeof cr);
    if (!(id_ok && secret_ok)) {
        oauth_error(rep, 401, "invalid_client", "client authentication failed");
        rep->www_authenticate = BASIC_REALM;
    } else if (!f->val[F_GRANT]) {
        oauth_error(rep, 400, "invalid_request", "grant_type is required");
    } else if (strcmp(f->val[F_GRANT], "password") != 0) {
        oauth_error(rep, 400, "unsupported_grant_type", "only grant_type=password is supported");
    } else if (!f->val[F_USERNAME] || !f->val[F_PASSWORD]) {
        oauth_error(rep, 400, "invalid_request", "username and password (the access key id and secret) are required");
    } else {
        bool key_ok = ct_equal(f->val[F_USERNAME], f->len[F_USERNAME], s->key_id, strlen(s->key_id));
        bool key_secret_ok = ct_equal(f->val[F_PASSWORD], f->len[F_PASSWORD], s->key_secret, strlen(s->key_secret));
        ok = key_ok && key_secret_ok;
        if (!ok) /* RFC 6749 §5.2: invalid resource owner credentials */
            oauth_error(rep, 400, "invalid_grant", "invalid access key");
    }
    return ok;
}

void cxone_token(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    struct reply *rep = &r->reply;
    struct cxone_settings s;
    snapshot(m, &s);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    char *scratch = NULL;
    struct form f;
    char why[96];
    if (rng_chance(&m->rng, s.error_rate)) {
        oauth_error(rep, 503, "temporarily_unavailable", "fault injected by the mock (token_error_rate)");
        reply_retry_after(rep, 1, false);
        stats_bump(&m->stats, SC_TOKEN_INJECTED_ERRORS);
    } else if (!ct || !has_prefix_ci(ct, "application/x-www-form-urlencoded")) {
        oauth_error(rep, 400, "invalid_request", "the token request body must be application/x-www-form-urlencoded");
    } else if (!(scratch = malloc(2 * r->body_len + 16))) {
        oauth_error(rep, 503, "temporarily_unavailable", "out of memory");
    } else if (!oauth_parse_form(r->body, r->body_len, scratch, &f, why, sizeof why)) {
        oauth_error(rep, 400, "invalid_request", "%s", why);
    } else if (check(rep, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), &f, &s)) {
        issue(m, rep, &s);
    }
    if (scratch)
        explicit_bzero(scratch, 2 * r->body_len + 16);
    free(scratch);
    explicit_bzero(&s, sizeof s);
}
