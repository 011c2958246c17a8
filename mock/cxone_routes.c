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

/* The read-back of a contact never dispositioned: the value it started with, or an empty
 * object when it has none (the real API's answer for that case is not documented). */
static json_t *initial_disposition(struct mock *m, const struct req *r)
{
    struct iv_disposition d;
    if (!iv_disposition(m->initial, r->id, r->id_len, &d))
        return json_object();
    char date[32];
    format_iso8601_ms(d.updated_ms, date);
    json_t *o = json_pack("{s:I,s:s,s:s}", "dispositionId", (json_int_t)d.def->id, "dispositionName", d.def->name,
                          "lastUpdated", date);
    if (o && d.notes && json_object_set_new(o, "notes", json_string(d.notes)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

void cxone_get_disposition(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (!cxone_authorize(m, r, c) || !cxone_id_ok(r, "contactId") || !cxone_contact_known(m, r))
        return;
    int nomem = dispositions_touch(m->dispositions, r->id, r->id_len) != 0;
    json_t *d = nomem ? NULL : dispositions_get(m->dispositions, r->id, r->id_len, &nomem);
    if (!d && !nomem)
        d = initial_disposition(m, r);
    if (nomem) {
        reply_error(&r->reply, 503, "internal_error", "out of memory");
        return;
    }
    reply_json(&r->reply, 200, d);
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
