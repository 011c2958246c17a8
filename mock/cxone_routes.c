/* The cxone profile's REST routes under /incontactapi/services/{version}/ (matched without
 * regard to case, as public samples spell it both "incontactapi" and "inContactAPI"):
 *   POST contacts/{contactId}/set-disposition, GET contacts/{contactId}/disposition,
 *   GET skills/{skillId}/dispositions,
 * plus the routing and dispatch of every cxone route (discovery and /auth/token too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cxone.h"
#include "mock.h"

#define REALM "Bearer realm=\"cxone-mock\""

/* "v" digits "." digits, e.g. v13.0 or v33.0 (the versions public code uses). */
static bool version_ok(const char *v, size_t n)
{
    size_t i = 1, digits = 0;
    if (n < 4 || v[0] != 'v')
        return false;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
        digits++;
    if (digits == 0 || i >= n || v[i] != '.')
        return false;
    for (digits = 0, i++; i < n && v[i] >= '0' && v[i] <= '9'; i++)
        digits++;
    return digits > 0 && i == n;
}

/* rest = "contacts/{id}/set-disposition" etc. (after the version segment). */
static void route_rest(struct req *r, const char *rest)
{
    static const struct {
        const char *collection, *tail;
        enum route route;
    } table[] = {
        {"contacts/", "set-disposition", RT_SET_DISPOSITION},
        {"contacts/", "disposition", RT_GET_DISPOSITION},
        {"skills/", "dispositions", RT_SKILL_DISPOSITIONS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t cl = strlen(table[i].collection);
        if (strncmp(rest, table[i].collection, cl) != 0)
            continue;
        const char *id = rest + cl;
        const char *slash = strchr(id, '/');
        if (!slash || slash == id || strcmp(slash + 1, table[i].tail) != 0)
            continue;
        r->route = table[i].route;
        req_decode_id(r, id, (size_t)(slash - id));
        return;
    }
}

bool cxone_route(struct req *r, const char *url)
{
    static const char prefix[] = "/incontactapi/services/";
    if (strcmp(url, "/auth/token") == 0)
        r->route = RT_CXONE_TOKEN;
    else if (strcmp(url, "/.well-known/openid-configuration") == 0)
        r->route = RT_OIDC_CONFIG;
    else if (strcmp(url, "/.well-known/cxone-configuration") == 0)
        r->route = RT_CXONE_CONFIG;
    else if (strncasecmp(url, prefix, sizeof prefix - 1) == 0) {
        /* Every request under the API prefix is an API request: rate limit, faults, stats. */
        r->api = true;
        const char *ver = url + sizeof prefix - 1;
        const char *slash = strchr(ver, '/');
        if (slash && version_ok(ver, (size_t)(slash - ver)))
            route_rest(r, slash + 1);
    } else {
        return false;
    }
    return true;
}

enum stat_route cxone_stat_route(const struct req *r)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    if (r->route == RT_SET_DISPOSITION && r->method == M_POST)
        return SR_SET_DISPOSITION;
    if (r->route == RT_GET_DISPOSITION && get)
        return SR_GET_DISPOSITION;
    if (r->route == RT_SKILL_DISPOSITIONS && get)
        return SR_GET_SKILL_DISPOSITIONS;
    if (r->route == RT_CXONE_TOKEN && r->method == M_POST)
        return SR_POST_AUTH_TOKEN;
    if (r->route == RT_OIDC_CONFIG && get)
        return SR_GET_OIDC_CONFIG;
    if (r->route == RT_CXONE_CONFIG && get)
        return SR_GET_CXONE_CONFIG;
    return SR_OTHER;
}

/* Bearer token of /auth/token: 401 when missing, unknown, expired, revoked, or issued by the
 * tutorial's /oauth2/token (another issuer). Fills r->reply and returns false on refusal. */
bool cxone_authorize(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *why = NULL;
    unsigned scopes = 0;
    if (!h || !has_prefix_ci(h, "Bearer ")) {
        why = "missing bearer token (Authorization: Bearer <token>)";
    } else {
        const char *t = h + 7;
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len > 0 && t[len - 1] == ' ')
            len--;
        enum token_status st = tokens_check(m->tokens, t, len, req_now(r), &scopes);
        why = st == TOKEN_EXPIRED   ? "access token expired"
              : st == TOKEN_REVOKED ? "access token revoked"
              : st == TOKEN_UNKNOWN || !(scopes & SCOPE_CXONE) ? "unknown access token"
                                                                : NULL;
    }
    if (!why)
        return true;
    reply_error(&r->reply, 401, "invalid_token", "%s", why);
    r->reply.www_authenticate = REALM ", error=\"invalid_token\"";
    return false;
}

/* 400 naming the path segment when the contact or skill id is unusable. */
bool cxone_id_ok(struct req *r, const char *what)
{
    if (!r->id_error)
        return true;
    reply_error(&r->reply, 400, "invalid_request", "%s: %s", what, r->id_error);
    return false;
}

bool cxone_contact_known(struct mock *m, struct req *r)
{
    struct contact_view v;
    if (contacts_get(m->contacts, r->id, r->id_len, &v) == CONTACT_OK)
        return true;
    reply_error(&r->reply, 404, "not_found", "contact \"%.200s\" not found", r->id);
    return false;
}

void cxone_get_disposition(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!cxone_authorize(m, r, c) || !cxone_id_ok(r, "contactId") || !cxone_contact_known(m, r))
        return;
    int nomem = 0;
    json_t *d = dispositions_get(m->dispositions, r->id, r->id_len, &nomem);
    if (nomem) {
        reply_error(&r->reply, 503, "internal_error", "out of memory");
        return;
    }
    /* No disposition yet: an empty object (the real API's answer here is not documented). */
    reply_json(&r->reply, 200, d ? d : json_object());
}

void cxone_skill_dispositions(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!cxone_authorize(m, r, c) || !cxone_id_ok(r, "skillId"))
        return;
    const struct skill *sk = skills_find(m->skills, r->id, r->id_len);
    if (!sk) {
        reply_error(&r->reply, 404, "not_found", "skill \"%.64s\" not found", r->id);
        return;
    }
    reply_static(&r->reply, 200, sk->json, sk->json_len);
}

void cxone_dispatch(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    bool post = r->method == M_POST;
    switch (r->route) {
    case RT_CXONE_TOKEN:
        post ? cxone_token(m, r, c) : method_not_allowed(r, "POST");
        break;
    case RT_OIDC_CONFIG:
        get ? discovery_openid(m, r) : method_not_allowed(r, "GET, HEAD");
        break;
    case RT_CXONE_CONFIG:
        get ? discovery_cxone(m, r, c) : method_not_allowed(r, "GET, HEAD");
        break;
    case RT_SET_DISPOSITION:
        post ? cxone_set_disposition(m, r, c) : method_not_allowed(r, "POST");
        break;
    case RT_GET_DISPOSITION:
        get ? cxone_get_disposition(m, r, c) : method_not_allowed(r, "GET, HEAD");
        break;
    case RT_SKILL_DISPOSITIONS:
        get ? cxone_skill_dispositions(m, r, c) : method_not_allowed(r, "GET, HEAD");
        break;
    default:
        reply_error(&r->reply, 404, "not_found", "no such endpoint");
        break;
    }
}
