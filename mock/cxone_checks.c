/* Checks every cxone API handler makes (cxone_routes.c, set_disposition.c): the bearer token,
 * the id path segment, the contact's existence. */
#include <string.h>

#include "cxone.h"
#include "mock.h"

#define REALM "Bearer realm=\"cxone-mock\""

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
