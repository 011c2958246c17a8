/* Deterministic Idempotency-Key derivation. */
#ifndef CXB_IDEMPOTENCY_H
#define CXB_IDEMPOTENCY_H
#include <stddef.h>

#define CXB_KEY_LEN 36 /* canonical UUID text, without the NUL */

/* UUIDv5 (RFC 9562, SHA-1, libuuid) in the project's namespace over the length-prefixed
 * fields batch_id, contact_id and body, so the same batch, contact and request body always give
 * the same key (a retry and a rerun after a crash carry the same key) and no two different
 * triples can collide by concatenation. Writes CXB_KEY_LEN chars + NUL into out.
 * A NULL field counts as empty. Fields over 1024 bytes enter as their own UUIDv5, so the function
 * never allocates and cannot fail (encoding in docs/limiter.md). */
void cxb_idempotency_key(const char *batch_id, size_t batch_len,
                         const char *contact_id, size_t contact_len,
                         const char *body, size_t body_len, char out[CXB_KEY_LEN + 1]);
#endif
