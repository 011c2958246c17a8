/* The cxone profile's API route handlers: checks shared by them (cxone_checks.c), set-disposition
 * (set_disposition.c), the reads (cxone_routes.c). */
#ifndef CXONE_MOCK_CXONE_H
#define CXONE_MOCK_CXONE_H

#include <stdbool.h>

#include "mock.h"

/* Bearer token from /auth/token; false with a 401 prepared otherwise. */
bool cxone_authorize(struct mock *m, struct req *r, struct MHD_Connection *c);
/* false with a 400 naming `what` when the id path segment was unusable. */
bool cxone_id_ok(struct req *r, const char *what);
/* false with a 404 when r->id is not a contact the mock knows. */
bool cxone_contact_known(struct mock *m, struct req *r);

void cxone_set_disposition(struct mock *m, struct req *r, struct MHD_Connection *c);
void cxone_get_disposition(struct mock *m, struct req *r, struct MHD_Connection *c);
void cxone_skill_dispositions(struct mock *m, struct req *r, struct MHD_Connection *c);

#endif
