/* The cxone profile's discovery I/O (docs/cxone.md "Discovery sequence"): the token endpoint from
 * the issuer's openid-configuration, the tenant from the id_token, the API host from the
 * cxone-configuration. Runs on the worker that holds the token refresh (single-flight), never on
 * the Lua thread. The parsing is discovery.c's; this file only fetches and names the step. */
#include "net/auth_impl.h"
#include "net/discovery.h"
#include "common/redact.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tls_fatal(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ISSUER_ERROR;
}

/* GETs a discovery document. OK with r filled (status 200), else a message naming the step and
 * the URL: transport errors, 408, 429 and 5xx are transient, anything else fatal. */
static cxb_auth_status doc_get(cxb_auth *a, cxb_http *h, const char *step, const char *url,
                               cxb_http_resp *r, cxb_kind *kind, char *msg, size_t msglen)
{
    struct curl_slist accept = {(char *)"Accept: application/json", NULL};
    if (cxb_http_request(h, "GET", url, &accept, NULL, 0, NULL, r) != 0) {
        if (r->curl_rc == CURLE_ABORTED_BY_CALLBACK)
            return CXB_AUTH_CANCELLED;
        snprintf(msg, msglen, "%s: GET %s failed: %s", step, url, r->error);
        *kind = cxb_kind_of_transport(r->curl_rc);
        return tls_fatal(r->curl_rc) ? CXB_AUTH_FATAL : CXB_AUTH_TRANSIENT;
    }
    if (r->status == 200)
        return CXB_AUTH_OK;
    char detail[256];
    cxb_http_error_message(r->body, r->body_len, (const char *const *)a->secret_forms,
                           CXB_AUTH_SECRET_FORMS, detail, sizeof detail);
    snprintf(msg, msglen, "%s: GET %s answered HTTP %ld%s%s", step, url, r->status,
             detail[0] ? ": " : "", detail);
    if (r->status == 408 || r->status == 429 || r->status >= 500) {
        *kind = r->status == 429 ? CXB_KIND_RATE_LIMITED : CXB_KIND_SERVER;
        return CXB_AUTH_TRANSIENT;
    }
    *kind = CXB_KIND_API; /* a wrong issuer or tenant: the documents are not where they should be */
    return CXB_AUTH_FATAL;
}

cxb_auth_status cxb_auth_discover_token_url(cxb_auth *a, cxb_http *h, cxb_kind *kind, char *msg,
                                            size_t msglen)
{
    char *url = cxb_openid_config_url(a->issuer);
    if (!url) {
        snprintf(msg, msglen, "discovery: out of memory");
        *kind = CXB_KIND_INTERNAL;
        return CXB_AUTH_TRANSIENT;
    }
    cxb_http_resp r;
    cxb_auth_status st = doc_get(a, h, "discovery", url, &r, kind, msg, msglen);
    if (st == CXB_AUTH_OK) {
        char err[256];
        char *tok = cxb_discovery_token_endpoint(r.body, r.body_len, err, sizeof err);
        if (tok)
            a->token_url = tok;
        else {
            snprintf(msg, msglen, "discovery: %s: %s (give token_url to skip discovery)", url, err);
            *kind = CXB_KIND_API;
            st = CXB_AUTH_FATAL;
        }
    }
    free(url);
    return st;
}

cxb_auth_status cxb_auth_discover_api_base(cxb_auth *a, cxb_http *h, const char *id_tenant, cxb_kind *kind,
                                           char *msg, size_t msglen)
{
    const char *tenant = a->tenant_id ? a->tenant_id : id_tenant;
    if (!tenant || !*tenant) {
        snprintf(msg, msglen, "tenant configuration: no tenant: the token answer's id_token carries no "
                              "tenantId; give tenant_id (or api_base)");
        *kind = CXB_KIND_API;
        return CXB_AUTH_FATAL;
    }
    char *url = cxb_cxone_config_url(a->issuer, tenant);
    if (!url) {
        snprintf(msg, msglen, "tenant configuration: out of memory");
        *kind = CXB_KIND_INTERNAL;
        return CXB_AUTH_TRANSIENT;
    }
    cxb_http_resp r;
    cxb_auth_status st = doc_get(a, h, "tenant configuration", url, &r, kind, msg, msglen);
    if (st == CXB_AUTH_OK) {
        char err[256];
        char *base = cxb_discovery_api_base(r.body, r.body_len, err, sizeof err);
        if (base)
            a->api_base = base;
        else {
            snprintf(msg, msglen, "tenant configuration: %s: %s (give api_base to skip it)", url, err);
            *kind = CXB_KIND_API;
            st = CXB_AUTH_FATAL;
        }
    }
    free(url);
    return st;
}

void cxb_auth_id_token_tenant(const char *body, size_t len, char *tenant, char *msg, size_t msglen)
{
    tenant[0] = '\0';
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *jwt = json_string_value(json_object_get(root, "id_token"));
    if (jwt) {
        char *t = cxb_jwt_tenant_id(jwt, strlen(jwt), msg, msglen);
        if (t && strlen(t) < CXB_TENANT_MAX)
            memcpy(tenant, t, strlen(t) + 1);
        free(t);
    }
    json_decref(root);
}

const char *cxb_auth_api_base(const cxb_auth *a)
{
    return a->api_base;
}
