#include "profile/cxone_request.h"
#include "net/discovery.h"
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

enum cxb_disposition_check cxb_cxone_readback(const char *resp, size_t resp_len, const struct cxb_disposition *want,
                                              int strict_notes, char *err, size_t errlen)
{
    struct cxb_disposition w = *want;
    if (strict_notes && !w.notes)
        w.notes = ""; /* the task sets no notes: only a contact without notes is the same */
    return cxb_disposition_compare(resp, resp_len, &w, err, errlen);
}

void cxb_cxone_forbidden(int readback, const char *detail, char *out, size_t outlen)
{
    snprintf(out, outlen, "HTTP 403 on %s%s%s: the CXone API user's role lacks the permission to %s "
                          "(give the access key's user a role that may %s)",
             readback ? "the disposition read-back" : "set-disposition", detail[0] ? ": " : "", detail,
             readback ? "read contact dispositions" : "set contact dispositions",
             readback ? "view contacts and their dispositions" : "set contact dispositions");
}
