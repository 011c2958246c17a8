#include "contacts.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Buckets are always a multiple of the stripe count, so bucket b is guarded by
 * stripe b % CONTACT_STRIPES and a whole stripe can be walked under one lock. */
#define CONTACT_STRIPES 256

struct contact {
    struct contact *next;
    uint64_t hash;
    const struct outcome_sub *outcome;
    int64_t updated_ms;
    uint32_t count;
    bool dynamic; /* created by --any-contact on first mutation; removed by reset */
    bool read;    /* history: a client read it */
    uint32_t hist_n, hist_cap; /* history: the outcomes applied, in order */
    const struct outcome_sub **hist;
    uint16_t id_len;
    char id[];
};

struct contacts {
    bool any;
    bool history;
    size_t mask; /* buckets - 1 */
    struct contact **buckets;
    size_t known;
    pthread_mutex_t stripes[CONTACT_STRIPES];
    _Atomic uint64_t total, distinct, max_per;
};

static size_t pow2_at_least(size_t n)
{
    size_t p = CONTACT_STRIPES * 4;
    while (p < n && p < ((size_t)1 << 40))
        p <<= 1;
    return p;
}

struct contacts *contacts_new(bool any_contact, size_t expected, bool history)
{
    struct contacts *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    /* --any-contact can grow without bound; start wide so chains stay short. */
    size_t want = expected + expected / 2;
    if (any_contact && want < 65536)
        want = 65536;
    size_t nb = pow2_at_least(want);
    c->buckets = calloc(nb, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    c->any = any_contact;
    c->history = history;
    for (size_t i = 0; i < CONTACT_STRIPES; i++)
        pthread_mutex_init(&c->stripes[i], NULL);
    return c;
}

void contacts_free(struct contacts *c)
{
    if (!c)
        return;
    for (size_t b = 0; b <= c->mask; b++) {
        struct contact *e = c->buckets[b];
        while (e) {
            struct contact *next = e->next;
            free(e->hist);
            free(e);
            e = next;
        }
    }
    for (size_t i = 0; i < CONTACT_STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i]);
    free(c->buckets);
    free(c);
}

static struct contact *find(struct contacts *c, uint64_t h, const char *id, size_t len)
{
    for (struct contact *e = c->buckets[h & c->mask]; e; e = e->next)
        if (e->hash == h && e->id_len == len && memcmp(e->id, id, len) == 0)
            return e;
    return NULL;
}

static struct contact *insert(struct contacts *c, uint64_t h, const char *id, size_t len, bool dynamic)
{
    struct contact *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    e->hash = h;
    e->dynamic = dynamic;
    e->id_len = (uint16_t)len;
    memcpy(e->id, id, len);
    e->next = c->buckets[h & c->mask];
    c->buckets[h & c->mask] = e;
    return e;
}

static pthread_mutex_t *stripe_of(struct contacts *c, uint64_t h)
{
    return &c->stripes[(h & c->mask) % CONTACT_STRIPES];
}

int contacts_add(struct contacts *c, const char *id, size_t len)
{
    if (len == 0 || len > CONTACT_ID_MAX)
        return -1;
    uint64_t h = hash_bytes(id, len);
    pthread_mutex_t *mu = stripe_of(c, h);
    pthread_mutex_lock(mu);
    int rc = 0;
    if (!find(c, h, id, len)) {
        if (insert(c, h, id, len, false))
            c->known++;
        else
            rc = -1;
    }
    pthread_mutex_unlock(mu);
    return rc;
}

size_t contacts_known(const struct contacts *c)
{
    return c->known;
}

static void snapshot(const struct contact *e, struct contact_view *out)
{
    out->count = e->count;
    out->outcome = e->outcome;
    out->updated_ms = e->updated_ms;
}

/* read: a client's read, remembered (and, under --any-contact, given a record) with history. */
static enum contact_result lookup(struct contacts *c, const char *id, size_t len, struct contact_view *out, bool read)
{
    uint64_t h = hash_bytes(id, len);
    pthread_mutex_t *mu = stripe_of(c, h);
    read = read && c->history && len > 0 && len <= CONTACT_ID_MAX;
    pthread_mutex_lock(mu);
    struct contact *e = find(c, h, id, len);
    if (!e && read && c->any)
        e = insert(c, h, id, len, true);
    if (e) {
        e->read = e->read || read;
        snapshot(e, out);
    }
    pthread_mutex_unlock(mu);
    if (e)
        return CONTACT_OK;
    if (!c->any)
        return CONTACT_NOT_FOUND;
    memset(out, 0, sizeof *out); /* exists (any-contact) but never touched */
    return CONTACT_OK;
}

enum contact_result contacts_get(struct contacts *c, const char *id, size_t len, struct contact_view *out)
{
    return lookup(c, id, len, out, false);
}

enum contact_result contacts_read(struct contacts *c, const char *id, size_t len, struct contact_view *out)
{
    return lookup(c, id, len, out, true);
}

/* Appends an applied outcome to e's history (called with its stripe locked). -1: no memory. */
static int remember(struct contact *e, const struct outcome_sub *outcome)
{
    if (e->hist_n == e->hist_cap) {
        uint32_t cap = e->hist_cap ? e->hist_cap * 2 : 4;
        const struct outcome_sub **p = realloc(e->hist, cap * sizeof *p);
        if (!p)
            return -1;
        e->hist = p;
        e->hist_cap = cap;
    }
    e->hist[e->hist_n++] = outcome;
    return 0;
}

static void raise_max(_Atomic uint64_t *max, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(max, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v)) {
    }
}

enum contact_result contacts_mutate(struct contacts *c, const char *id, size_t len,
                                    const struct outcome_sub *outcome, int64_t now_ms,
                                    struct contact_view *out)
{
    if (len == 0 || len > CONTACT_ID_MAX)
        return CONTACT_NOT_FOUND;
    uint64_t h = hash_bytes(id, len);
    pthread_mutex_t *mu = stripe_of(c, h);
    pthread_mutex_lock(mu);
    struct contact *e = find(c, h, id, len);
    if (!e && c->any)
        e = insert(c, h, id, len, true);
    if (!e || (c->history && remember(e, outcome) != 0)) {
        pthread_mutex_unlock(mu);
        return c->any || e ? CONTACT_NOMEM : CONTACT_NOT_FOUND;
    }
    e->count++;
    e->outcome = outcome;
    e->updated_ms = now_ms;
    snapshot(e, out);
    pthread_mutex_unlock(mu);

    atomic_fetch_add_explicit(&c->total, 1, memory_order_relaxed);
    if (out->count == 1)
        atomic_fetch_add_explicit(&c->distinct, 1, memory_order_relaxed);
    raise_max(&c->max_per, out->count);
    return CONTACT_OK;
}

void contacts_reset(struct contacts *c)
{
    for (size_t s = 0; s < CONTACT_STRIPES; s++) {
        pthread_mutex_lock(&c->stripes[s]);
        for (size_t b = s; b <= c->mask; b += CONTACT_STRIPES) {
            struct contact **pp = &c->buckets[b];
            while (*pp) {
                struct contact *e = *pp;
                free(e->hist);
                e->hist = NULL;
                e->hist_n = e->hist_cap = 0;
                e->read = false;
                if (e->dynamic) {
                    *pp = e->next;
                    free(e);
                    continue;
                }
                e->count = 0;
                e->outcome = NULL;
                e->updated_ms = 0;
                pp = &e->next;
            }
        }
        pthread_mutex_unlock(&c->stripes[s]);
    }
    atomic_store(&c->total, 0);
    atomic_store(&c->distinct, 0);
    atomic_store(&c->max_per, 0);
}

void contacts_totals(struct contacts *c, struct contacts_totals *out)
{
    out->total_mutations = atomic_load(&c->total);
    out->distinct_mutated = atomic_load(&c->distinct);
    out->max_per_contact = atomic_load(&c->max_per);
}

json_t *contacts_mutations_json(struct contacts *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    for (size_t s = 0; s < CONTACT_STRIPES && !bad; s++) {
        pthread_mutex_lock(&c->stripes[s]);
        for (size_t b = s; b <= c->mask && !bad; b += CONTACT_STRIPES)
            for (struct contact *e = c->buckets[b]; e && !bad; e = e->next) {
                if (e->count == 0)
                    continue;
                json_t *v = json_pack("{s:I,s:s,s:s}", "count", (json_int_t)e->count, "category",
                                      e->outcome->cat->name, "subcategory", e->outcome->name);
                bad |= json_object_setn_new(o, e->id, e->id_len, v);
            }
        pthread_mutex_unlock(&c->stripes[s]);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* [{"category","subcategory"}, ...] of the outcomes applied to e. */
static json_t *history_of(const struct contact *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < e->hist_n; i++)
        if (json_array_append_new(a, outcome_value_json(e->hist[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

json_t *contacts_history_json(struct contacts *c)
{
    json_t *o = c->history ? json_object() : NULL;
    int bad = !o;
    for (size_t s = 0; s < CONTACT_STRIPES && !bad; s++) {
        pthread_mutex_lock(&c->stripes[s]);
        for (size_t b = s; b <= c->mask && !bad; b += CONTACT_STRIPES)
            for (struct contact *e = c->buckets[b]; e && !bad; e = e->next)
                if (e->read || e->count > 0)
                    bad |= json_object_setn_new(o, e->id, e->id_len, history_of(e));
        pthread_mutex_unlock(&c->stripes[s]);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

long contacts_count_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long n = 0;
    int ch, prev = '\n';
    while ((ch = getc(f)) != EOF) {
        if (ch == '\n' && prev != '\n')
            n++;
        prev = ch;
    }
    if (prev != '\n')
        n++;
    fclose(f);
    return n;
}

int contacts_add_file(struct contacts *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--contacts-file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        const char *why = NULL;
        if (len > CONTACT_ID_MAX)
            why = "id longer than 512 bytes";
        else if (has_control_chars(line, (size_t)len))
            why = "id contains control characters";
        else if (!utf8_valid(line, (size_t)len))
            why = "id is not valid UTF-8";
        if (why) {
            snprintf(err, errlen, "--contacts-file %s:%ld: %s", path, lineno, why);
            rc = -1;
            break;
        }
        if (contacts_add(c, line, (size_t)len) != 0) {
            snprintf(err, errlen, "--contacts-file %s:%ld: out of memory", path, lineno);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "--contacts-file %s: read error", path);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}
