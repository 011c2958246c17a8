/* /_mock/ endpoints: live configuration, statistics and reset. No auth, no rate limit:
 * they exist for tests and operators and are not part of the simulated API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

int mock_apply_config(struct mock *m, const json_t *obj, char *err, size_t errlen)
{
    bool revoke = false;
    pthread_rwlock_wrlock(&m->cfg_lock);
    int rc = config_apply_json(&m->cfg, obj, &revoke, err, errlen);
    if (rc == 0) {
        if (json_object_get(obj, "once_429_retry_after"))
            atomic_store(&m->once_429, (long)m->cfg.once_429_retry_after);
        ratelimit_configure(&m->limiter, m->cfg.rate, m->cfg.burst, mock_now());
    }
    pthread_rwlock_unlock(&m->cfg_lock);
    if (rc == 0 && revoke)
        tokens_revoke_all(m->tokens);
    return rc;
}

json_t *mock_config_json(struct mock *m)
{
    pthread_rwlock_rdlock(&m->cfg_lock);
    /* once_429_retry_after lives in an atomic (requests consume it); show its live value. */
    struct mock_config view = m->cfg;
    view.once_429_retry_after = (double)atomic_load(&m->once_429);
    json_t *o = config_to_json(&view);
    pthread_rwlock_unlock(&m->cfg_lock);
    return o;
}

void admin_config(struct mock *m, struct req *r)
{
    if (r->method == M_POST) {
        json_error_t jerr;
        json_t *obj = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            reply_error(&r->reply, 400, "invalid_json", "malformed JSON body: %s", jerr.text);
            return;
        }
        char err[256];
        int rc = mock_apply_config(m, obj, err, sizeof err);
        json_decref(obj);
        if (rc != 0) {
            reply_error(&r->reply, 400, "invalid_config", "%s", err);
            return;
        }
    }
    reply_json(&r->reply, 200, mock_config_json(m));
}

/* ?window_ms=W: a whole number of milliseconds, 1 to 86400000 (one day). false with a 400
 * naming the parameter when it is malformed; *out stays 0 when it is absent. */
static bool window_param(struct req *r, struct MHD_Connection *c, uint64_t *out)
{
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "window_ms");
    *out = 0;
    if (!q)
        return true;
    char *end = NULL;
    errno = 0;
    unsigned long long v = *q >= '0' && *q <= '9' ? strtoull(q, &end, 10) : 0;
    if (!end || *end || errno || v < 1 || v > 86400000ULL) {
        reply_error(&r->reply, 400, "invalid_request",
                    "window_ms must be a whole number of milliseconds from 1 to 86400000, got \"%.32s\"", q);
        return false;
    }
    *out = v;
    return true;
}

/* ?history=1 asks for the per-contact histories, which exist only with --history. false with
 * a 400 prepared when they cannot be given. */
static bool history_param(struct mock *m, struct req *r, struct MHD_Connection *c, bool *want)
{
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "history");
    *want = q && strcmp(q, "0") != 0;
    if (q && strcmp(q, "0") != 0 && strcmp(q, "1") != 0) {
        reply_error(&r->reply, 400, "invalid_request", "history must be 0 or 1, got \"%.32s\"", q);
        return false;
    }
    if (*want && !m->history) {
        reply_error(&r->reply, 400, "history_off",
                    "per-contact history is not kept: start cxone-mock with --history to ask for it");
        return false;
    }
    return true;
}

void admin_stats(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mutations");
    bool full = !(q && strcmp(q, "0") == 0);
    uint64_t window_ms;
    bool history;
    if (!window_param(r, c, &window_ms) || !history_param(m, r, c, &history))
        return;
    json_t *o = json_object();
    if (!o) {
        reply_json(&r->reply, 500, NULL);
        return;
    }
    struct contacts_totals t;
    contacts_totals(m->contacts, &t);
    int bad = 0;
    if (full)
        bad |= json_object_set_new(o, "mutations", contacts_mutations_json(m->contacts));
    bad |= json_object_set_new(o, "total_mutations", json_integer((json_int_t)t.total_mutations));
    bad |= json_object_set_new(o, "distinct_mutated", json_integer((json_int_t)t.distinct_mutated));
    bad |= json_object_set_new(o, "max_mutations_per_contact", json_integer((json_int_t)t.max_per_contact));
    bad |= dispositions_stats_json(m->dispositions, o, full);
    bad |= stats_to_json(&m->stats, o, full, window_ms);
    if (history)
        bad |= history_to_json(m, o);
    bad |= json_object_set_new(o, "idempotency_records", json_integer((json_int_t)idem_count(m->idem)));
    bad |= json_object_set_new(o, "uptime_ms", json_integer((json_int_t)((mono_ns() - m->start_ns) / 1000000u)));
    if (bad) {
        json_decref(o);
        o = NULL;
    }
    reply_json(&r->reply, 200, o);
}

void admin_reset(struct mock *m, struct req *r)
{
    contacts_reset(m->contacts);
    dispositions_reset(m->dispositions);
    stats_reset(&m->stats);
    idem_clear(m->idem);
    atomic_store(&m->once_429, 0);
    ratelimit_refill(&m->limiter, mock_now());
    reply_json(&r->reply, 200, json_pack("{s:b}", "reset", 1));
}
