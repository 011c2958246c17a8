#include "tokens.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TOKEN_BUCKETS 1024
#define EXPIRED_GRACE 3600.0

struct token {
    struct token *next;
    uint64_t hash;
    uint64_t serial;
    double expires_at;
    unsigned scopes;
    char tok[TOKEN_LEN + 1];
};

struct tokens {
    pthread_rwlock_t lock;
    struct token *buckets[TOKEN_BUCKETS];
    uint64_t next_serial;
    uint64_t revoked_below; /* tokens with serial < this are revoked */
};

struct tokens *tokens_new(void)
{
    struct tokens *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_rwlock_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->next_serial = 1;
    return t;
}

void tokens_free(struct tokens *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
        struct token *e = t->buckets[b];
        while (e) {
            struct token *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

unsigned scope_bits(const char *scope)
{
    unsigned bits = 0;
    const char *p = scope;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 12 && memcmp(start, "contact:read", 12) == 0)
            bits |= SCOPE_READ;
        else if (n == 14 && memcmp(start, "contact:update", 14) == 0)
            bits |= SCOPE_UPDATE;
    }
    return bits;
}

int tokens_issue(struct tokens *t, double now, double lifetime, unsigned scopes, char out[TOKEN_LEN + 1])
{
    unsigned char raw[32];
    if (random_fill(raw, sizeof raw) != 0)
        return -1;
    struct token *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    base64url_encode(raw, sizeof raw, e->tok);
    e->hash = hash_bytes(e->tok, TOKEN_LEN);
    e->expires_at = now + lifetime;
    e->scopes = scopes;
    pthread_rwlock_wrlock(&t->lock);
    e->serial = t->next_serial++;
    e->next = t->buckets[e->hash % TOKEN_BUCKETS];
    t->buckets[e->hash % TOKEN_BUCKETS] = e;
    pthread_rwlock_unlock(&t->lock);
    memcpy(out, e->tok, TOKEN_LEN + 1);
    return 0;
}

enum token_status tokens_check(struct tokens *t, const char *tok, size_t len, double now, unsigned *scopes)
{
    if (len != TOKEN_LEN)
        return TOKEN_UNKNOWN;
    uint64_t h = hash_bytes(tok, len);
    enum token_status st = TOKEN_UNKNOWN;
    pthread_rwlock_rdlock(&t->lock);
    for (struct token *e = t->buckets[h % TOKEN_BUCKETS]; e; e = e->next) {
        if (e->hash != h || memcmp(e->tok, tok, TOKEN_LEN) != 0)
            continue;
        if (e->serial < t->revoked_below)
            st = TOKEN_REVOKED;
        else if (now >= e->expires_at)
            st = TOKEN_EXPIRED;
        else {
            st = TOKEN_OK;
            *scopes = e->scopes;
        }
        break;
    }
    pthread_rwlock_unlock(&t->lock);
    return st;
}

void tokens_revoke_all(struct tokens *t)
{
    pthread_rwlock_wrlock(&t->lock);
    t->revoked_below = t->next_serial;
    pthread_rwlock_unlock(&t->lock);
}

void tokens_sweep(struct tokens *t, double now)
{
    pthread_rwlock_wrlock(&t->lock);
    for (size_t b = 0; b < TOKEN_BUCKETS; b++) {
        struct token **pp = &t->buckets[b];
        while (*pp) {
            struct token *e = *pp;
            if (now - e->expires_at > EXPIRED_GRACE) {
                *pp = e->next;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_rwlock_unlock(&t->lock);
}
