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
    "errors_after_mutate", "discovery_injected_errors",
};

static const char *const LOG_NAMES[LOG_COUNT] = {
    "api_request_ms", "put_request_ms", "set_disposition_request_ms", "token_request_ms", "discovery_request_ms",
};

void stats_init(struct stats *s, uint64_t start_ns)
{
    memset(s, 0, sizeof *s);
    s->start_ns = start_ns;
    pthread_mutex_init(&s->times_mu, NULL);
}

void stats_destroy(struct stats *s)
{
    for (int i = 0; i < LOG_COUNT; i++)
        free(s->logs[i].us);
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
    for (int i = 0; i < LOG_COUNT; i++) {
        s->logs[i].n = 0;
        s->logs[i].truncated = false;
    }
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
static void log_time(struct time_log *l, uint64_t us)
{
    if (l->n == l->cap) {
        if (l->cap >= STATS_MAX_TIMES) {
            l->truncated = true;
            return;
        }
        size_t ncap = l->cap ? l->cap * 2 : 4096;
        if (ncap > STATS_MAX_TIMES)
            ncap = STATS_MAX_TIMES;
        uint64_t *p = realloc(l->us, ncap * sizeof *p);
        if (!p) {
            l->truncated = true;
            return;
        }
        l->us = p;
        l->cap = ncap;
    }
    l->us[l->n++] = us;
}

uint64_t stats_arrival(struct stats *s, enum arrival_log which)
{
    pthread_mutex_lock(&s->times_mu);
    /* Read the clock under the lock so the logs are non-decreasing. */
    uint64_t now = mono_ns();
    uint64_t us = (now - s->start_ns) / 1000u;
    switch (which) {
    case ARRIVAL_PUT:
        log_time(&s->logs[LOG_PUT], us);
        log_time(&s->logs[LOG_API], us);
        break;
    case ARRIVAL_SET_DISPOSITION:
        log_time(&s->logs[LOG_SET_DISPOSITION], us);
        log_time(&s->logs[LOG_API], us);
        break;
    case ARRIVAL_API:
        log_time(&s->logs[LOG_API], us);
        break;
    case ARRIVAL_TOKEN:
        log_time(&s->logs[LOG_TOKEN], us);
        break;
    case ARRIVAL_DISCOVERY:
        log_time(&s->logs[LOG_DISCOVERY], us);
        break;
    case ARRIVAL_NONE:
        break;
    }
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

/* Most entries of a sorted log whose instants all lie within window_us of each other (span
 * strictly below it): the busiest half-open window [t, t + window) of the run. */
static uint64_t max_in_window(const struct time_log *l, uint64_t window_us)
{
    uint64_t best = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < l->n; hi++) {
        while (l->us[hi] - l->us[lo] >= window_us)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

/* The log as integer milliseconds since start. */
static json_t *times_json(const struct time_log *l)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, json_integer((json_int_t)(l->us[i] / 1000u))) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Copies the logs under the lock (JSON is built outside it: arrivals keep flowing). false
 * when out of memory (then nothing is held). */
static bool copy_logs(struct stats *s, struct time_log copy[LOG_COUNT])
{
    bool ok = true;
    memset(copy, 0, LOG_COUNT * sizeof copy[0]);
    pthread_mutex_lock(&s->times_mu);
    for (int i = 0; ok && i < LOG_COUNT; i++) {
        copy[i].n = s->logs[i].n;
        copy[i].truncated = s->logs[i].truncated;
        copy[i].us = malloc((copy[i].n + 1) * sizeof *copy[i].us);
        if (!copy[i].us)
            ok = false;
        else if (copy[i].n)
            memcpy(copy[i].us, s->logs[i].us, copy[i].n * sizeof *copy[i].us);
    }
    pthread_mutex_unlock(&s->times_mu);
    for (int i = 0; !ok && i < LOG_COUNT; i++)
        free(copy[i].us);
    return ok;
}

static int set_int(json_t *obj, const char *key, uint64_t v)
{
    return json_object_set_new(obj, key, json_integer((json_int_t)v));
}

/* The arrival logs (and the window maxima) into obj. 0 or -1. */
static int logs_to_json(struct stats *s, json_t *obj, bool with_times, uint64_t window_ms)
{
    struct time_log copy[LOG_COUNT];
    if (!copy_logs(s, copy))
        return -1;
    int bad = set_int(obj, "max_api_requests_in_1s", max_in_window(&copy[LOG_API], 1000000u));
    bad |= set_int(obj, "api_requests_logged", copy[LOG_API].n);
    bad |= set_int(obj, "token_requests_logged", copy[LOG_TOKEN].n);
    if (window_ms > 0) {
        bad |= set_int(obj, "window_ms", window_ms);
        bad |= set_int(obj, "max_api_requests_in_window", max_in_window(&copy[LOG_API], window_ms * 1000u));
        bad |= set_int(obj, "max_token_requests_in_window", max_in_window(&copy[LOG_TOKEN], window_ms * 1000u));
    }
    for (int i = 0; with_times && i < LOG_COUNT; i++) {
        char key[64];
        bad |= json_object_set_new(obj, LOG_NAMES[i], times_json(&copy[i]));
        snprintf(key, sizeof key, "%s_truncated", LOG_NAMES[i]);
        bad |= json_object_set_new(obj, key, json_boolean(copy[i].truncated));
    }
    for (int i = 0; i < LOG_COUNT; i++)
        free(copy[i].us);
    return bad ? -1 : 0;
}

int stats_to_json(struct stats *s, json_t *obj, bool with_times, uint64_t window_ms)
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

    bad |= logs_to_json(s, obj, with_times, window_ms);
    return bad ? -1 : 0;
}
