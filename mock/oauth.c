/* POST /oauth2/token: OAuth 2.0 client credentials grant (RFC 6749 §4.4), with client
 * authentication by HTTP Basic (§2.3.1: id and secret form-urlencoded, then base64) or
 * by client_id/client_secret form fields. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"
#include "oauth.h"

/* RFC 6749 §5.2 error body; "message" repeats the description like the rest of the API. */
void oauth_error(struct reply *rep, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_json(rep, status, json_pack("{s:s,s:s,s:s}", "error", code, "error_description", msg, "message", msg));
}

static const char *const FIELD_NAMES[F_COUNT] = {"grant_type", "client_id", "client_secret", "scope",
                                                 "username", "password"};

/* Parses an application/x-www-form-urlencoded body into the fields above, decoding into
 * scratch (2*len+16 bytes). Returns false with the problem in why. */
bool oauth_parse_form(const char *body, size_t len, char *scratch, struct form *f, char *why, size_t whylen)
{
    memset(f, 0, sizeof *f);
    size_t o = 0, i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && body[eq] != '=')
            eq++;
        if (end > i) {
            char *name = scratch + o;
            long nl = pct_decode(body + i, eq - i, name, true);
            if (nl < 0) {
                snprintf(why, whylen, "malformed percent-escape in the form body");
                return false;
            }
            name[nl] = '\0';
            o += (size_t)nl + 1;
            char *val = scratch + o;
            size_t vstart = eq < end ? eq + 1 : end;
            long vl = pct_decode(body + vstart, end - vstart, val, true);
            if (vl < 0) {
                snprintf(why, whylen, "malformed percent-escape in the form body");
                return false;
            }
            val[vl] = '\0';
            o += (size_t)vl + 1;
            for (int k = 0; k < F_COUNT; k++) {
                if (strcmp(name, FIELD_NAMES[k]) != 0)
                    continue;
                if (f->val[k]) { /* RFC 6749 §3.2: parameters must not repeat */
                    snprintf(why, whylen, "parameter %s is repeated", FIELD_NAMES[k]);
                    return false;
                }
                f->val[k] = val;
                f->len[k] = (size_t)vl;
            }
        }
        i = end + 1;
    }
    return true;
}

bool oauth_parse_basic(const char *h, struct creds *out)
{
    const char *p = h + 6;
    while (*p == ' ')
        p++;
    unsigned char dec[2 * CRED_MAX * 3 + 2];
    long n = base64_decode(p, strlen(p), dec, sizeof dec);
    if (n < 0)
        return false;
    const unsigned char *colon = memchr(dec, ':', (size_t)n);
    if (!colon)
        return false;
    size_t il = (size_t)(colon - dec), sl = (size_t)n - il - 1;
    char tmp[sizeof dec];
    long a = pct_decode((const char *)dec, il, tmp, true);
    if (a < 0 || a > CRED_MAX)
        return false;
    memcpy(out->id, tmp, (size_t)a);
    out->id[a] = '\0';
    out->id_len = (size_t)a;
    long b = pct_decode((const char *)colon + 1, sl, tmp, true);
    if (b < 0 || b > CRED_MAX)
        return false;
    memcpy(out->secret, tmp, (size_t)b);
    out->secret[b] = '\0';
    out->secret_len = (size_t)b;
    return true;
}

/* What the token endpoint needs from the live config, copied under the lock. */
struct token_settings {
    char id[CRED_MAX + 1], secret[CRED_MAX + 1];
    char scope[1025];
    double expires_in, error_rate;
};

static void snapshot(struct mock *m, struct token_settings *s)
{
    pthread_rwlock_rdlock(&m->cfg_lock);
    snprintf(s->id, sizeof s->id, "%s", m->cfg.client_id);
    snprintf(s->secret, sizeof s->secret, "%s", m->cfg.client_secret);
    snprintf(s->scope, sizeof s->scope, "%s", m->cfg.scope);
    s->expires_in = m->cfg.expires_in;
    s->error_rate = m->cfg.token_error_rate;
    pthread_rwlock_unlock(&m->cfg_lock);
}

static void issue(struct mock *m, struct reply *rep, const struct token_settings *s)
{
    char tok[TOKEN_LEN + 1];
    if (tokens_issue(m->tokens, mock_now(), s->expires_in, scope_bits(s->scope), tok) != 0) {
        oauth_error(rep, 503, "temporarily_unavailable", "cannot issue a token (out of memory)");
        return;
    }
    reply_json(rep, 200, json_pack("{s:s,s:s,s:I,s:s}", "access_token", tok, "token_type", "bearer",
                                   "expires_in", (json_int_t)s->expires_in, "scope", s->scope));
    rep->no_store = true; /* RFC 6749 §5.1 */
    stats_bump(&m->stats, SC_TOKENS_ISSUED);
}

/* The client's credentials, from HTTP Basic or the client_id / client_secret form fields (one
 * method per request, RFC 6749 §2.3). false with a reply prepared when they are missing or
 * malformed; *basic tells which method was used. */
static bool client_creds(struct reply *rep, const char *auth, const struct form *f, struct creds *cr, bool *basic)
{
    *basic = false;
    if (auth) {
        if (!has_prefix_ci(auth, "Basic ")) {
            oauth_error(rep, 401, "invalid_client", "the token endpoint takes HTTP Basic client authentication");
            rep->www_authenticate = BASIC_REALM;
            return false;
        }
        if (!oauth_parse_basic(auth, cr)) {
            oauth_error(rep, 401, "invalid_client", "malformed HTTP Basic credentials");
            rep->www_authenticate = BASIC_REALM;
            return false;
        }
        *basic = true;
        if (f->val[F_SECRET] || (f->val[F_ID] && !ct_equal(f->val[F_ID], f->len[F_ID], cr->id, cr->id_len))) {
            oauth_error(rep, 400, "invalid_request", "the client authenticated twice (Basic header and form fields)");
            return false;
        }
        return true;
    }
    if (f->val[F_ID] && f->val[F_SECRET] && f->len[F_ID] <= CRED_MAX && f->len[F_SECRET] <= CRED_MAX) {
        memcpy(cr->id, f->val[F_ID], f->len[F_ID] + 1);
        memcpy(cr->secret, f->val[F_SECRET], f->len[F_SECRET] + 1);
        cr->id_len = f->len[F_ID];
        cr->secret_len = f->len[F_SECRET];
        return true;
    }
    oauth_error(rep, 401, "invalid_client",
                "client authentication required (HTTP Basic or client_id and client_secret)");
    rep->www_authenticate = BASIC_REALM;
    return false;
}

/* Client then grant checks on a parsed form; true when a token may be issued. */
static bool check(struct reply *rep, const char *auth, const struct form *f, const struct token_settings *s)
{
    struct creds cr;
    bool basic = false, ok = false;
    if (!client_creds(rep, auth, f, &cr, &basic)) {
        explicit_bzero(&cr, sizeof cr);
        return false;
    }
    /* Evaluate both comparisons so timing does not tell which part was wrong. */
    bool id_ok = ct_equal(cr.id, cr.id_len, s->id, strlen(s->id));
    bool secret_ok = ct_equal(cr.secret, cr.secret_len, s->secret, strlen(s->secret));
    explicit_bzero(&cr, sizeof cr);
    if (!(id_ok && secret_ok)) {
        oauth_error(rep, 401, "invalid_client", "client authentication failed");
        if (basic)
            rep->www_authenticate = BASIC_REALM;
    } else if (!f->val[F_GRANT]) {
        oauth_error(rep, 400, "invalid_request", "grant_type is required");
    } else if (strcmp(f->val[F_GRANT], "client_credentials") != 0) {
        oauth_error(rep, 400, "unsupported_grant_type", "only grant_type=client_credentials is supported");
    } else {
        ok = true;
    }
    return ok;
}

void oauth_token(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    struct reply *rep = &r->reply;
    struct token_settings s;
    snapshot(m, &s);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    char *scratch = NULL;
    struct form f;
    char why[96];
    if (rng_chance(&m->rng, s.error_rate)) {
        oauth_error(rep, 503, "temporarily_unavailable", "fault injected by the mock (token_error_rate)");
        reply_retry_after(rep, 1, false);
        stats_bump(&m->stats, SC_TOKEN_INJECTED_ERRORS);
    } else if (r->body_len > 0 && (!ct || !has_prefix_ci(ct, "application/x-www-form-urlencoded"))) {
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
