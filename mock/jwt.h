/* The cxone profile's id_token: a JWT (RFC 7519) in compact form,
 * base64url(header) "." base64url(payload) "." base64url(signature).
 * The signature is a fixed placeholder, NOT a real signature: clients of the mock (like
 * cxone-bulk) decode the payload for routing only and never verify it. */
#ifndef CXONE_MOCK_JWT_H
#define CXONE_MOCK_JWT_H

#include <jansson.h>

/* The placeholder signature's bytes (before base64url). */
#define JWT_PLACEHOLDER_SIGNATURE "cxone-mock: not a signature"

/* A malloc'd compact JWT carrying payload (a JSON object), or NULL on allocation failure. */
char *jwt_make(const json_t *payload);

#endif
