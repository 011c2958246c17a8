/* The standard tutorial task (contact_id, category, subcategory, no key of its own) built in C:
 * the owner thread's per-task work in one call instead of a Lua validator, percent-encoder and
 * JSON encoder per task (docs/bench.md, "CPU per request").
 *
 * These checks are not a second validator: they only *accept* what is plainly valid (printable
 * ASCII, within the limits) and produce exactly the bytes the general path would: both write
 * with src/profile/request.h (spec/plain_task_spec.lua compares the two). Anything else — a
 * control character, a non-ASCII byte, an empty field, a dot segment — is declined and goes
 * through the facade's one validator, which words the refusal. */
#ifndef CXB_PLAIN_TASK_H
#define CXB_PLAIN_TASK_H
#include <stddef.h>

#define CXB_PLAIN_ID_MAX 256    /* = bulk.MAX_ID_BYTES */
#define CXB_PLAIN_TEXT_MAX 1024 /* longer outcome names take the facade's path */
/* Room for the URL path part and the body built from accepted fields. */
#define CXB_PLAIN_URL_TAIL_MAX (3 * CXB_PLAIN_ID_MAX)
#define CXB_PLAIN_BODY_MAX (2 * 2 * CXB_PLAIN_TEXT_MAX + 64)

/* 1 when contact_id, category and subcategory are plainly valid (see above), else 0. */
int cxb_plain_accepts(const char *id, size_t id_len, const char *cat, size_t cat_len,
                      const char *sub, size_t sub_len);

/* Writes the percent-encoded id (RFC 3986 unreserved bytes kept, others %XX) at out (room for
 * CXB_PLAIN_URL_TAIL_MAX bytes); returns the length. Only for an accepted id. */
size_t cxb_plain_url_tail(const char *id, size_t id_len, char *out);

/* Writes {"outcome":{"category":"..","subcategory":".."}} at out (room for CXB_PLAIN_BODY_MAX
 * bytes), escaped the way lua-cjson escapes printable ASCII; returns the length. Only for
 * accepted fields. */
size_t cxb_plain_body(const char *cat, size_t cat_len, const char *sub, size_t sub_len, char *out);
#endif
