#include "common/kind.h"

static const char *const kind_names[CXB_KIND_COUNT] = {
    [CXB_KIND_NONE] = "other",           [CXB_KIND_OPTIONS] = "options",
    [CXB_KIND_INPUT] = "input",          [CXB_KIND_AUTH] = "auth",
    [CXB_KIND_PERMISSION] = "permission", [CXB_KIND_NETWORK] = "network",
    [CXB_KIND_TLS] = "tls",              [CXB_KIND_LIMITER] = "limiter",
    [CXB_KIND_API] = "api",              [CXB_KIND_SERVER] = "server",
    [CXB_KIND_RATE_LIMITED] = "rate_limited", [CXB_KIND_NOT_FOUND] = "not_found",
    [CXB_KIND_REJECTED] = "rejected",    [CXB_KIND_CANCELLED] = "cancelled",
    [CXB_KIND_OUTPUT] = "output",        [CXB_KIND_INTERNAL] = "internal",
};

const char *cxb_kind_name(cxb_kind k)
{
    return k > CXB_KIND_NONE && k < CXB_KIND_COUNT ? kind_names[k] : kind_names[CXB_KIND_NONE];
}

cxb_kind cxb_kind_of_status(long s)
{
    if (s == 401)
        return CXB_KIND_AUTH;
    if (s == 403)
        return CXB_KIND_PERMISSION;
    if (s == 404)
        return CXB_KIND_NOT_FOUND;
    if (s == 429)
        return CXB_KIND_RATE_LIMITED;
    if (s == 408 || (s >= 500 && s < 600))
        return CXB_KIND_SERVER;
    if (s == 400 || s == 409 || s == 413 || s == 422)
        return CXB_KIND_REJECTED;
    return CXB_KIND_API;
}

cxb_kind cxb_kind_of_transport(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return CXB_KIND_TLS;
    default:
        return CXB_KIND_NETWORK;
    }
}
