#include "engine/ledger.h"
#include "common/clock.h"
#include "common/text_fit.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The gauges and counts every task moves (taken, queued, running, its slot's wait) are atomics:
 * with the lock they cost a lock round trip each, five a task between the owner and the workers,
 * contended at tens of thousands of tasks a second. metrics() and snapshot() read them. */
typedef struct ledger_gauges {
    atomic_long total;            /* tasks taken */
    atomic_long queued, in_flight;
    atomic_long limiter_waits;
    atomic_uint_fast64_t limiter_wait_ns;
} ledger_gauges;

struct cxb_ledger {
    ledger_gauges g;
    pthread_mutex_t mu;       /* guards everything below */
    cxb_event events[CXB_EVENTS_CAP];
    size_t ev_head, ev_len;
    cxb_kind fatal;           /* NONE while the batch is not fatal */
    char fatal_msg[512];
    char cancel_reason[160];
    int unreachable;          /* consecutive attempts with no HTTP answer */
    int max_unreachable;
    cxb_counters c;
    cxb_metrics m;
    void (*cancel)(void *);
    void *cancel_arg;
};

cxb_ledger *cxb_ledger_new(int max_unreachable, void (*cancel)(void *), void *arg)
{
    cxb_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    atomic_init(&l->g.total, 0);
    atomic_init(&l->g.queued, 0);
    atomic_init(&l->g.in_flight, 0);
    atomic_init(&l->g.limiter_waits, 0);
    atomic_init(&l->g.limiter_wait_ns, 0);
    l->max_unreachable = max_unreachable;
    l->m.started = cxb_now_wall();
    l->cancel = cancel;
    l->cancel_arg = arg;
    return l;
}

void cxb_ledger_free(cxb_ledger *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* The next event's place (the oldest is dropped when the owner is not draining); lock held. */
static cxb_event *ledger_next_event(cxb_ledger *l)
{
    if (l->ev_len == CXB_EVENTS_CAP) {
        l->ev_head = (l->ev_head + 1) % CXB_EVENTS_CAP;
        l->ev_len--;
        l->c.events_dropped++;
    }
    cxb_event *e = &l->events[(l->ev_head + l->ev_len) % CXB_EVENTS_CAP];
    memset(e, 0, sizeof *e);
    return e;
}

void cxb_ledger_rate_event(cxb_ledger *l, double rate, double prev, int reason, const char *msg)
{
    pthread_mutex_lock(&l->mu);
    cxb_event *e = ledger_next_event(l);
    e->type = CXB_EV_RATE;
    e->at = cxb_now_wall();
    e->rate = rate;
    e->rate_prev = prev;
    e->reason = reason;
    cxb_text_fit(e->error, sizeof e->error, snprintf(e->error, sizeof e->error, "%s", msg));
    l->ev_len++;
    pthread_mutex_unlock(&l->mu);
}

void cxb_ledger_event(cxb_ledger *l, cxb_event_type type, const cxb_task *t, int attempt, long status,
                      double delay, const char *error)
{
    pthread_mutex_lock(&l->mu);
    cxb_event *e = ledger_next_event(l);
    e->type = type;
    e->at = cxb_now_wall();
    e->index = t ? t->index : 0;
    e->attempt = attempt;
    e->status = status;
    e->delay = delay;
    if (t)
        snprintf(e->contact_id, sizeof e->contact_id, "%s", t->contact_id);
    if (error)
        cxb_text_fit(e->error, sizeof e->error, snprintf(e->error, sizeof e->error, "%s", error));
    l->ev_len++;
    switch (type) {
    case CXB_EV_RETRY: l->c.retried++; break;
    case CXB_EV_PAUSE: l->c.pauses++; l->c.pause_seconds += delay; break;
    case CXB_EV_TOKEN: l->c.token_refreshes++; break;
    case CXB_EV_REAUTH: l->c.reauths++; break;
    case CXB_EV_LIMITER: case CXB_EV_RATE: break;
    }
    pthread_mutex_unlock(&l->mu);
}

const char *cxb_method_name(cxb_method m)
{
    static const char *const names[CXB_METHODS] = {"GET", "PUT", "POST", "other"};
    return m >= 0 && m < CXB_METHODS ? names[m] : names[CXB_METHOD_OTHER];
}

const char *cxb_outcome_name(cxb_outcome o)
{
    static const char *const names[CXB_OUTCOMES] = {"succeeded", "failed", "invalid", "cancelled", "skipped"};
    return o >= 0 && o < CXB_OUTCOMES ? names[o] : names[CXB_OUTCOME_FAILED];
}

static cxb_method ledger_method(const char *m)
{
    if (!m)
        return CXB_METHOD_OTHER;
    if (strcmp(m, "GET") == 0)
        return CXB_METHOD_GET;
    if (strcmp(m, "PUT") == 0)
        return CXB_METHOD_PUT;
    if (strcmp(m, "POST") == 0)
        return CXB_METHOD_POST;
    return CXB_METHOD_OTHER;
}

/* The histogram bucket of a latency: the first whose upper bound holds it, else +Inf. */
static int ledger_latency_bucket(double seconds)
{
    static const double bounds[] = {CXB_LATENCY_BOUNDS};
    int n = (int)(sizeof bounds / sizeof bounds[0]);
    for (int i = 0; i < n; i++)
        if (seconds <= bounds[i])
            return i;
    return n;
}

void cxb_ledger_count_response(cxb_ledger *l, cxb_task *t, const char *method, long status,
                               int transport_error, double sent_mono)
{
    double latency = cxb_now_mono() - sent_mono;
    if (latency < 0)
        latency = 0;
    int answered = status > 0 && status < 600;
    int bucket = ledger_latency_bucket(latency);
    pthread_mutex_lock(&l->mu);
    l->c.requests++;
    if (status > 0)
        l->unreachable = 0; /* the API answered (what cxb_ledger_note_reach(l, 1, ...) does) */
    if (transport_error)
        l->c.transport_errors++;
    if (answered)
        l->c.by_status[status]++;
    if (status == 429)
        l->c.http_429++;
    if (status >= 500 && status < 600)
        l->c.http_5xx++;
    l->m.requests[ledger_method(method)][answered ? status : 0]++;
    if (answered || transport_error) { /* an aborted transfer says nothing of the server */
        l->m.latency[bucket]++;
        l->m.latency_sum += latency;
        l->m.latency_count++;
    }
    pthread_mutex_unlock(&l->mu);
    if (t)
        cxb_task_note_request(t, sent_mono, latency, answered ? status : 0);
}

void cxb_ledger_limiter_wait(cxb_ledger *l, double seconds)
{
    uint_fast64_t ns = seconds > 0 ? (uint_fast64_t)(seconds * 1e9 + 0.5) : 0;
    atomic_fetch_add_explicit(&l->g.limiter_wait_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->g.limiter_waits, 1, memory_order_relaxed);
}

/* Decrements a gauge that never goes below zero. */
static void gauge_down(atomic_long *g)
{
    long v = atomic_load_explicit(g, memory_order_relaxed);
    while (v > 0 && !atomic_compare_exchange_weak_explicit(g, &v, v - 1, memory_order_relaxed,
                                                           memory_order_relaxed))
        ;
}

void cxb_ledger_count_queued(cxb_ledger *l, int delta)
{
    atomic_fetch_add_explicit(&l->g.queued, delta, memory_order_relaxed); /* -1 undoes a +1 just made */
}

void cxb_ledger_task_running(cxb_ledger *l, int running)
{
    if (running) {
        gauge_down(&l->g.queued);
        atomic_fetch_add_explicit(&l->g.in_flight, 1, memory_order_relaxed);
    } else {
        gauge_down(&l->g.in_flight);
    }
}

void cxb_ledger_set_fatal(cxb_ledger *l, cxb_kind kind, const char *msg)
{
    pthread_mutex_lock(&l->mu);
    if (!l->fatal) {
        l->fatal = kind ? kind : CXB_KIND_INTERNAL;
        cxb_text_fit(l->fatal_msg, sizeof l->fatal_msg, snprintf(l->fatal_msg, sizeof l->fatal_msg, "%s", msg));
    }
    pthread_mutex_unlock(&l->mu);
    if (l->cancel)
        l->cancel(l->cancel_arg);
}

/* Fail fast when the API cannot be reached: past max_unreachable consecutive attempts that got
 * no answer (DNS, refused, TLS, connect timeout, token or discovery endpoint down) the whole
 * batch fails at once instead of every row failing on its own after its retries. */
void cxb_ledger_note_reach(cxb_ledger *l, int answered, cxb_kind kind, const char *last)
{
    pthread_mutex_lock(&l->mu);
    int max = l->max_unreachable;
    int n = l->unreachable = answered ? 0 : l->unreachable + 1;
    pthread_mutex_unlock(&l->mu);
    if (answered || max <= 0 || n < max)
        return;
    char msg[512];
    int w = snprintf(msg, sizeof msg, "could not reach the API%s: %d consecutive attempts got no answer "
                     "(option 'max_unreachable' = %d); last: %s", kind == CXB_KIND_TLS ? " (TLS failure)" : "",
                     n, max, last ? last : "");
    cxb_text_fit(msg, sizeof msg, w);
    cxb_ledger_set_fatal(l, kind == CXB_KIND_TLS ? CXB_KIND_TLS : CXB_KIND_NETWORK, msg);
}

void cxb_ledger_cancel_reason(cxb_ledger *l, const char *reason)
{
    pthread_mutex_lock(&l->mu);
    if (!l->cancel_reason[0] && reason)
        snprintf(l->cancel_reason, sizeof l->cancel_reason, "%s", reason);
    pthread_mutex_unlock(&l->mu);
}

void cxb_ledger_task_cancelled(cxb_ledger *l, cxb_task *t, int in_flight)
{
    char msg[512], why[168];
    pthread_mutex_lock(&l->mu);
    int fatal = l->fatal != CXB_KIND_NONE;
    snprintf(msg, sizeof msg, "%s", l->fatal_msg);
    snprintf(why, sizeof why, "%s%s", l->cancel_reason, l->cancel_reason[0] ? ": " : "");
    pthread_mutex_unlock(&l->mu);
    cxb_task_cancelled(t, fatal ? msg : NULL, why, in_flight);
}

void cxb_ledger_count_taken(cxb_ledger *l)
{
    atomic_fetch_add_explicit(&l->g.total, 1, memory_order_relaxed);
}

/* The one outcome a result counts under in the metrics (the counters overlap: an invalid task
 * is also failed). */
static cxb_outcome ledger_outcome(const cxb_task *t)
{
    if (t->ok)
        return CXB_OUTCOME_SUCCEEDED;
    if (t->invalid)
        return CXB_OUTCOME_INVALID;
    if (t->cancelled)
        return CXB_OUTCOME_CANCELLED;
    if (t->skipped)
        return CXB_OUTCOME_SKIPPED;
    return CXB_OUTCOME_FAILED;
}

void cxb_ledger_count_result(cxb_ledger *l, const cxb_task *t)
{
    cxb_kind kind = t->ok || t->kind < 0 || t->kind >= CXB_KIND_COUNT ? CXB_KIND_NONE : t->kind;
    pthread_mutex_lock(&l->mu);
    if (t->fetch)
        ; /* auxiliary request: not a task of the batch */
    else if (t->ok)
        l->c.succeeded++;
    else
        l->c.failed++;
    l->c.replayed += t->replayed != 0;
    l->c.invalid += t->invalid != 0;
    l->c.cancelled += t->cancelled != 0;
    l->c.skipped += t->skipped != 0;
    l->c.verified += t->verified != 0;
    if (!t->fetch)
        l->m.results[ledger_outcome(t)][kind]++;
    pthread_mutex_unlock(&l->mu);
}

size_t cxb_ledger_events(cxb_ledger *l, cxb_event *out, size_t max)
{
    pthread_mutex_lock(&l->mu);
    size_t n = 0;
    while (n < max && l->ev_len > 0) {
        out[n++] = l->events[l->ev_head];
        l->ev_head = (l->ev_head + 1) % CXB_EVENTS_CAP;
        l->ev_len--;
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}

void cxb_ledger_metrics(cxb_ledger *l, cxb_metrics *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->m;
    pthread_mutex_unlock(&l->mu);
    out->queued = atomic_load_explicit(&l->g.queued, memory_order_relaxed);
    out->in_flight = atomic_load_explicit(&l->g.in_flight, memory_order_relaxed);
    out->limiter_waits = atomic_load_explicit(&l->g.limiter_waits, memory_order_relaxed);
    out->limiter_wait_seconds = (double)atomic_load_explicit(&l->g.limiter_wait_ns, memory_order_relaxed) / 1e9;
}

void cxb_ledger_snapshot(cxb_ledger *l, cxb_counters *out, cxb_kind *fatal_kind, char *fatal, size_t len)
{
    pthread_mutex_lock(&l->mu);
    *out = l->c;
    out->total = atomic_load_explicit(&l->g.total, memory_order_relaxed);
    if (fatal_kind)
        *fatal_kind = l->fatal;
    if (fatal && len)
        snprintf(fatal, len, "%s", l->fatal ? l->fatal_msg : "");
    pthread_mutex_unlock(&l->mu);
}
