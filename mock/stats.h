/* Request accounting for GET /_mock/stats: lock-free counters plus the arrival instants of
 * every request a client of the tenant makes (API, token, discovery), appended under one
 * small mutex so each log stays in arrival order. */
#ifndef CXONE_MOCK_STATS_H
#define CXONE_MOCK_STATS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAX_TIMES 1000000

enum stat_route {
    SR_PUT_CONTACT,
    SR_GET_CONTACT,
    SR_GET_OUTCOMES,
    SR_POST_TOKEN,
    SR_SET_DISPOSITION,
    SR_GET_DISPOSITION,
    SR_GET_SKILL_DISPOSITIONS,
    SR_POST_AUTH_TOKEN,
    SR_GET_OIDC_CONFIG,
    SR_GET_CXONE_CONFIG,
    SR_OTHER,
    SR_COUNT
};

enum stat_counter {
    SC_REPLAYS,
    SC_CONFLICTS_409,
    SC_MISMATCH_422,
    SC_RATE_LIMITED,
    SC_INJECTED_ERRORS,
    SC_TOKEN_INJECTED_ERRORS,
    SC_DROPPED,
    SC_LATE,
    SC_TOKENS_ISSUED,
    SC_ERRORS_AFTER_MUTATE,
    SC_DISCOVERY_INJECTED_ERRORS,
    SC_COUNT
};

/* Arrival instants in microseconds since start (CLOCK_MONOTONIC), non-decreasing. */
struct time_log {
    uint64_t *us;
    size_t n, cap;
    bool truncated;
};

/* Which logs an arrival goes to: every API request to the API log, PUTs and set-dispositions
 * to theirs as well; token and discovery requests to their own. */
enum arrival_log {
    ARRIVAL_API,
    ARRIVAL_PUT,
    ARRIVAL_SET_DISPOSITION,
    ARRIVAL_TOKEN,
    ARRIVAL_DISCOVERY,
    ARRIVAL_NONE
};
enum { LOG_API, LOG_PUT, LOG_SET_DISPOSITION, LOG_TOKEN, LOG_DISCOVERY, LOG_COUNT };

struct stats {
    uint64_t start_ns;
    _Atomic uint64_t total;
    _Atomic uint64_t by_status[600];
    _Atomic uint64_t by_route[SR_COUNT];
    _Atomic uint64_t counters[SC_COUNT];
    _Atomic int64_t in_flight, peak;
    pthread_mutex_t times_mu;
    struct time_log logs[LOG_COUNT];
};

void stats_init(struct stats *s, uint64_t start_ns);
void stats_destroy(struct stats *s);
/* Clears everything but the in-flight gauge (peak restarts from the current level). */
void stats_reset(struct stats *s);

void stats_count_request(struct stats *s, enum stat_route r);
void stats_count_status(struct stats *s, unsigned status);
void stats_bump(struct stats *s, enum stat_counter c);
/* Logs an arrival now (not ARRIVAL_NONE); returns the CLOCK_MONOTONIC time it logged, in ns. */
uint64_t stats_arrival(struct stats *s, enum arrival_log log);
void stats_enter(struct stats *s); /* an /api/ request started */
void stats_leave(struct stats *s); /* ... and finished */

/* Adds the counters (and, if with_times, the arrival arrays) to obj; window_ms > 0 adds the
 * most API and token requests within any window of that many milliseconds. 0 or -1. */
int stats_to_json(struct stats *s, json_t *obj, bool with_times, uint64_t window_ms);

#endif
