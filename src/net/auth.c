#include "net/auth_impl.h"
#include "common/clock.h"
#include "common/redact.h"
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_DEFAULT_LIFETIME 3600.0  /* when expires_in is absent (RFC 6749 only recommends it) */
#define AUTH_MAX_LIFETIME 86400.0     /* a "huge" expires_in is capped: refresh at least daily */

static char *dup_or_null(const char *s);

/* Appends "name=value" form-urlencoded (RFC 6749 Appendix B) to a malloc'd string. */
static int form_add(CURL *c, char **form, const char *name, const char *value)
{
    char *enc = curl_easy_escape(c, value, 0);
    if (!enc)
        return -1;
    size_t old = *form ? strlen(*form) : 0;
    size_t need = old + strlen(name) + strlen(enc) + 3;
    char *s = realloc(*form, need);
    if (!s) {
        curl_free(enc);
        return -1;
    }
    snprintf(s + old, need - old, "%s%s=%s", old ? "&" : "", name, enc);
    curl_free(enc);
    *form = s;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
        free(s);
    }
}

/* The cxone password grant's form (the access key secret lives in it and in secret_forms[3..4])
 * and the discovery inputs. Returns nonzero on allocation failure. */
static int auth_init_cxone(cxb_auth *a, CURL *c, const cxb_auth_config *cfg)
{
    a->cxone = 1;
    a->issuer = dup_or_null(cfg->issuer ? cfg->issuer : "https://cxone.niceincontact.com");
    a->tenant_id = dup_or_null(cfg->tenant_id);
    a->api_base = dup_or_null(cfg->api_base);
    if (a->api_base) {
        size_t n = strlen(a->api_base);
        while (n > 0 && a->api_base[n - 1] == '/')
            a->api_base[--n] = '\0';
    }
    int bad = !a->issuer || (cfg->tenant_id && !a->tenant_id) || (cfg->api_base && !a->api_base);
    const char *pw = cfg->password ? cfg->password : "";
    bad = bad || form_add(c, &a->form, "grant_type", "password") ||
          form_add(c, &a->form, "username", cfg->username ? cfg->username : "") ||
          form_add(c, &a->form, "password", pw);
    if (bad)
        return 1;
    a->secret_forms[3] = strdup(pw);
    char *enc = curl_easy_escape(c, pw, 0);
    a->secret_forms[4] = enc ? strdup(enc) : NULL;
    curl_free(enc);
    return !a->secret_forms[3] || !a->secret_forms[4];
}

static void auth_free_cxone(cxb_auth *a)
{
    free(a->issuer);
    free(a->tenant_id);
    free(a->api_base);
}

/* The client's credentials: Basic (RFC 6749 §2.3.1: id and secret form-urlencoded before the
 * Basic encoding; always for cxone) or form fields. Returns nonzero on allocation failure. */
static int auth_init_client(cxb_auth *a, CURL *c, const cxb_auth_config *cfg)
{
    if (!cfg->basic_auth && !cfg->cxone)
        return form_add(c, &a->form, "client_id", cfg->client_id) ||
               form_add(c, &a->form, "client_secret", cfg->client_secret);
    char *id = curl_easy_escape(c, cfg->client_id, 0);
    char *sec = curl_easy_escape(c, cfg->client_secret, 0);
    if (id && sec) {
        size_t n = strlen(id) + strlen(sec) + 2;
        a->userpwd = malloc(n);
        if (a->userpwd)
            snprintf(a->userpwd, n, "%s:%s", id, sec);
    }
    curl_free(id);
    if (sec) {
        memset(sec, 0, strlen(sec));
        curl_free(sec);
    }
    return !a->userpwd;
}

/* The client secret as a server may echo it: raw, form-encoded, inside Basic's base64. */
static int auth_init_secret_forms(cxb_auth *a, CURL *c, const cxb_auth_config *cfg)
{
    const char *secret = cfg->client_secret ? cfg->client_secret : "";
    a->secret_forms[0] = strdup(secret);
    char *enc = curl_easy_escape(c, secret, 0);
    a->secret_forms[1] = enc ? strdup(enc) : NULL;
    curl_free(enc);
    if (a->userpwd)
        a->secret_forms[2] = cxb_base64((const unsigned char *)a->userpwd, strlen(a->userpwd));
    return !a->secret_forms[0] || !a->secret_forms[1] || (a->userpwd && !a->secret_forms[2]);
}

/* Frees (wiping the secret forms) everything but the mutex and condition variable. */
static void auth_free_fields(cxb_auth *a)
{
    wipe_free(a->form);
    wipe_free(a->userpwd);
    for (int i = 0; i < CXB_AUTH_SECRET_FORMS; i++)
        wipe_free(a->secret_forms[i]);
    free(a->token_url);
    free(a->required_scope);
    auth_free_cxone(a);
    memset(a->token, 0, sizeof a->token);
    free(a);
}

/* The grant's form, the credentials and the secret forms. Returns nonzero on allocation failure. */
static int auth_init_fields(cxb_auth *a, const cxb_auth_config *cfg)
{
    CURL *c = curl_easy_init(); /* only for curl_easy_escape */
    int bad = !c;
    a->token_url = dup_or_null(cfg->token_url);
    a->required_scope = dup_or_null(cfg->required_scope ? cfg->required_scope : "contact:update");
    bad |= (!a->token_url && !cfg->cxone) || !a->required_scope;
    if (!bad && cfg->cxone)
        bad |= auth_init_cxone(a, c, cfg);
    else if (!bad)
        bad |= form_add(c, &a->form, "grant_type", "client_credentials");
    if (!bad && !cfg->cxone && cfg->scope && *cfg->scope)
        bad |= form_add(c, &a->form, "scope", cfg->scope);
    if (!bad)
        bad |= auth_init_client(a, c, cfg);
    if (!bad)
        bad |= auth_init_secret_forms(a, c, cfg);
    if (c)
        curl_easy_cleanup(c);
    return bad;
}

cxb_auth *cxb_auth_new(const cxb_auth_config *cfg, char *err, size_t errlen)
{
    cxb_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory setting up the token source");
        return NULL;
    }
    atomic_init(&a->epoch, 1); /* a worker's epoch 0 (no token yet) never matches */
    if (auth_init_fields(a, cfg) || pthread_mutex_init(&a->mu, NULL) != 0) {
        snprintf(err, errlen, "out of memory setting up the token source");
        auth_free_fields(a);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    return a;
}

void cxb_auth_free(cxb_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    auth_free_fields(a);
}

double cxb_auth_refresh_margin(double lifetime)
{
    double tenth = lifetime / 10.0;
    return tenth < 60.0 ? tenth : 60.0;
}

/* True when `scope` (space-separated, RFC 6749 §3.3) contains the token `want`. */
static int scope_has(const char *scope, const char *want)
{
    size_t wl = strlen(want);
    const char *p = scope;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == wl && strncmp(p, want, wl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

int cxb_auth_parse_token(const char *body, size_t len, const char *required,
                         char *token, size_t tokenlen, double *expires_in, int *has_scope_ok,
                         char *granted, size_t grantedlen, char *msg, size_t msglen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, 0, &jerr);
    int rc = -1;
    if (granted && grantedlen)
        granted[0] = '\0';
    if (!root || !json_is_object(root)) {
        snprintf(msg, msglen, "token endpoint answered with something that is not a JSON object");
        goto out;
    }
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    if (!tok || !*tok) {
        snprintf(msg, msglen, "token response has no access_token");
        goto out;
    }
    if (strlen(tok) >= tokenlen) {
        snprintf(msg, msglen, "token response's access_token is longer than %zu bytes", tokenlen - 1);
        goto out;
    }
    for (const char *p = tok; *p; p++) {
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
            snprintf(msg, msglen, "token response's access_token holds characters not allowed in a bearer token");
            goto out;
        }
    }
    json_t *exp = json_object_get(root, "expires_in");
    double life = AUTH_DEFAULT_LIFETIME;
    if (exp && !json_is_null(exp)) {
        if (!json_is_number(exp)) {
            snprintf(msg, msglen, "token response's expires_in is not a number");
            goto out;
        }
        life = json_number_value(exp);
        if (!(life > 0) || !isfinite(life)) {
            snprintf(msg, msglen, "token response's expires_in must be positive (got %g)", life);
            goto out;
        }
        if (life > AUTH_MAX_LIFETIME)
            life = AUTH_MAX_LIFETIME;
    }
    json_t *sc = json_object_get(root, "scope");
    const char *scope = json_string_value(sc);
    *has_scope_ok = scope ? scope_has(scope, required) : 1;
    if (scope && granted)
        snprintf(granted, grantedlen, "%s", scope);
    memcpy(token, tok, strlen(tok) + 1);
    *expires_in = life;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* True for transport errors that retrying cannot fix: the server's certificate is not trusted. */
static int auth_tls_fatal(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ISSUER_ERROR ||
           rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* What one token request came to: its status, the kind of a failure, and why. */
typedef struct auth_answer {
    double retry_after;  /* of a transient failure, -1 if none */
    cxb_kind kind;
    char *msg;
    size_t msglen;
} auth_answer;

static cxb_auth_status auth_fail(auth_answer *an, cxb_auth_status st, cxb_kind kind)
{
    an->kind = kind;
    return st;
}

/* A non-200 answer of the token endpoint. */
static cxb_auth_status auth_status_failure(cxb_auth *a, const cxb_http_resp *r, auth_answer *an)
{
    char detail[256];
    cxb_http_error_message(r->body, r->body_len, (const char *const *)a->secret_forms,
                           CXB_AUTH_SECRET_FORMS, detail, sizeof detail);
    const char *sep = detail[0] ? ": " : "";
    if (r->status == 429 || r->status >= 500 || r->status == 408) {
        an->retry_after = r->retry_after;
        snprintf(an->msg, an->msglen, "token endpoint answered HTTP %ld%s%s", r->status, sep, detail);
        return auth_fail(an, CXB_AUTH_TRANSIENT, r->status == 429 ? CXB_KIND_RATE_LIMITED : CXB_KIND_SERVER);
    }
    if (r->status == 400 || r->status == 401 || r->status == 403) {
        snprintf(an->msg, an->msglen, "authentication failed: token endpoint answered HTTP %ld%s%s "
                 "(check CXONE_CLIENT_ID / CXONE_CLIENT_SECRET%s and the token URL)",
                 r->status, sep, detail, a->cxone ? ", CXONE_ACCESS_KEY_ID / CXONE_ACCESS_KEY_SECRET" : "");
        return auth_fail(an, CXB_AUTH_FATAL, CXB_KIND_AUTH);
    }
    snprintf(an->msg, an->msglen, "token endpoint answered HTTP %ld%s%s (expected 200; is the token URL right?)",
             r->status, sep, detail);
    return auth_fail(an, CXB_AUTH_FATAL, CXB_KIND_API);
}

/* Performs one token request, its limiter slot taken right before it is sent. Called with a->mu
 * NOT held. tenant (cxone only, else NULL) receives the id_token's tenantId, or "". */
static cxb_auth_status auth_post_token(cxb_auth *a, cxb_http *h, cxb_limiter *lim, const atomic_int *cancel,
                                       char *token, double *life, char *tenant, auth_answer *an)
{
    an->retry_after = -1;
    struct curl_slist hdrs[2] = {{(char *)"Content-Type: application/x-www-form-urlencoded", &hdrs[1]},
                                 {(char *)"Accept: application/json", NULL}};
    if (cxb_limiter_acquire(lim, cancel) != 0)
        return CXB_AUTH_CANCELLED;
    cxb_http_resp r;
    int rc = cxb_http_request(h, "POST", a->token_url, hdrs, a->form, strlen(a->form), a->userpwd, &r);
    if (rc != 0) {
        if (r.curl_rc == CURLE_ABORTED_BY_CALLBACK)
            return CXB_AUTH_CANCELLED;
        if (auth_tls_fatal(r.curl_rc)) {
            snprintf(an->msg, an->msglen, "TLS certificate verification failed for the token endpoint: %s "
                     "(give ca_file = \"/path/to/ca.pem\" for a private CA)", r.error);
            return auth_fail(an, CXB_AUTH_FATAL, CXB_KIND_TLS);
        }
        snprintf(an->msg, an->msglen, "token request failed: %s", r.error);
        return auth_fail(an, CXB_AUTH_TRANSIENT, cxb_kind_of_transport(r.curl_rc));
    }
    if (r.status != 200)
        return auth_status_failure(a, &r, an);
    int scope_ok = 0;
    char granted[256];
    if (cxb_auth_parse_token(r.body, r.body_len, a->required_scope, token, CXB_TOKEN_MAX, life,
                             &scope_ok, granted, sizeof granted, an->msg, an->msglen) != 0)
        return auth_fail(an, CXB_AUTH_FATAL, CXB_KIND_API);
    if (!scope_ok) {
        snprintf(an->msg, an->msglen, "the token lacks the %s scope (granted: \"%s\"); give the API client "
                 "%s access in CXone", a->required_scope, granted, a->required_scope);
        memset(token, 0, CXB_TOKEN_MAX);
        return auth_fail(an, CXB_AUTH_FATAL, CXB_KIND_AUTH);
    }
    if (tenant)
        cxb_auth_id_token_tenant(r.body, r.body_len, tenant, an->msg, an->msglen);
    return CXB_AUTH_OK;
}

/* One token fetch; for cxone with the discovery steps around it: the token endpoint first
 * (unless token_url), the tenant's API host after the first token (unless api_base). */
static cxb_auth_status auth_fetch(cxb_auth *a, cxb_http *h, cxb_limiter *lim, const atomic_int *cancel,
                                  char *token, double *life, auth_answer *an)
{
    an->retry_after = -1;
    if (!a->cxone)
        return auth_post_token(a, h, lim, cancel, token, life, NULL, an);
    cxb_auth_status st = CXB_AUTH_OK;
    if (!a->token_url && (st = cxb_auth_discover_token_url(a, h, &an->kind, an->msg, an->msglen)) != CXB_AUTH_OK)
        return st;
    char tenant[CXB_TENANT_MAX], inner[512];
    auth_answer in = {-1, CXB_KIND_NONE, inner, sizeof inner};
    st = auth_post_token(a, h, lim, cancel, token, life, tenant, &in);
    an->retry_after = in.retry_after;
    an->kind = in.kind;
    if (st != CXB_AUTH_OK) {
        snprintf(an->msg, an->msglen, "token: POST %.150s: %.340s", a->token_url, inner);
        return st;
    }
    an->msg[0] = '\0';
    if (!a->api_base &&
        (st = cxb_auth_discover_api_base(a, h, tenant, &an->kind, an->msg, an->msglen)) != CXB_AUTH_OK)
        memset(token, 0, CXB_TOKEN_MAX);
    return st;
}

/* Waits (under a->mu) until this caller should fetch: 1 to fetch, 0 with the outcome in *st. */
static int auth_wait_turn(cxb_auth *a, const atomic_int *cancel, char *out, cxb_auth_result *res,
                          cxb_auth_status *st)
{
    for (;;) {
        double now = cxb_now_mono();
        if (a->fatal) {
            snprintf(res->msg, sizeof res->msg, "%s", a->fatal_msg);
            res->kind = a->fatal;
            *st = CXB_AUTH_FATAL;
            return 0;
        }
        if (cancel && atomic_load(cancel)) {
            *st = CXB_AUTH_CANCELLED;
            return 0;
        }
        int have = a->generation != 0 && now < a->expires_at;
        if (have && (now < a->refresh_at || a->refreshing)) {
            memcpy(out, a->token, sizeof a->token);
            res->gen = a->generation;
            res->expires_at = a->expires_at;
            res->refresh_at = a->refresh_at;
            res->epoch = atomic_load_explicit(&a->epoch, memory_order_relaxed);
            *st = CXB_AUTH_OK;
            return 0;
        }
        if (!a->refreshing)
            return 1;
        struct timespec ts = cxb_deadline_ts(0.05); /* wake to notice cancellation */
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
    }
}

cxb_auth_status cxb_auth_get(cxb_auth *a, cxb_http *h, cxb_limiter *lim, const atomic_int *cancel,
                             char *out, cxb_auth_result *res)
{
    res->fetched = 0;
    res->refresh_at = 0;
    res->epoch = 0;
    res->retry_after = -1;
    res->kind = CXB_KIND_NONE;
    res->msg[0] = '\0';
    cxb_auth_status st;
    pthread_mutex_lock(&a->mu);
    int fetch = auth_wait_turn(a, cancel, out, res, &st);
    if (fetch)
        a->refreshing = 1;
    pthread_mutex_unlock(&a->mu);
    if (!fetch)
        return st;

    char *tok = out; /* fetch straight into the caller's buffer, then publish */
    double life = 0;
    double started = cxb_now_mono();
    auth_answer an = {-1, CXB_KIND_NONE, res->msg, sizeof res->msg};
    st = auth_fetch(a, h, lim, cancel, tok, &life, &an);
    cxb_redact(res->msg, (const char *const *)a->secret_forms, CXB_AUTH_SECRET_FORMS); /* defence */

    pthread_mutex_lock(&a->mu);
    a->refreshing = 0;
    if (st == CXB_AUTH_OK) {
        memcpy(a->token, tok, sizeof a->token);
        a->generation++;
        a->expires_at = started + life;
        a->refresh_at = a->expires_at - cxb_auth_refresh_margin(life);
        res->gen = a->generation;
        res->expires_at = a->expires_at;
        res->refresh_at = a->refresh_at;
        res->epoch = atomic_fetch_add_explicit(&a->epoch, 1, memory_order_release) + 1;
        res->fetched = 1;
        atomic_fetch_add(&a->refreshes, 1);
    } else if (st == CXB_AUTH_FATAL) {
        a->fatal = an.kind ? an.kind : CXB_KIND_AUTH;
        snprintf(a->fatal_msg, sizeof a->fatal_msg, "%s", res->msg);
        atomic_fetch_add_explicit(&a->epoch, 1, memory_order_release);
    }
    res->kind = st == CXB_AUTH_OK ? CXB_KIND_NONE : an.kind;
    res->retry_after = an.retry_after;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return st;
}

void cxb_auth_invalidate(cxb_auth *a, uint64_t gen)
{
    pthread_mutex_lock(&a->mu);
    if (a->generation == gen) {
        a->expires_at = 0;
        a->refresh_at = 0;
        atomic_fetch_add_explicit(&a->epoch, 1, memory_order_release);
    }
    pthread_mutex_unlock(&a->mu);
}

int cxb_auth_current(cxb_auth *a, uint64_t epoch)
{
    return atomic_load_explicit(&a->epoch, memory_order_acquire) == epoch;
}
