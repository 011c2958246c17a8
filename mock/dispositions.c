#include "dispositions.h"

#include <pthread.h>
#include <stdlib.h>

#include "util.h"

struct disposition_store {
    pthread_mutex_t mu;
    json_t *by_contact; /* id -> {"count", "skill", "dispositionId", ..., "lastUpdated"} */
    json_t *history;    /* id -> [value, ...] applied; NULL without history */
    uint64_t total, distinct, max_per;
};

struct disposition_store *dispositions_new(bool history)
{
    struct disposition_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->by_contact = json_object();
    s->history = history ? json_object() : NULL;
    if (!s->by_contact || (history && !s->history)) {
        json_decref(s->by_contact);
        json_decref(s->history);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void dispositions_free(struct disposition_store *s)
{
    if (!s)
        return;
    json_decref(s->by_contact);
    json_decref(s->history);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The stored record of one call (count filled in by the caller). */
static json_t *record(const struct disposition_set *d, int64_t now_ms)
{
    char date[32];
    format_iso8601_ms(now_ms, date);
    json_t *o = json_pack("{s:I,s:I,s:s,s:s}", "skill", (json_int_t)d->def->skill->id, "dispositionId",
                          (json_int_t)d->def->id, "dispositionName", d->def->name, "lastUpdated", date);
    const char *names[] = {"notes", "callbackNumber", "callbackTime", "commitmentAmount"};
    const char *vals[] = {d->notes, d->callback_number, d->callback_time, d->commitment_amount};
    for (size_t i = 0; o && i < 4; i++)
        if (vals[i] && json_object_set_new(o, names[i], json_string(vals[i])) != 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

/* The history array of contact id, created empty when missing (called with mu held). */
static json_t *history_slot(struct disposition_store *s, const char *id, size_t len)
{
    json_t *a = json_object_getn(s->history, id, len);
    if (!a && (a = json_array()) && json_object_setn_new(s->history, id, len, a) != 0)
        a = NULL;
    return a;
}

/* Stores rec (consumed) as the contact's disposition, counts it; with history, appends value
 * (consumed) to the contact's history first, so a failure applies nothing. mu held. */
static int store(struct disposition_store *s, const char *id, size_t len, json_t *rec, json_t *value)
{
    const json_t *old = json_object_getn(s->by_contact, id, len);
    uint64_t count = (uint64_t)json_integer_value(json_object_get(old, "count")) + 1;
    json_t *hist = s->history ? history_slot(s, id, len) : NULL;
    int rc = s->history && (!hist || !value || json_array_append(hist, value) != 0) ? -1 : 0;
    if (rc == 0)
        rc = json_object_set_new(rec, "count", json_integer((json_int_t)count));
    if (rc == 0 && json_object_setn(s->by_contact, id, len, rec) != 0) {
        rc = -1;
        json_array_remove(hist, json_array_size(hist) - 1);
    }
    json_decref(rec);
    json_decref(value);
    if (rc == 0) {
        s->total++;
        if (count == 1)
            s->distinct++;
        if (count > s->max_per)
            s->max_per = count;
    }
    return rc;
}

int dispositions_apply(struct disposition_store *s, const char *id, size_t len, const struct disposition_set *d,
                       int64_t now_ms)
{
    json_t *rec = record(d, now_ms);
    if (!rec)
        return -1;
    json_t *value = s->history ? disposition_value_json(d->def, d->notes) : NULL;
    pthread_mutex_lock(&s->mu);
    int rc = store(s, id, len, rec, value);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int dispositions_touch(struct disposition_store *s, const char *id, size_t len)
{
    if (!s->history)
        return 0;
    pthread_mutex_lock(&s->mu);
    json_t *a = history_slot(s, id, len);
    pthread_mutex_unlock(&s->mu);
    return a ? 0 : -1;
}

json_t *dispositions_history_json(struct disposition_store *s)
{
    if (!s->history)
        return NULL;
    pthread_mutex_lock(&s->mu);
    json_t *copy = json_deep_copy(s->history);
    pthread_mutex_unlock(&s->mu);
    return copy;
}

json_t *dispositions_get(struct disposition_store *s, const char *id, size_t len, int *nomem)
{
    static const char *const shown[] = {"dispositionId", "dispositionName", "notes", "lastUpdated"};
    *nomem = 0;
    pthread_mutex_lock(&s->mu);
    const json_t *rec = json_object_getn(s->by_contact, id, len);
    json_t *out = rec ? json_object() : NULL;
    for (size_t i = 0; out && i < sizeof shown / sizeof shown[0]; i++) {
        json_t *v = json_object_get(rec, shown[i]);
        if (v && json_object_set(out, shown[i], v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rec && !out)
        *nomem = 1;
    return out;
}

void dispositions_reset(struct disposition_store *s)
{
    pthread_mutex_lock(&s->mu);
    json_object_clear(s->by_contact);
    json_object_clear(s->history);
    s->total = s->distinct = s->max_per = 0;
    pthread_mutex_unlock(&s->mu);
}

int dispositions_stats_json(struct disposition_store *s, json_t *obj, int with_map)
{
    pthread_mutex_lock(&s->mu);
    json_t *map = with_map ? json_deep_copy(s->by_contact) : NULL;
    uint64_t total = s->total, distinct = s->distinct, max_per = s->max_per;
    pthread_mutex_unlock(&s->mu);
    int bad = 0;
    if (with_map)
        bad |= json_object_set_new(obj, "set_dispositions", map);
    bad |= json_object_set_new(obj, "total_set_dispositions", json_integer((json_int_t)total));
    bad |= json_object_set_new(obj, "distinct_dispositioned", json_integer((json_int_t)distinct));
    bad |= json_object_set_new(obj, "max_set_dispositions_per_contact", json_integer((json_int_t)max_per));
    return bad ? -1 : 0;
}
