/* What kind of failure something was, decided where it is detected (the token endpoint, the
 * discovery step, an HTTP answer, the transport, the limiter, the journal) and carried as data
 * to the Lua side, which maps it once to `error_kind` and the CLI once to an exit code. A
 * message is for people and may change freely; nothing reads a kind out of one. */
#ifndef CXB_KIND_H
#define CXB_KIND_H
#include <curl/curl.h>

typedef enum cxb_kind {
    CXB_KIND_NONE = 0,
    CXB_KIND_OPTIONS,      /* a bad option value (found by the core's own checks) */
    CXB_KIND_INPUT,        /* a task that cannot be sent as given */
    CXB_KIND_AUTH,         /* credentials refused, token unusable, scope missing */
    CXB_KIND_PERMISSION,   /* authenticated, but the API user may not do this (403) */
    CXB_KIND_NETWORK,      /* no HTTP answer: DNS, refused, reset, timeout */
    CXB_KIND_TLS,          /* the TLS handshake or certificate check failed */
    CXB_KIND_LIMITER,      /* the shared limit's store refused or stayed unreachable */
    CXB_KIND_API,          /* the API answered, but not usably (a redirect, an odd status or body) */
    CXB_KIND_SERVER,       /* 5xx or 408, after the retries */
    CXB_KIND_RATE_LIMITED, /* 429, after the retries */
    CXB_KIND_NOT_FOUND,    /* 404: no such contact (or skill) */
    CXB_KIND_REJECTED,     /* 400, 409, 422: the server refused the request as given */
    CXB_KIND_CANCELLED,    /* cancelled before it could finish (the batch's own kind says why) */
    CXB_KIND_OUTPUT,       /* the journal could not be made durable */
    CXB_KIND_INTERNAL,     /* out of memory and the like */
    CXB_KIND_COUNT
} cxb_kind;

/* The stable name Lua sees ("network", "not_found", ...); "other" for NONE. */
const char *cxb_kind_name(cxb_kind k);

/* The kind of a final non-2xx HTTP answer. */
cxb_kind cxb_kind_of_status(long status);

/* The kind of a transport failure (no HTTP answer). */
cxb_kind cxb_kind_of_transport(CURLcode rc);
#endif
