#include "routes.h"

#include <string.h>

enum http_method route_method(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return M_GET;
    if (strcmp(m, "PUT") == 0)
        return M_PUT;
    if (strcmp(m, "POST") == 0)
        return M_POST;
    if (strcmp(m, "HEAD") == 0)
        return M_HEAD;
    return M_OTHER;
}

/* families: which API profiles answer (--api); the other's paths are unknown routes. */
void route_request(struct req *r, const char *url, unsigned families)
{
    static const char contacts[] = "/api/v2/contacts/";
    bool tutorial = families & API_TUTORIAL;
    if (tutorial && strcmp(url, "/oauth2/token") == 0) {
        r->route = RT_TOKEN;
    } else if (tutorial && strncmp(url, "/api/", 5) == 0) {
        r->api = true;
        const char *seg = url + sizeof contacts - 1;
        if (strcmp(url, "/api/v2/contact/outcomes") == 0) {
            r->route = RT_OUTCOMES;
        } else if (strncmp(url, contacts, sizeof contacts - 1) == 0 && *seg && !strchr(seg, '/')) {
            r->route = RT_CONTACT;
            req_decode_id(r, seg, strlen(seg));
        }
    } else if ((families & API_CXONE) && cxone_route(r, url)) {
        /* the cxone profile's routes (cxone_routes.c) */
    } else if (strncmp(url, "/_mock/", 7) == 0) {
        r->admin = true;
        if (strcmp(url, "/_mock/config") == 0)
            r->route = RT_CONFIG;
        else if (strcmp(url, "/_mock/stats") == 0)
            r->route = RT_STATS;
        else if (strcmp(url, "/_mock/reset") == 0)
            r->route = RT_RESET;
    }
}

enum stat_route route_stat(const struct req *r)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    if (r->route == RT_CONTACT && r->method == M_PUT)
        return SR_PUT_CONTACT;
    if (r->route == RT_CONTACT && get)
        return SR_GET_CONTACT;
    if (r->route == RT_OUTCOMES && get)
        return SR_GET_OUTCOMES;
    if (r->route == RT_TOKEN && r->method == M_POST)
        return SR_POST_TOKEN;
    return cxone_stat_route(r);
}
void route_dispatch(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    switch (r->route) {
    case RT_TOKEN:
        if (r->method == M_POST)
            oauth_token(m, r, c);
        else
            method_not_allowed(r, "POST");
        break;
    case RT_CONTACT:
        if (get)
            api_get_contact(m, r, c);
        else if (r->method == M_PUT)
            api_put_contact(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD, PUT");
        break;
    case RT_OUTCOMES:
        if (get)
            api_get_outcomes(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD");
        break;
    case RT_CONFIG:
        if (get || r->method == M_POST)
            admin_config(m, r);
        else
            method_not_allowed(r, "GET, HEAD, POST");
        break;
    case RT_STATS:
        if (get)
            admin_stats(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD");
        break;
    case RT_RESET:
        if (r->method == M_POST)
            admin_reset(m, r);
        else
            method_not_allowed(r, "POST");
        break;
    case RT_CXONE_TOKEN:
    case RT_OIDC_CONFIG:
    case RT_CXONE_CONFIG:
    case RT_SET_DISPOSITION:
    case RT_GET_DISPOSITION:
    case RT_SKILL_DISPOSITIONS:
        cxone_dispatch(m, r, c);
        break;
    case RT_UNKNOWN:
        reply_error(&r->reply, 404, "not_found", "no such endpoint");
        break;
    }
}

enum arrival_log route_arrival_log(const struct req *r)
{
    if (r->api) {
        if (r->route == RT_CONTACT && r->method == M_PUT)
            return ARRIVAL_PUT;
        if (r->route == RT_SET_DISPOSITION && r->method == M_POST)
            return ARRIVAL_SET_DISPOSITION;
        return ARRIVAL_API;
    }
    if (r->route == RT_TOKEN || r->route == RT_CXONE_TOKEN)
        return ARRIVAL_TOKEN;
    if (r->route == RT_OIDC_CONFIG || r->route == RT_CXONE_CONFIG)
        return ARRIVAL_DISCOVERY;
    return ARRIVAL_NONE;
}
