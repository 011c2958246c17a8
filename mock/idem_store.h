/* Server-side Idempotency-Key records (IETF httpapi-idempotency-key draft, Stripe
 * semantics): key -> request fingerprint + stored response, kept for a retention time.
 * Sharded: each shard is its own hash table under its own mutex. */
#ifndef CXONE_MOCK_IDEM_STORE_H
#define CXONE_MOCK_IDEM_STORE_H

#include <stddef.h>
#include <stdint.h>

#define IDEM_KEY_MAX 255

struct idem_store;

/* Fingerprint of (method, path, body): a 64-bit hash plus the body length. A false
 * match needs a 64-bit collision between two requests that share a key; fine for a mock. */
struct idem_fp {
    uint64_t hash;
    size_t body_len;
};
/* body_hash: hash_bytes() of the body. */
struct idem_fp idem_fingerprint(const char *method, const char *path, uint64_t body_hash, size_t body_len);

enum idem_result {
    IDEM_FRESH,    /* key claimed: the caller must idem_complete() or idem_release() it */
    IDEM_REPLAY,   /* completed earlier with the same request: stored response returned */
    IDEM_CONFLICT, /* same request still being processed */
    IDEM_MISMATCH, /* key already used with a different request */
    IDEM_NOMEM,
};

struct idem_store *idem_new(void);
void idem_free(struct idem_store *s);

/* now and retention in seconds (CLOCK_MONOTONIC). Records completed more than retention
 * seconds ago count as absent. On IDEM_FRESH *claim identifies this claim; on IDEM_REPLAY
 * *status and a malloc'd copy of the stored body (*body, *body_len) are returned. */
enum idem_result idem_claim(struct idem_store *s, const char *key, size_t key_len, struct idem_fp fp,
                            double now, double retention, uint64_t *claim, unsigned *status, char **body,
                            size_t *body_len);
/* Stores the response for a claim. If storing fails the claim is released instead. */
void idem_complete(struct idem_store *s, const char *key, size_t key_len, uint64_t claim, unsigned status,
                   const char *body, size_t body_len, double now);
/* Forgets a claim without storing (the next request with the key is processed afresh). */
void idem_release(struct idem_store *s, const char *key, size_t key_len, uint64_t claim);
/* Removes records that completed more than retention seconds ago (cost: the expired ones). */
void idem_sweep(struct idem_store *s, double now, double retention);
void idem_clear(struct idem_store *s);
size_t idem_count(struct idem_store *s);

#endif
