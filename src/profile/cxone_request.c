#include "profile/cxone_request.h"
#include "net/discovery.h"
#include <jansson.h>
#include <stdio.h>
#include <string.h>

char *cxb_cxone_contact_url(const char *api_base, const char *version, const char *contact_id, int readback)
{
    return cxb_cxone_api_url(api_base, version, "contacts", contact_id,
                             readback ? "disposition" : "set-disposition");
}

char *cxb_cxone_skill_url(const char *api_base, const char *version, const char *skill)
{
    return cxb_cxone_api_url(api_base, version, "skills", skill, "dispositions");
}

static const char *info_field(const json_t *info, const char *name)
{
    return json_string_value(json_object_get(info, name));
}

enum cxb_disposition_check cxb_cxone_readback(const char *resp, size_t resp_len, const char *body,
                                              size_t body_len, int strict_notes, char *err, size_t errlen)
{
    /* The body is ours (built by cxb_disposition_body), so it parses; the check is defence. */
    json_t *doc = json_loadb(body, body_len, 0, NULL);
    const json_t *info = json_object_get(doc, "dispositionInfo");
    struct cxb_disposition want = {info_field(info, "skill"), info_field(info, "dispositionCode"),
                                   info_field(info, "notes"), NULL, NULL, NULL};
    if (strict_notes && !want.notes)
        want.notes = ""; /* the body sets no notes: only a contact without notes is the same */
    enum cxb_disposition_check res;
    if (!json_is_object(info)) {
        snprintf(err, errlen, "internal: the set-disposition body has no dispositionInfo");
        res = CXB_DISP_INVALID;
    } else {
        res = cxb_disposition_compare(resp, resp_len, &want, err, errlen);
    }
    json_decref(doc);
    return res;
}

void cxb_cxone_forbidden(int readback, const char *detail, char *out, size_t outlen)
{
    snprintf(out, outlen, "HTTP 403 on %s%s%s: the CXone API user's role lacks the permission to %s "
                          "(give the access key's user a role that may %s)",
             readback ? "the disposition read-back" : "set-disposition", detail[0] ? ": " : "", detail,
             readback ? "read contact dispositions" : "set contact dispositions",
             readback ? "view contacts and their dispositions" : "set contact dispositions");
}
