#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const ROUTE_NAMES[SR_COUNT] = {
    "PUT /api/v2/contacts", "GET /api/v2/contacts", "GET /api/v2/contact/outcomes", "POST /oauth2/token",
    "POST /incontactapi/contacts/set-disposition", "GET /incontactapi/contacts/disposition",
    "GET /incontactapi/skills/dispositions", "POST /auth/token", "GET /.well-known/openid-configuration",
    "GET /.well-known/cxone-configuration", "other",
};

static const char *const COUNTER_NAMES[SC_COUNT] = {
    "replays", "conflicts_409", "mismatch_422", "rate_limited", "injected_errors",
    "token_injected_errors", "dropped", "late", "tokens_issued",
    "errors_after_mutate",
};

void stats_init(struct stats *s, uint64_t start_ns)
{
    memset(s, 0, sizeof *s);
    s->start_ns = start_ns;
    pthread_mutex_init(&s->times_mu, NULL);
}

void stats_destroy(struct stats *s)
{
    free(s->api.ms);
    free(s->put.ms);
    free(s->set_disposition.ms);
    pthread_mutex_destroy(&s->times_mu);
}

void stats_reset(struct stats *s)
{
    atomic_store(&s->total, 0);
    for (size_t i = 0; i < 600; i++)
        atomic_store(&s->by_status[i], 0);
    for (size_t i = 0; i < SR_COUNT; i++)
        atomic_store(&s->by_route[i], 0);
    for (size_t i = 0; i < SC_COUNT; i++)
        atomic_store(&s->counters[i], 0);
    atomic_store(&s->peak, atomic_load(&s->in_flight));
    pthread_mutex_lock(&s->times_mu);
    s->api.n = s->put.n = s->set_disposition.n = 0;
    s->api.truncated = s->put.truncated = s->set_disposition.truncated = false;
    pthread_mutex_unlock(&s->times_mu);
}

void stats_count_request(struct stats *s, enum stat_route r)
{
    atomic_fetch_add_explicit(&s->total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->by_route[r], 1, memory_order_relaxed);
}

void stats_count_status(struct stats *s, unsigned status)
{
    if (status < 600)
        atomic_fetch_add_explicit(&s->by_status[status], 1, memory_order_relaxed);
}

void stats_bump(struct stats *s, enum stat_counter c)
{
    atomic_fetch_add_explicit(&s->counters[c], 1, memory_order_relaxed);
}

/* Called with times_mu held. Grows geometrically up to STATS_MAX_TIMES entries. */
static void log_time(struct time_log *l, uint32_t ms)
{
    if (l->n == l->cap) {
        if (l->cap >= STATS_MAX_TIMES) {
            l->truncated = true;
            return;
        }
        size_t ncap = l->cap ? l->cap * 2 : 4096;
        if (ncap > STATS_MAX_TIMES)
            ncap = STATS_MAX_TIMES;
        uint32_t *p = realloc(l->ms, ncap * sizeof *p);
        if (!p) {
            l->truncated = true;
            return;
        }
        l->ms = p;
        l->cap = ncap;
    }
    l->ms[l->n++] = ms;
}

uint64_t stats_api_arrival(struct stats *s, enum arrival_log which)
{
    pthread_mutex_lock(&s->times_mu);
    /* Read the clock under the lock so the logs are non-decreasing. */
    uint64_t now = mono_ns();
    uint32_t ms = (uint32_t)((now - s->start_ns) / 1000000u);
    log_time(&s->api, ms);
    if (which == ARRIVAL_PUT)
        log_time(&s->put, ms);
    else if (which == ARRIVAL_SET_DISPOSITION)
        log_time(&s->set_disposition, ms);
    pthread_mutex_unlock(&s->times_mu);
    return now;
}

void stats_enter(struct stats *s)
{
    int64_t now = atomic_fetch_add(&s->in_flight, 1) + 1;
    int64_t peak = atomic_load(&s->peak);
    while (now > peak && !atomic_compare_exchange_weak(&s->peak, &peak, now)) {
    }
}

void stats_leave(struct stats *s)
{
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Largest number of entries of a sorted log within any 1000 ms window [t, t+999]. */
static uint64_t max_in_window(const struct time_log *l)
{
    uint64_t best = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < l->n; hi++) {
        while (l->ms[hi] - l->ms[lo] >= 1000)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

static json_t *times_json(const struct time_log *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, json_integer(l->ms[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The arrival logs (and the 1 s window maximum) into obj. Copies them under the lock and
 * builds JSON outside it: arrivals keep flowing. 0 or -1. */
static int logs_to_json(struct stats *s, json_t *obj, bool with_times)
{
    int bad = 0;
    enum { L_API, L_PUT, L_SETDISP, L_COUNT };
    static const char *const names[L_COUNT] = {"api_request_ms", "put_request_ms", "set_disposition_request_ms"};
    const struct time_log *live[L_COUNT] = {&s->api, &s->put, &s->set_disposition};
    struct time_log copy[L_COUNT];
    memset(copy, 0, sizeof copy);
    bool nomem = false;
    pthread_mutex_lock(&s->times_mu);
    for (int i = 0; i < L_COUNT; i++) {
        copy[i].n = live[i]->n;
        copy[i].truncated = live[i]->truncated;
        copy[i].ms = malloc((copy[i].n + 1) * sizeof *copy[i].ms);
        if (!copy[i].ms)
            nomem = true;
        else if (copy[i].n)
            memcpy(copy[i].ms, live[i]->ms, copy[i].n * sizeof *copy[i].ms);
    }
    pthread_mutex_unlock(&s->times_mu);
    if (!nomem) {
        bad |= json_object_set_new(obj, "max_api_requests_in_1s",
                                   json_integer((json_int_t)max_in_window(&copy[L_API])));
        bad |= json_object_set_new(obj, "api_requests_logged", json_integer((json_int_t)copy[L_API].n));
    }
    for (int i = 0; !nomem && with_times && i < L_COUNT; i++) {
        char key[64];
        bad |= json_object_set_new(obj, names[i], times_json(&copy[i]));
        snprintf(key, sizeof key, "%s_truncated", names[i]);
        bad |= json_object_set_new(obj, key, json_boolean(copy[i].truncated));
    }
    for (int i = 0; i < L_COUNT; i++)
        free(copy[i].ms);
    return bad || nomem ? -1 : 0;
}

int stats_to_json(struct stats *s, json_t *obj, bool with_times)
{
    int bad = 0;
    json_t *by_status = json_object();
    for (unsigned st = 0; by_status && st < 600; st++) {
        uint64_t n = atomic_load(&s->by_status[st]);
        if (n) {
            char key[8];
            snprintf(key, sizeof key, "%u", st);
            bad |= json_object_set_new(by_status, key, json_integer((json_int_t)n));
        }
    }
    json_t *by_route = json_object();
    for (size_t r = 0; by_route && r < SR_COUNT; r++)
        bad |= json_object_set_new(by_route, ROUTE_NAMES[r],
                                   json_integer((json_int_t)atomic_load(&s->by_route[r])));
    bad |= json_object_set_new(obj, "requests",
                               json_pack("{s:I,s:o,s:o}", "total", (json_int_t)atomic_load(&s->total),
                                         "by_status", by_status, "by_route", by_route));
    for (size_t c = 0; c < SC_COUNT; c++)
        bad |= json_object_set_new(obj, COUNTER_NAMES[c],
                                   json_integer((json_int_t)atomic_load(&s->counters[c])));
    bad |= json_object_set_new(obj, "peak_concurrency", json_integer((json_int_t)atomic_load(&s->peak)));
    bad |= json_object_set_new(obj, "in_flight", json_integer((json_int_t)atomic_load(&s->in_flight)));

    bad |= logs_to_json(s, obj, with_times);
    return bad ? -1 : 0;
}
