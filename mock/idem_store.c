#include "idem_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SHARDS 64 /* power of two; the top hash bits pick the shard */
/* 64 Ki buckets in all to start (512 KiB): a benchmark's first 100k keys never rehash. */
#define INITIAL_BUCKETS 1024

struct record {
    struct record *next;          /* bucket chain */
    struct record *older, *newer; /* completion order (completed records only) */
    uint64_t hash;
    uint64_t claim;       /* identifies the request that owns an in-progress record */
    struct idem_fp fp;
    bool done;
    unsigned status;
    double completed_at;
    char *body;
    size_t body_len;
    size_t key_len;
    char key[];
};

struct shard {
    pthread_mutex_t mu;
    struct record **buckets;
    size_t mask;
    size_t count;
    /* Completed records oldest first: completion times only grow within a shard (they
     * are taken under its lock), so expiry pops from the head. */
    struct record *oldest, *newest;
};

struct idem_store {
    struct shard shards[SHARDS];
    _Atomic uint64_t next_claim;
};

struct idem_fp idem_fingerprint(const char *method, const char *path, uint64_t body_hash, size_t body_len)
{
    /* Length-prefix each field so ("PUT","/a") and ("PU","T/a") hash differently. */
    uint64_t h = HASH_INIT;
    size_t lens[2] = {strlen(method), strlen(path)};
    const char *parts[2] = {method, path};
    for (int i = 0; i < 2; i++) {
        h = hash_update(h, &lens[i], sizeof lens[i]);
        h = hash_update(h, parts[i], lens[i]);
    }
    h = hash_update(h, &body_hash, sizeof body_hash);
    return (struct idem_fp){hash_finish(h), body_len};
}

struct idem_store *idem_new(void)
{
    struct idem_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        sh->buckets = calloc(INITIAL_BUCKETS, sizeof *sh->buckets);
        if (!sh->buckets) {
            for (size_t j = 0; j < i; j++) {
                free(s->shards[j].buckets);
                pthread_mutex_destroy(&s->shards[j].mu);
            }
            free(s);
            return NULL;
        }
        sh->mask = INITIAL_BUCKETS - 1;
        pthread_mutex_init(&sh->mu, NULL);
    }
    atomic_init(&s->next_claim, 1);
    return s;
}

static void free_record(struct record *r)
{
    free(r->body);
    free(r);
}

static void clear_shard(struct shard *sh)
{
    for (size_t b = 0; b <= sh->mask; b++) {
        struct record *r = sh->buckets[b];
        while (r) {
            struct record *next = r->next;
            free_record(r);
            r = next;
        }
        sh->buckets[b] = NULL;
    }
    sh->count = 0;
    sh->oldest = sh->newest = NULL;
}

void idem_free(struct idem_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        clear_shard(&s->shards[i]);
        free(s->shards[i].buckets);
        pthread_mutex_destroy(&s->shards[i].mu);
    }
    free(s);
}

static struct shard *shard_of(struct idem_store *s, uint64_t h)
{
    return &s->shards[h >> 58];
}

/* Doubles the bucket array when the load passes 1; on allocation failure keeps going
 * with longer chains (still correct). Called with the shard locked. */
static void maybe_grow(struct shard *sh)
{
    if (sh->count <= sh->mask + 1)
        return;
    size_t nb = (sh->mask + 1) * 2;
    struct record **nbk = calloc(nb, sizeof *nbk);
    if (!nbk)
        return;
    for (size_t b = 0; b <= sh->mask; b++) {
        struct record *r = sh->buckets[b];
        while (r) {
            struct record *next = r->next;
            r->next = nbk[r->hash & (nb - 1)];
            nbk[r->hash & (nb - 1)] = r;
            r = next;
        }
    }
    free(sh->buckets);
    sh->buckets = nbk;
    sh->mask = nb - 1;
}

static struct record **find(struct shard *sh, uint64_t h, const char *key, size_t key_len)
{
    struct record **pp = &sh->buckets[h & sh->mask];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->key_len == key_len && memcmp((*pp)->key, key, key_len) == 0)
            return pp;
    return pp;
}

/* Takes a completed record out of the completion list. */
static void unlink_done(struct shard *sh, struct record *r)
{
    if (!r->done)
        return;
    if (r->older)
        r->older->newer = r->newer;
    else
        sh->oldest = r->newer;
    if (r->newer)
        r->newer->older = r->older;
    else
        sh->newest = r->older;
}

/* Removes the record *pp points at (its bucket link) and frees it. */
static void remove_at(struct shard *sh, struct record **pp)
{
    struct record *r = *pp;
    *pp = r->next;
    unlink_done(sh, r);
    free_record(r);
    sh->count--;
}

static bool expired(const struct record *r, double now, double retention)
{
    return r->done && now - r->completed_at > retention;
}

enum idem_result idem_claim(struct idem_store *s, const char *key, size_t key_len, struct idem_fp fp,
                            double now, double retention, uint64_t *claim, unsigned *status, char **body,
                            size_t *body_len)
{
    uint64_t h = hash_bytes(key, key_len);
    struct shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    struct record **pp = find(sh, h, key, key_len);
    struct record *r = *pp;
    if (r && expired(r, now, retention)) {
        remove_at(sh, pp);
        r = NULL;
    }
    enum idem_result res;
    if (r) {
        if (r->fp.hash != fp.hash || r->fp.body_len != fp.body_len) {
            res = IDEM_MISMATCH;
        } else if (!r->done) {
            res = IDEM_CONFLICT;
        } else {
            /* Copy under the lock: a sweep may free the record right after. */
            char *copy = malloc(r->body_len + 1);
            if (copy) {
                memcpy(copy, r->body, r->body_len);
                copy[r->body_len] = '\0';
                *status = r->status;
                *body = copy;
                *body_len = r->body_len;
                res = IDEM_REPLAY;
            } else {
                res = IDEM_NOMEM;
            }
        }
    } else {
        r = malloc(sizeof *r + key_len + 1);
        if (r) {
            memset(r, 0, sizeof *r);
            r->hash = h;
            r->fp = fp;
            r->claim = atomic_fetch_add(&s->next_claim, 1);
            r->key_len = key_len;
            memcpy(r->key, key, key_len);
            r->next = sh->buckets[h & sh->mask];
            sh->buckets[h & sh->mask] = r;
            sh->count++;
            maybe_grow(sh);
            *claim = r->claim;
            res = IDEM_FRESH;
        } else {
            res = IDEM_NOMEM;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return res;
}

/* The in-progress record owned by claim, or NULL (e.g. cleared by a reset meanwhile). */
static struct record **find_claim(struct shard *sh, uint64_t h, const char *key, size_t key_len,
                                  uint64_t claim)
{
    struct record **pp = find(sh, h, key, key_len);
    if (*pp && !(*pp)->done && (*pp)->claim == claim)
        return pp;
    return NULL;
}

void idem_release(struct idem_store *s, const char *key, size_t key_len, uint64_t claim)
{
    uint64_t h = hash_bytes(key, key_len);
    struct shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    struct record **pp = find_claim(sh, h, key, key_len, claim);
    if (pp)
        remove_at(sh, pp);
    pthread_mutex_unlock(&sh->mu);
}

void idem_complete(struct idem_store *s, const char *key, size_t key_len, uint64_t claim, unsigned status,
                   const char *body, size_t body_len, double now)
{
    /* Copy outside the lock; most of the work is this allocation. */
    char *copy = malloc(body_len + 1);
    if (!copy) {
        idem_release(s, key, key_len, claim);
        return;
    }
    memcpy(copy, body, body_len);
    copy[body_len] = '\0';
    uint64_t h = hash_bytes(key, key_len);
    struct shard *sh = shard_of(s, h);
    pthread_mutex_lock(&sh->mu);
    struct record **pp = find_claim(sh, h, key, key_len, claim);
    if (pp) {
        struct record *r = *pp;
        r->done = true;
        r->status = status;
        r->completed_at = now;
        r->body = copy;
        r->body_len = body_len;
        r->older = sh->newest;
        r->newer = NULL;
        if (sh->newest)
            sh->newest->newer = r;
        else
            sh->oldest = r;
        sh->newest = r;
        copy = NULL;
    }
    pthread_mutex_unlock(&sh->mu);
    free(copy);
}

void idem_sweep(struct idem_store *s, double now, double retention)
{
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *sh = &s->shards[i];
        pthread_mutex_lock(&sh->mu);
        while (sh->oldest && expired(sh->oldest, now, retention)) {
            struct record *r = sh->oldest;
            struct record **pp = find(sh, r->hash, r->key, r->key_len);
            if (*pp != r) /* cannot happen: every completed record is in its bucket */
                break;
            remove_at(sh, pp);
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

void idem_clear(struct idem_store *s)
{
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&s->shards[i].mu);
        clear_shard(&s->shards[i]);
        pthread_mutex_unlock(&s->shards[i].mu);
    }
}

size_t idem_count(struct idem_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&s->shards[i].mu);
        n += s->shards[i].count;
        pthread_mutex_unlock(&s->shards[i].mu);
    }
    return n;
}
