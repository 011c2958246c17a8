/* Keeps secrets out of messages built from what a server sent back: a hostile or buggy server
 * may echo the Authorization header or the token request's form body into its error text, whole
 * or cut off at either end. */
#ifndef CXB_REDACT_H
#define CXB_REDACT_H
#include <stddef.h>

#define CXB_REDACT_MIN 4  /* shorter needles are left alone */
#define CXB_REDACT_RUN 16 /* any run of this many consecutive bytes of a needle is masked */

/* Overwrites with '*', in place (same length, so the message never grows):
 *  - every occurrence in s of each needle of CXB_REDACT_MIN..CXB_REDACT_RUN-1 bytes;
 *  - for a needle of CXB_REDACT_RUN bytes or more, every run of CXB_REDACT_RUN or more
 *    consecutive bytes of it that appears anywhere in s (so a whole occurrence, and an echo cut
 *    off at the start or the end of the message, are both masked).
 * Redact before truncating: a truncated message may keep fewer than CXB_REDACT_RUN bytes of a
 * secret that a whole one would have masked. Linear in strlen(s) per needle (rolling hash over
 * the needle's CXB_REDACT_RUN-byte windows). needles may contain NULL entries. */
void cxb_redact(char *s, const char *const *needles, size_t n);

/* Standard base64 (RFC 4648) of len bytes into a malloc'd NUL-terminated string, or NULL. Used
 * to recognise an echoed "Authorization: Basic ..." value. */
char *cxb_base64(const unsigned char *in, size_t len);
#endif
