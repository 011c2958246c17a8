/* The cxone profile's set-disposition request body and the read-back check that lets the
 * engine resend nothing whose outcome is unknown without first looking (docs/cxone.md). */
#ifndef CXB_DISPOSITION_H
#define CXB_DISPOSITION_H
#include <stddef.h>

/* A task's disposition; the optional fields are NULL when the task does not give them. */
struct cxb_disposition {
    const char *skill;             /* required: the skill id, e.g. "1001" */
    const char *disposition_code;  /* required: a disposition id ("2") or name ("Callback Requested") */
    const char *notes, *callback_number, *callback_time, *commitment_amount;
};

/* {"dispositionInfo":{"skill","dispositionCode","notes","callbackNumber","callbackTime",
 * "commitmentAmount"}} with only the fields given, always in this order, compact, so the same
 * task gives the same bytes. malloc'd (length in *len), or NULL with a message naming the
 * field (skill, disposition_code, notes, ...) when a required one is missing or empty or a
 * value is not UTF-8. */
char *cxb_disposition_body(const struct cxb_disposition *d, size_t *len, char *err, size_t errlen);

enum cxb_disposition_check {
    CXB_DISP_MATCHES,   /* the contact shows the wanted disposition (and notes, if wanted) */
    CXB_DISP_DIFFERS,   /* it shows another disposition or other notes */
    CXB_DISP_NONE,      /* it shows no disposition */
    CXB_DISP_INVALID    /* the answer is not a disposition document (message in err) */
};

/* Compares a GET .../contacts/{id}/disposition answer ({dispositionId?, dispositionName?,
 * notes?, lastUpdated?}) with the wanted one. The code matches when it equals the decimal
 * dispositionId or the exact dispositionName (the API does not say which of the two
 * dispositionCode is). Notes are compared only when the task gives them. The read-back has
 * no skill, so the skill is not compared. */
enum cxb_disposition_check cxb_disposition_compare(const char *resp, size_t len, const struct cxb_disposition *want,
                                                   char *err, size_t errlen);
#endif
