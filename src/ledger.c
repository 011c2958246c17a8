#include "ledger.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cxb_ledger {
    pthread_mutex_t mu;       /* guards everything below */
    cxb_event events[CXB_EVENTS_CAP];
    size_t ev_head, ev_len;
    cxb_kind fatal;           /* NONE while the batch is not fatal */
    char fatal_msg[512];
    char cancel_reason[160];
    int unreachable;          /* consecutive attempts with no HTTP answer */
    int max_unreachable;
    cxb_counters c;
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
    l->max_unreachable = max_unreachable;
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
    e->rate = rate;
    e->rate_prev = prev;
    e->reason = reason;
    snprintf(e->error, sizeof e->error, "%s", msg);
    l->ev_len++;
    pthread_mutex_unlock(&l->mu);
}

void cxb_ledger_event(cxb_ledger *l, cxb_event_type type, const cxb_task *t, int attempt, long status,
                      double delay, const char *error)
{
    pthread_mutex_lock(&l->mu);
    cxb_event *e = ledger_next_event(l);
    e->type = type;
    e->index = t ? t->index : 0;
    e->attempt = attempt;
    e->status = status;
    e->delay = delay;
    if (t)
        snprintf(e->contact_id, sizeof e->contact_id, "%s", t->contact_id);
    if (error)
        snprintf(e->error, sizeof e->error, "%s", error);
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

void cxb_ledger_count_response(cxb_ledger *l, long status, int transport_error)
{
    pthread_mutex_lock(&l->mu);
    l->c.requests++;
    if (transport_error)
        l->c.transport_errors++;
    if (status > 0 && status < 600)
        l->c.by_status[status]++;
    if (status == 429)
        l->c.http_429++;
    if (status >= 500 && status < 600)
        l->c.http_5xx++;
    pthread_mutex_unlock(&l->mu);
}

void cxb_ledger_set_fatal(cxb_ledger *l, cxb_kind kind, const char *msg)
{
    pthread_mutex_lock(&l->mu);
    if (!l->fatal) {
        l->fatal = kind ? kind : CXB_KIND_INTERNAL;
        snprintf(l->fatal_msg, sizeof l->fatal_msg, "%s", msg);
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
    snprintf(msg, sizeof msg, "could not reach the API%s: %d consecutive attempts got no answer "
             "(option 'max_unreachable' = %d); last: %.300s", kind == CXB_KIND_TLS ? " (TLS failure)" : "",
             n, max, last ? last : "");
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
    pthread_mutex_lock(&l->mu);
    l->c.total++;
    pthread_mutex_unlock(&l->mu);
}

void cxb_ledger_count_result(cxb_ledger *l, const cxb_task *t)
{
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

void cxb_ledger_snapshot(cxb_ledger *l, cxb_counters *out, cxb_kind *fatal_kind, char *fatal, size_t len)
{
    pthread_mutex_lock(&l->mu);
    *out = l->c;
    if (fatal_kind)
        *fatal_kind = l->fatal;
    if (fatal && len)
        snprintf(fatal, len, "%s", l->fatal ? l->fatal_msg : "");
    pthread_mutex_unlock(&l->mu);
}
