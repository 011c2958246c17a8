/* Unit tests for the ledger's metrics (src/engine/ledger.c): requests by method and status, the latency
 * histogram's buckets, results by outcome and kind, the queued / in-flight gauges, limiter wait,
 * and the per-request notes a task carries for the run report (src/engine/task.c). */
#include "check.h"

#include "common/clock.h"
#include "engine/ledger.h"

#include <stdlib.h>
#include <string.h>

static cxb_task *new_task(uint64_t index)
{
    return cxb_task_new(index, "c-1", 3, "http://x/c-1", 12, "{}", 2, "k", 1);
}

static void test_requests_and_latency(void)
{
    cxb_ledger *l = cxb_ledger_new(0, NULL, NULL);
    cxb_task *t = new_task(1);
    double now = cxb_now_mono();
    t->attempts = 1;
    /* Latencies well inside their buckets: a slow run (valgrind) adds its delay to each. */
    cxb_ledger_count_response(l, t, "PUT", 429, 0, now - 0.15);   /* the (0.1, 0.25] bucket */
    t->attempts = 2;
    cxb_ledger_count_response(l, t, "PUT", 200, 0, now - 0.7);    /* (0.5, 1] */
    cxb_ledger_count_response(l, NULL, "GET", 0, 1, now - 20);    /* no answer, 20 s: +Inf */
    cxb_ledger_count_response(l, NULL, "POST", 0, 0, now);        /* aborted: not observed */
    cxb_ledger_count_response(l, NULL, "PATCH", 503, 0, now - 3.5); /* (2.5, 5] */
    cxb_metrics *m = malloc(sizeof *m);
    cxb_ledger_metrics(l, m);
    CHECK(m->requests[CXB_METHOD_PUT][429] == 1, "PUT 429: %ld", m->requests[CXB_METHOD_PUT][429]);
    CHECK(m->requests[CXB_METHOD_PUT][200] == 1, "PUT 200: %ld", m->requests[CXB_METHOD_PUT][200]);
    CHECK(m->requests[CXB_METHOD_GET][0] == 1, "GET none: %ld", m->requests[CXB_METHOD_GET][0]);
    CHECK(m->requests[CXB_METHOD_POST][0] == 1, "POST aborted: %ld", m->requests[CXB_METHOD_POST][0]);
    CHECK(m->requests[CXB_METHOD_OTHER][503] == 1, "other 503: %ld", m->requests[CXB_METHOD_OTHER][503]);
    CHECK(m->latency[5] == 1 && m->latency[7] == 1 && m->latency[9] == 1 && m->latency[CXB_LATENCY_BUCKETS - 1] == 1,
          "buckets %ld %ld %ld %ld", m->latency[5], m->latency[7], m->latency[9], m->latency[CXB_LATENCY_BUCKETS - 1]);
    CHECK(m->latency_count == 4, "observed %ld (the aborted one is not)", m->latency_count);
    CHECK(m->latency_sum > 24.35 && m->latency_sum < 24.8, "sum %g", m->latency_sum);
    cxb_counters c;
    cxb_ledger_snapshot(l, &c, NULL, NULL, 0);
    CHECK(c.requests == 5 && c.http_429 == 1 && c.http_5xx == 1 && c.transport_errors == 1,
          "counters %ld %ld %ld %ld", c.requests, c.http_429, c.http_5xx, c.transport_errors);
    /* The task's own notes: first send, offsets, statuses, latencies. */
    CHECK(t->tries_n == 2, "tries %d", t->tries_n);
    CHECK(t->tries[0].status == 429 && t->tries[1].status == 200, "statuses %d %d", t->tries[0].status,
          t->tries[1].status);
    CHECK(t->tries[0].offset == 0, "first offset %g", (double)t->tries[0].offset);
    CHECK(t->tries[1].offset < -0.54 && t->tries[1].offset > -0.56, "second offset %g (sent before the first)",
          (double)t->tries[1].offset);
    CHECK(t->last_latency > 0.69 && t->last_latency < 0.9, "last latency %g", (double)t->last_latency);
    double wall = cxb_now_wall();
    CHECK(t->first_sent_wall > wall - 1 && t->first_sent_wall <= wall, "first sent %f (now %f)",
          t->first_sent_wall, wall);
    cxb_task_note_pause(t, 42);
    CHECK(t->tries[1].pause == 42, "pause on the last request: %g", (double)t->tries[1].pause);
    free(m);
    cxb_task_free(t);
    cxb_ledger_free(l);
}

/* Beyond CXB_TRIES_MAX requests the list stops; the last latency is still the last request's. */
static void test_tries_cap(void)
{
    cxb_ledger *l = cxb_ledger_new(0, NULL, NULL);
    cxb_task *t = new_task(2);
    for (int i = 0; i < CXB_TRIES_MAX + 3; i++) {
        t->attempts++;
        cxb_ledger_count_response(l, t, "PUT", 503, 0, cxb_now_mono() - 0.001 * (i + 1));
    }
    CHECK(t->tries_n == CXB_TRIES_MAX, "kept %d", t->tries_n);
    CHECK(t->last_latency > 0.001 * (CXB_TRIES_MAX + 3) - 0.0005, "last latency %g", (double)t->last_latency);
    cxb_task_note_pause(t, 5); /* the request that set it is not kept: nothing is marked */
    CHECK(t->tries[CXB_TRIES_MAX - 1].pause == 0, "pause %g", (double)t->tries[CXB_TRIES_MAX - 1].pause);
    cxb_task_free(t);
    cxb_ledger_free(l);
}

static void test_results_and_gauges(void)
{
    cxb_ledger *l = cxb_ledger_new(0, NULL, NULL);
    cxb_task *a = new_task(1), *b = new_task(2), *c = new_task(3), *d = new_task(4), *f = new_task(5);
    a->ok = 1;
    b->kind = CXB_KIND_NOT_FOUND;
    c->invalid = 1;
    c->kind = CXB_KIND_INPUT;
    d->cancelled = 1;
    d->kind = CXB_KIND_CANCELLED;
    f->fetch = 1; /* an auxiliary fetch is no result of the batch */
    f->ok = 1;
    cxb_task *all[] = {a, b, c, d, f};
    for (int i = 0; i < 5; i++)
        cxb_ledger_count_result(l, all[i]);
    cxb_ledger_count_queued(l, 1);
    cxb_ledger_count_queued(l, 1);
    cxb_ledger_count_queued(l, 1);
    cxb_ledger_count_queued(l, -1); /* the queue was full after all */
    cxb_ledger_task_running(l, 1);
    cxb_ledger_limiter_wait(l, 0.25);
    cxb_ledger_limiter_wait(l, -1); /* a clock step never counts negative */
    cxb_metrics *m = malloc(sizeof *m);
    cxb_ledger_metrics(l, m);
    CHECK(m->results[CXB_OUTCOME_SUCCEEDED][CXB_KIND_NONE] == 1, "succeeded");
    CHECK(m->results[CXB_OUTCOME_FAILED][CXB_KIND_NOT_FOUND] == 1, "failed not_found");
    CHECK(m->results[CXB_OUTCOME_INVALID][CXB_KIND_INPUT] == 1, "invalid input");
    CHECK(m->results[CXB_OUTCOME_CANCELLED][CXB_KIND_CANCELLED] == 1, "cancelled");
    long sum = 0;
    for (int o = 0; o < CXB_OUTCOMES; o++)
        for (int k = 0; k < CXB_KIND_COUNT; k++)
            sum += m->results[o][k];
    CHECK(sum == 4, "one count per task result, the fetch excluded: %ld", sum);
    CHECK(m->queued == 1 && m->in_flight == 1, "queued %ld in flight %ld", m->queued, m->in_flight);
    CHECK(m->limiter_waits == 2 && m->limiter_wait_seconds == 0.25, "waits %ld %g", m->limiter_waits,
          m->limiter_wait_seconds);
    cxb_ledger_task_running(l, 0);
    cxb_ledger_task_running(l, 0); /* never below zero */
    cxb_ledger_metrics(l, m);
    CHECK(m->in_flight == 0, "in flight %ld", m->in_flight);
    CHECK(strcmp(cxb_outcome_name(CXB_OUTCOME_SKIPPED), "skipped") == 0, "outcome name");
    CHECK(strcmp(cxb_method_name(CXB_METHOD_OTHER), "other") == 0, "method name");
    free(m);
    for (int i = 0; i < 5; i++)
        cxb_task_free(all[i]);
    cxb_ledger_free(l);
}

static void test_event_time(void)
{
    cxb_ledger *l = cxb_ledger_new(0, NULL, NULL);
    double before = cxb_now_wall();
    cxb_ledger_event(l, CXB_EV_PAUSE, NULL, 0, 429, 60, "paused");
    cxb_event e;
    CHECK(cxb_ledger_events(l, &e, 1) == 1, "one event");
    CHECK(e.at >= before && e.at <= cxb_now_wall(), "event at %f", e.at);
    cxb_ledger_free(l);
}

/* The fail-fast rule: max_unreachable attempts in a row without an answer make the batch fatal
 * (kind network) and cancel it; any answer, counted with its response, starts the count over. */
static int cancelled_calls;
static void on_cancel(void *arg)
{
    (void)arg;
    cancelled_calls++;
}

static void test_unreachable(void)
{
    cxb_ledger *l = cxb_ledger_new(3, on_cancel, NULL);
    cxb_counters *c = malloc(sizeof *c);
    char fatal[512];
    cxb_kind kind;
    cxb_ledger_note_reach(l, 0, CXB_KIND_NETWORK, "refused");
    cxb_ledger_note_reach(l, 0, CXB_KIND_NETWORK, "refused");
    cxb_ledger_count_response(l, NULL, "PUT", 503, 0, cxb_now_mono()); /* an answer, even a 503 */
    cxb_ledger_note_reach(l, 0, CXB_KIND_NETWORK, "refused");
    cxb_ledger_note_reach(l, 0, CXB_KIND_NETWORK, "refused");
    cxb_ledger_snapshot(l, c, &kind, fatal, sizeof fatal);
    CHECK(kind == CXB_KIND_NONE && cancelled_calls == 0, "two in a row after an answer: not fatal");
    cxb_ledger_note_reach(l, 0, CXB_KIND_NETWORK, "refused");
    cxb_ledger_snapshot(l, c, &kind, fatal, sizeof fatal);
    CHECK(kind == CXB_KIND_NETWORK && cancelled_calls == 1, "three in a row: fatal (%d)", (int)kind);
    CHECK(strstr(fatal, "3 consecutive attempts") != NULL, "message: %s", fatal);
    free(c);
    cxb_ledger_free(l);
}

int main(void)
{
    test_unreachable();
    test_requests_and_latency();
    test_tries_cap();
    test_results_and_gauges();
    test_event_time();
    return check_finish();
}
