/* OAuth2 client-credentials token source: fetch, cache, refresh ahead of expiry, one refresh in
 * flight at a time, scope check. The secret lives only here and in the request it builds. */
#ifndef CXB_AUTH_H
#define CXB_AUTH_H
#include "net/http.h"
#include "common/kind.h"
#include "limiter/limiter.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define CXB_TOKEN_MAX 4096
#define CXB_AUTH_SECRET_FORMS 5
#define CXB_TENANT_MAX 128

typedef enum {
    CXB_AUTH_OK = 0,
    CXB_AUTH_TRANSIENT,  /* try again later (5xx, 429, transport); msg says why */
    CXB_AUTH_FATAL,      /* the whole batch cannot proceed (bad credentials, scope, bad response) */
    CXB_AUTH_CANCELLED
} cxb_auth_status;

typedef struct cxb_auth_config {
    const char *token_url;
    const char *client_id;
    const char *client_secret;
    const char *scope;           /* requested; the response must grant contact:update */
    const char *required_scope;  /* e.g. "contact:update" */
    int basic_auth;              /* 1: HTTP Basic; 0: credentials as form fields (default) */
    /* The cxone profile (docs/cxone.md): password grant with Basic client auth, the token
     * endpoint discovered from issuer when token_url is NULL, and the tenant's API host from
     * the cxone-configuration document unless api_base is given. */
    int cxone;
    const char *username, *password;  /* access key id / secret */
    const char *issuer, *tenant_id, *api_base;
} cxb_auth_config;

/* Opaque: the state holds the secret in several forms (auth_impl.h, for auth*.c only). */
typedef struct cxb_auth cxb_auth;

/* A new token source (NULL with a message in err). cxb_auth_free wipes every secret form. */
cxb_auth *cxb_auth_new(const cxb_auth_config *cfg, char *err, size_t errlen);
void cxb_auth_free(cxb_auth *a);

/* Copies a valid bearer token into out (size CXB_TOKEN_MAX) and its generation into res->gen,
 * fetching one first when none is cached or the cached one is due for refresh. Only one caller
 * fetches; the others wait for it (or keep using a still-valid token), holding no limiter slot.
 * The token request takes its own slot right before it is sent; discovery requests go to the
 * issuer, not the tenant's API, and take none. */
typedef struct cxb_auth_result {
    uint64_t gen;        /* generation of the token copied out */
    double expires_at;   /* CLOCK_MONOTONIC second at which that token stops being valid */
    double refresh_at;   /* from then on, get it again (a newer one may be due) */
    uint64_t epoch;      /* for cxb_auth_current */
    int fetched;         /* 1 when this call performed the fetch */
    cxb_kind kind;       /* when not CXB_AUTH_OK: what failed (NETWORK, TLS, SERVER, AUTH, API ...) */
    double retry_after;  /* Retry-After of a transient failure, -1 if none */
    char msg[512];       /* why, when not CXB_AUTH_OK; never contains the secret */
} cxb_auth_result;

cxb_auth_status cxb_auth_get(cxb_auth *a, cxb_http *h, cxb_limiter *lim, const atomic_int *cancel,
                             char *out, cxb_auth_result *res);

/* 1 while a token cxb_auth_get gave with res->epoch is still the one to use (no newer token, no
 * invalidation, no fatal error since); the caller checks res->refresh_at itself. Lock-free: the
 * cheap check before every attempt, which calls cxb_auth_get only when this says 0. */
int cxb_auth_current(cxb_auth *a, uint64_t epoch);

/* cxone: the tenant's API base URL (no trailing '/'); valid once cxb_auth_get returned OK. */
const char *cxb_auth_api_base(const cxb_auth *a);

/* The id_token's tenantId from a token answer body (tenant: CXB_TENANT_MAX bytes), or "" */
void cxb_auth_id_token_tenant(const char *body, size_t len, char *tenant, char *msg, size_t msglen);

/* A request carrying token generation gen got 401: drop that token so the next get refetches. */
void cxb_auth_invalidate(cxb_auth *a, uint64_t gen);

/* Parses a token endpoint response body. On success stores the token, its lifetime in seconds
 * and 1 in *has_scope_ok when `required` is among the granted scopes (or scope is absent, which
 * RFC 6749 §5.1 defines as "as requested"). Returns 0, or -1 with a message. Exposed for fuzzing. */
int cxb_auth_parse_token(const char *body, size_t len, const char *required,
                         char *token, size_t tokenlen, double *expires_in, int *has_scope_ok,
                         char *granted, size_t grantedlen, char *msg, size_t msglen);

/* Seconds before expiry at which a token of the given lifetime is refreshed: 60 s for long-lived
 * tokens, a tenth of the lifetime for short ones (a 2 s token is refreshed after 1.8 s). */
double cxb_auth_refresh_margin(double lifetime);
#endif
