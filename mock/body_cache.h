/* Remembers which outcome recent PUT bodies named, keyed by their exact bytes. Batches
 * send the same few bodies over and over; parsing each with jansson was the largest
 * user-space cost per PUT. Parsing is deterministic, so equal bytes give equal results:
 * a hit is exactly what a fresh parse would say. Only successful parses are cached, and
 * lookups are lock-free (see body_cache.c). */
#ifndef CXONE_MOCK_BODY_CACHE_H
#define CXONE_MOCK_BODY_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "outcomes.h"

struct body_cache;

struct body_cache *body_cache_new(void);
void body_cache_free(struct body_cache *bc);
/* hash: hash_bytes(body, len). NULL when the body is not cached. */
const struct outcome_sub *body_cache_get(struct body_cache *bc, const char *body, size_t len, uint64_t hash);
void body_cache_put(struct body_cache *bc, const char *body, size_t len, uint64_t hash,
                    const struct outcome_sub *sub);

#endif
