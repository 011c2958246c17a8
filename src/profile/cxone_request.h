/* The cxone profile's per-task request pieces (docs/cxone.md): the URLs a contact task and a
 * skill fetch go to, the read-back decision that guards a resend, and the 403 wording. Pure
 * functions; the request policy (attempt.c) does the I/O. */
#ifndef CXB_CXONE_REQUEST_H
#define CXB_CXONE_REQUEST_H
#include "profile/disposition.h"
#include <stddef.h>

/* {api_base}/incontactapi/services/{version}/contacts/{id}/set-disposition (readback = 0) or
 * .../disposition (readback = 1). malloc'd, NULL on allocation failure. */
char *cxb_cxone_contact_url(const char *api_base, const char *version, const char *contact_id, int readback);

/* .../skills/{skill}/dispositions: the validate_outcomes fetch of one skill. */
char *cxb_cxone_skill_url(const char *api_base, const char *version, const char *skill);

/* Compares a read-back answer with the disposition the task asks for (its disposition_code and
 * notes, kept on the task: the body is not re-parsed). Notes are compared when the task gives
 * them; with strict_notes a task without notes matches only a contact without notes —
 * "would this write change nothing" (a plan, skip_unchanged), where set-disposition replaces
 * the whole disposition. Without it, "was this write applied" (a read-back after an unknown
 * outcome), where an API that kept the old notes must not cause a second application. */
enum cxb_disposition_check cxb_cxone_readback(const char *resp, size_t resp_len, const struct cxb_disposition *want,
                                              int strict_notes, char *err, size_t errlen);

/* The whole-batch message for a 403: which permission the API user's role lacks. */
void cxb_cxone_forbidden(int readback, const char *detail, char *out, size_t outlen);
#endif
