#include "body_cache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256    /* direct-mapped by hash */
#define MAX_BODY 256 /* longer bodies are simply parsed every time */

/* An entry never changes once published, and a slot is filled at most once (a body that
 * hashes to a taken slot is just parsed every time). Readers therefore take no lock and
 * write no shared memory: the worker threads do not bounce a cache line per request. */
struct entry {
    uint64_t hash;
    size_t len;
    const struct outcome_sub *sub;
    char body[];
};

struct body_cache {
    _Atomic(struct entry *) slots[SLOTS];
};

struct body_cache *body_cache_new(void)
{
    struct body_cache *bc = malloc(sizeof *bc);
    if (!bc)
        return NULL;
    for (size_t i = 0; i < SLOTS; i++)
        atomic_init(&bc->slots[i], NULL);
    return bc;
}

void body_cache_free(struct body_cache *bc)
{
    if (!bc)
        return;
    for (size_t i = 0; i < SLOTS; i++)
        free(atomic_load(&bc->slots[i]));
    free(bc);
}

const struct outcome_sub *body_cache_get(struct body_cache *bc, const char *body, size_t len, uint64_t hash)
{
    if (len == 0 || len > MAX_BODY)
        return NULL;
    const struct entry *e = atomic_load_explicit(&bc->slots[hash % SLOTS], memory_order_acquire);
    if (e && e->len == len && e->hash == hash && memcmp(e->body, body, len) == 0)
        return e->sub;
    return NULL;
}

void body_cache_put(struct body_cache *bc, const char *body, size_t len, uint64_t hash,
                    const struct outcome_sub *sub)
{
    if (len == 0 || len > MAX_BODY)
        return;
    _Atomic(struct entry *) *slot = &bc->slots[hash % SLOTS];
    if (atomic_load_explicit(slot, memory_order_relaxed))
        return;
    struct entry *e = malloc(sizeof *e + len);
    if (!e)
        return; /* only a cache */
    e->hash = hash;
    e->len = len;
    e->sub = sub;
    memcpy(e->body, body, len);
    struct entry *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(slot, &expected, e, memory_order_release, memory_order_relaxed))
        free(e); /* another thread filled it first */
}
