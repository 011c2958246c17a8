/* Pieces of the OAuth 2.0 token endpoints shared by POST /oauth2/token (oauth.c, the
 * tutorial's client credentials grant) and POST /auth/token (cxone_auth.c, the cxone
 * profile's password grant). */
#ifndef CXONE_MOCK_OAUTH_H
#define CXONE_MOCK_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "mock.h"

#define BASIC_REALM "Basic realm=\"cxone-mock\""
#define CRED_MAX 256

/* The form fields a token endpoint looks at (others are ignored). */
enum { F_GRANT, F_ID, F_SECRET, F_SCOPE, F_USERNAME, F_PASSWORD, F_COUNT };

struct form {
    const char *val[F_COUNT]; /* NULL when absent; point into the scratch buffer */
    size_t len[F_COUNT];
};

struct creds {
    char id[CRED_MAX + 1], secret[CRED_MAX + 1];
    size_t id_len, secret_len;
};

/* RFC 6749 §5.2 error body {"error","error_description","message"}. */
void oauth_error(struct reply *rep, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Parses an application/x-www-form-urlencoded body, decoding into scratch (2*len+16 bytes).
 * A repeated known parameter is an error (RFC 6749 §3.2). false with the problem in why. */
bool oauth_parse_form(const char *body, size_t len, char *scratch, struct form *f, char *why, size_t whylen);
/* Decodes "Basic base64(urlencode(id):urlencode(secret))" (RFC 6749 §2.3.1). false if malformed. */
bool oauth_parse_basic(const char *h, struct creds *out);

#endif
