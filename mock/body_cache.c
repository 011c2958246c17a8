#include "body_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256        /* direct-mapped by hash */
#define MAX_BODY 256     /* longer bodies are simply parsed every time */

struct slot {
    pthread_mutex_t mu;
    uint64_t hash;
    size_t len;          /* 0 = empty */
    const struct outcome_sub *sub;
    char body[MAX_BODY];
};

struct body_cache {
    struct slot slots[SLOTS];
};

struct body_cache *body_cache_new(void)
{
    struct body_cache *bc = calloc(1, sizeof *bc);
    if (!bc)
        return NULL;
    for (size_t i = 0; i < SLOTS; i++)
        pthread_mutex_init(&bc->slots[i].mu, NULL);
    return bc;
}

void body_cache_free(struct body_cache *bc)
{
    if (!bc)
        return;
    for (size_t i = 0; i < SLOTS; i++)
        pthread_mutex_destroy(&bc->slots[i].mu);
    free(bc);
}

const struct outcome_sub *body_cache_get(struct body_cache *bc, const char *body, size_t len, uint64_t hash)
{
    if (len == 0 || len > MAX_BODY)
        return NULL;
    struct slot *s = &bc->slots[hash % SLOTS];
    const struct outcome_sub *sub = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->len == len && s->hash == hash && memcmp(s->body, body, len) == 0)
        sub = s->sub;
    pthread_mutex_unlock(&s->mu);
    return sub;
}

void body_cache_put(struct body_cache *bc, const char *body, size_t len, uint64_t hash,
                    const struct outcome_sub *sub)
{
    if (len == 0 || len > MAX_BODY)
        return;
    struct slot *s = &bc->slots[hash % SLOTS];
    pthread_mutex_lock(&s->mu);
    s->hash = hash;
    s->len = len;
    s->sub = sub;
    memcpy(s->body, body, len);
    pthread_mutex_unlock(&s->mu);
}
