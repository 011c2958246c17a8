/* The tutorial profile's read-back: the contact's current outcome against the one a task's PUT
 * body asks for. Used before a task whose earlier run's outcome is unknown is sent again (a
 * rerun with the journal), where the Idempotency-Key alone cannot help: the key may have
 * expired on the server, or the earlier run may have used another one. Pure; attempt.c does
 * the GET of the task's own URL. */
#ifndef CXB_TUTORIAL_REQUEST_H
#define CXB_TUTORIAL_REQUEST_H
#include "profile/disposition.h"
#include <stddef.h>

/* resp: a GET /api/v2/contacts/{id} answer ({"id", "outcome": {"category", "subcategory"} | null,
 * ...}); category, subcategory: what the task asks for (kept on the task, not re-parsed from its
 * body). MATCHES when both names are equal, NONE when the contact has no outcome, DIFFERS
 * otherwise, INVALID (message in err) when the answer is not such a document. */
enum cxb_disposition_check cxb_tutorial_readback(const char *resp, size_t resp_len, const char *category,
                                                 const char *subcategory, char *err, size_t errlen);
#endif
