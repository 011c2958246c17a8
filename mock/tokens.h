/* Access tokens issued by POST /oauth2/token: random opaque strings with an expiry,
 * the scopes that matter to the API, and a serial so "revoke everything issued so far"
 * is a single store. Read-mostly, so guarded by a rwlock. */
#ifndef CXONE_MOCK_TOKENS_H
#define CXONE_MOCK_TOKENS_H

#include <stddef.h>

#define TOKEN_LEN 43 /* 32 random bytes, base64url without padding */

#define SCOPE_READ 1u   /* contact:read */
#define SCOPE_UPDATE 2u /* contact:update */
#define SCOPE_CXONE 4u  /* issued by the cxone profile's /auth/token (never by a scope string) */

enum token_status { TOKEN_OK, TOKEN_UNKNOWN, TOKEN_EXPIRED, TOKEN_REVOKED };

struct tokens;

struct tokens *tokens_new(void);
void tokens_free(struct tokens *t);
/* Scope bits named by a space-separated scope string. */
unsigned scope_bits(const char *scope);
/* Issues a token valid for lifetime seconds from now (monotonic seconds).
 * out receives TOKEN_LEN characters and a NUL. 0, or -1 on failure. */
int tokens_issue(struct tokens *t, double now, double lifetime, unsigned scopes, char out[TOKEN_LEN + 1]);
enum token_status tokens_check(struct tokens *t, const char *tok, size_t len, double now, unsigned *scopes);
/* Every token issued so far becomes invalid. */
void tokens_revoke_all(struct tokens *t);
/* Forgets tokens that expired more than an hour ago (until then they answer "expired"). */
void tokens_sweep(struct tokens *t, double now);

#endif
