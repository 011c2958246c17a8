/* Keeps secrets out of messages built from what a server sent back: a hostile or buggy server
 * may echo the Authorization header or the token request's form body into its error text. */
#ifndef CXB_REDACT_H
#define CXB_REDACT_H
#include <stddef.h>

#define CXB_REDACT_MIN 4 /* shorter needles are left alone */

/* Overwrites, in place, every occurrence in s of each needle of at least CXB_REDACT_MIN bytes with '*' (same length, so
 * the message never grows). needles may contain NULL entries. */
void cxb_redact(char *s, const char *const *needles, size_t n);

/* Standard base64 (RFC 4648) of len bytes into a malloc'd NUL-terminated string, or NULL. Used
 * to recognise an echoed "Authorization: Basic ..." value. */
char *cxb_base64(const unsigned char *in, size_t len);
#endif
