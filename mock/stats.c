#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const ROUTE_NAMES[SR_COUNT] = {
    "PUT /api/v2/contacts", "GET /api/v2/contacts", "GET /api/v2/contact/outcomes", "POST /oauth2/token",
    "other",
};

static const char *const COUNTER_NAMES[SC_COUNT] = {
    "replays", "conflicts_409", "mismatch_422", "rate_limited", "injected_errors",
    "token_injected_errors", "dropped", "late", "tokens_issued",
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
    s->api.n = s->put.n = 0;
    s->api.truncated = s->put.truncated = false;
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

uint64_t stats_api_arrival(struct stats *s, bool is_put)
{
    pthread_mutex_lock(&s->times_mu);
    /* Read the clock under the lock so the logs are non-decreasing. */
    uint64_t now = mono_ns();
    uint32_t ms = (uint32_t)((now - s->start_ns) / 1000000u);
    log_time(&s->api, ms);
    if (is_put)
        log_time(&s->put, ms);
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

    /* Copy the logs under the lock and build JSON outside it: arrivals keep flowing. */
    struct time_log api = {0}, put = {0};
    pthread_mutex_lock(&s->times_mu);
    api.n = s->api.n;
    put.n = s->put.n;
    api.truncated = s->api.truncated;
    put.truncated = s->put.truncated;
    api.ms = malloc((api.n + 1) * sizeof *api.ms);
    put.ms = malloc((put.n + 1) * sizeof *put.ms);
    if (api.ms && put.ms) {
        if (api.n)
            memcpy(api.ms, s->api.ms, api.n * sizeof *api.ms);
        if (put.n)
            memcpy(put.ms, s->put.ms, put.n * sizeof *put.ms);
    }
    pthread_mutex_unlock(&s->times_mu);
    if (!api.ms || !put.ms) {
        free(api.ms);
        free(put.ms);
        return -1;
    }
    bad |= json_object_set_new(obj, "max_api_requests_in_1s", json_integer((json_int_t)max_in_window(&api)));
    bad |= json_object_set_new(obj, "api_requests_logged", json_integer((json_int_t)api.n));
    if (with_times) {
        bad |= json_object_set_new(obj, "api_request_ms", times_json(&api));
        bad |= json_object_set_new(obj, "put_request_ms", times_json(&put));
        bad |= json_object_set_new(obj, "api_request_ms_truncated", json_boolean(api.truncated));
        bad |= json_object_set_new(obj, "put_request_ms_truncated", json_boolean(put.truncated));
    }
    free(api.ms);
    free(put.ms);
    return bad ? -1 : 0;
}
