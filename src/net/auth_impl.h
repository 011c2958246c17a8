/* The token source's state: private to auth.c and auth_discovery.c (holds the secret forms). */
#ifndef CXB_AUTH_IMPL_H
#define CXB_AUTH_IMPL_H
#include "net/auth.h"

struct cxb_auth {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *token_url;
    char *form;          /* form body, holds the secret unless basic_auth */
    char *userpwd;       /* "id:secret" form-urlencoded, only with basic_auth */
    char *required_scope;
    char *secret_forms[CXB_AUTH_SECRET_FORMS]; /* the secret as it may be echoed: raw,
                               form-encoded, Basic base64 (NULL without basic_auth), and the
                               access key secret raw and form-encoded (cxone); redacted,
                               with any 16-byte run of one, from every message built from a
                               response ("id:secret" holds the form-encoded secret) */
    char token[CXB_TOKEN_MAX];
    uint64_t generation; /* bumps on every new token; 0 = none yet */
    double expires_at, refresh_at;
    int refreshing;
    /* Bumps (under mu) whenever the token to use changes: a new one, an invalidation, a fatal
     * error. A worker holding a token of this epoch, before that token's refresh time, keeps it
     * without taking mu (cxb_auth_current): that lock was taken by every attempt of every worker. */
    atomic_uint_fast64_t epoch;
    cxb_kind fatal;      /* NONE, or what stopped every later fetch */
    char fatal_msg[512];
    atomic_long refreshes;
    /* cxone: written only by the thread holding `refreshing`, and published (under mu) before
     * the first token is; fixed after that, so a holder of a token may read them unlocked. */
    int cxone;
    char *issuer, *tenant_id;
    char *api_base;      /* NULL until discovered (or given) */
};

/* cxone discovery steps (auth_discovery.c), run by the refreshing thread only. Messages name the
 * step ("discovery", "tenant configuration") and the URL, never a secret. */
cxb_auth_status cxb_auth_discover_token_url(cxb_auth *a, cxb_http *h, cxb_kind *kind, char *msg,
                                            size_t msglen);
cxb_auth_status cxb_auth_discover_api_base(cxb_auth *a, cxb_http *h, const char *id_tenant, cxb_kind *kind,
                                           char *msg, size_t msglen);
#endif
