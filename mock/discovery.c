/* The cxone profile's discovery documents:
 *   GET /.well-known/openid-configuration          -> issuer, token_endpoint, ...
 *   GET /.well-known/cxone-configuration?tenantId=  -> tenantId, area, api_endpoint
 * Every URL in them points back at this mock (http://127.0.0.1:PORT), so a client that
 * follows discovery never leaves the loopback interface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static void base_url(const struct mock *m, char out[40])
{
    snprintf(out, 40, "http://127.0.0.1:%u", mock_port(m));
}

/* discovery_error_rate: the document is unavailable (503 + Retry-After: 1). true when drawn. */
static bool unavailable(struct mock *m, struct req *r)
{
    pthread_rwlock_rdlock(&m->cfg_lock);
    double rate = m->cfg.discovery_error_rate;
    pthread_rwlock_unlock(&m->cfg_lock);
    if (!rng_chance(&m->rng, rate))
        return false;
    reply_error(&r->reply, 503, "temporarily_unavailable", "fault injected by the mock (discovery_error_rate)");
    reply_retry_after(&r->reply, 1, false);
    stats_bump(&m->stats, SC_DISCOVERY_INJECTED_ERRORS);
    return true;
}

void discovery_openid(struct mock *m, struct req *r)
{
    if (unavailable(m, r))
        return;
    char base[40], token[64];
    base_url(m, base);
    snprintf(token, sizeof token, "%s/auth/token", base);
    /* Only what the mock serves: no authorization_endpoint or jwks_uri (id_token signatures are
     * placeholders, see jwt.h). */
    reply_json(&r->reply, 200,
               json_pack("{s:s,s:s,s:[s],s:[s],s:[s],s:[s,s,s,s,s,s]}", "issuer", base, "token_endpoint", token,
                         "grant_types_supported", "password", "token_endpoint_auth_methods_supported",
                         "client_secret_basic", "id_token_signing_alg_values_supported", "RS256",
                         "claims_supported", "iss", "sub", "aud", "iat", "exp", "tenantId"));
}

/* The tenantId query parameter, percent-decoded (the server keeps arguments raw). NULL
 * with a 400 prepared when it is missing or malformed. */
static char *tenant_param(struct req *r, struct MHD_Connection *c)
{
    const char *raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "tenantId");
    size_t n = raw ? strlen(raw) : 0;
    char *out = n > 0 && n <= 512 ? malloc(n + 1) : NULL;
    long len = out ? pct_decode(raw, n, out, true) : -1;
    if (len < 0 || has_control_chars(out, (size_t)len) || !utf8_valid(out, (size_t)len)) {
        free(out);
        if (n == 0 || n > 512)
            reply_error(&r->reply, 400, "invalid_request", "the tenantId query parameter is required (1 to 512 bytes)");
        else
            reply_error(&r->reply, 400, "invalid_request", "the tenantId query parameter is malformed");
        return NULL;
    }
    out[len] = '\0';
    return out;
}

void discovery_cxone(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (unavailable(m, r))
        return;
    char *tenant = tenant_param(r, c);
    if (!tenant)
        return;
    char base[40];
    base_url(m, base);
    pthread_rwlock_rdlock(&m->cfg_lock);
    bool known = strcmp(tenant, m->cfg.tenant_id) == 0;
    json_t *doc = known ? json_pack("{s:s,s:s,s:s}", "tenantId", m->cfg.tenant_id, "area", m->cfg.area,
                                    "api_endpoint", base)
                        : NULL;
    pthread_rwlock_unlock(&m->cfg_lock);
    if (known)
        reply_json(&r->reply, 200, doc);
    else
        reply_error(&r->reply, 404, "not_found", "unknown tenantId \"%.128s\"", tenant);
    free(tenant);
}
