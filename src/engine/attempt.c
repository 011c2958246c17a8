#include "engine/attempt.h"
#include "net/backoff.h"
#include "common/clock.h"
#include "profile/cxone_request.h"
#include "common/redact.h"
#include "common/text_fit.h"
#include "profile/tutorial_request.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cxb_worker {
    const cxb_worker_env *env;
    const cxb_config *cfg;
    cxb_http http;
    int http_ok;
    uint64_t rng;
    uint64_t gen;            /* generation of token (for a reauth) */
    double token_expires;    /* CLOCK_MONOTONIC second at which token stops being valid */
    double token_refresh;    /* from then on the token source is asked again (a newer one may be due) */
    uint64_t token_epoch;    /* cxb_auth_current: no newer token, invalidation or fatal error since */
    cxb_slot slot;           /* the limiter slot of the request in flight (a 429 names it) */
    char token[CXB_TOKEN_MAX];
    char auth_hdr[CXB_TOKEN_MAX + 32];
    char key_hdr[320];
};

/* What one attempt came to. */
typedef enum { ATT_OK, ATT_FAIL, ATT_RETRY, ATT_REAUTH, ATT_CANCELLED, ATT_FATAL } att_kind;

typedef struct att_outcome {
    long status;         /* the attempt's HTTP status, 0 when none came back */
    double retry_after;  /* the answer's Retry-After in seconds, -1 when none */
    int in_flight;       /* ATT_CANCELLED: the transfer was aborted mid-way */
    cxb_kind kind;       /* what failed, when not ATT_OK */
    char msg[640];       /* why, when not ATT_OK */
} att_outcome;

/* One request of a task: what to send and how its answer is treated. */
typedef struct att_req {
    const char *method, *url;
    int mutating;  /* a PUT/POST: no answer or a 5xx may have applied it; a 2xx clears that */
    int with_key;  /* send the task's Idempotency-Key (tutorial) */
    int keep;      /* keep a 2xx body in t->response (fetches, read-backs) */
} att_req;

/* What a worker does with a task. */
typedef enum { ATT_OP_FETCH, ATT_OP_PREFLIGHT, ATT_OP_CONTACT } att_op;

/* ---- workers ------------------------------------------------------------------------------ */

cxb_worker *cxb_worker_new(const cxb_worker_env *env)
{
    cxb_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->env = env;
    w->cfg = env->cfg;
    cxb_http_opts ho = {w->cfg->timeout, w->cfg->connect_timeout, w->cfg->ca_file, w->cfg->insecure, NULL};
    w->http_ok = cxb_http_init(&w->http, &ho, env->cancel) == 0;
    w->rng = cxb_rng_seed((uint64_t)(uintptr_t)w);
    return w;
}

void cxb_worker_free(cxb_worker *w)
{
    if (!w)
        return;
    if (w->http_ok)
        cxb_http_cleanup(&w->http);
    memset(w->token, 0, sizeof w->token);
    free(w);
}

static int att_cancelled(const cxb_worker *w)
{
    return atomic_load(w->env->cancel) != 0;
}

/* Sleeps up to `seconds`, returning early (1) when the job is cancelled. */
static int att_sleep(const cxb_worker *w, double seconds)
{
    double until = cxb_now_mono() + seconds;
    for (;;) {
        if (att_cancelled(w))
            return 1;
        double left = until - cxb_now_mono();
        if (left <= 0)
            return 0;
        double step = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static att_kind att_failed(att_outcome *o, att_kind k, cxb_kind kind)
{
    o->kind = kind;
    return k;
}

/* ---- the token and the slot --------------------------------------------------------------- */

/* The token, resolved before any limiter slot is taken: the cached one, or a fetch (one worker
 * fetches, with its own slot; the others wait for it holding nothing). A token or discovery
 * endpoint that cannot be reached or answers 5xx counts towards max_unreachable. */
static att_kind att_token(cxb_worker *w, att_outcome *o)
{
    const cxb_worker_env *env = w->env;
    cxb_auth_result ar;
    cxb_auth_status as = cxb_auth_get(env->auth, &w->http, env->lim, env->cancel, w->token, &ar);
    if (ar.fetched) {
        cxb_ledger_event(env->ledger, CXB_EV_TOKEN, NULL, 0, 200, 0, NULL);
        cxb_ledger_note_reach(env->ledger, 1, CXB_KIND_NONE, NULL);
    }
    switch (as) {
    case CXB_AUTH_OK:
        w->gen = ar.gen;
        w->token_expires = ar.expires_at;
        w->token_refresh = ar.refresh_at;
        w->token_epoch = ar.epoch;
        return ATT_OK;
    case CXB_AUTH_CANCELLED:
        return ATT_CANCELLED;
    case CXB_AUTH_FATAL:
        snprintf(o->msg, sizeof o->msg, "%s", ar.msg);
        return att_failed(o, ATT_FATAL, ar.kind);
    case CXB_AUTH_TRANSIENT:
        break;
    }
    snprintf(o->msg, sizeof o->msg, "%s", ar.msg);
    o->retry_after = ar.retry_after;
    if (ar.kind == CXB_KIND_NETWORK || ar.kind == CXB_KIND_TLS || ar.kind == CXB_KIND_SERVER)
        cxb_ledger_note_reach(env->ledger, 0, ar.kind, ar.msg);
    return att_failed(o, ATT_RETRY, ar.kind);
}

/* Takes the request's limiter slot, right before it is sent: nothing else is waited on between
 * the slot and the send. A token that expired while the slot was awaited forfeits that slot
 * (never spent late) and is resolved again before a new one is taken. */
static att_kind att_slot(cxb_worker *w, att_outcome *o, double *granted)
{
    for (;;) {
        double asked = cxb_now_mono();
        if (cxb_limiter_acquire_slot(w->env->lim, w->env->cancel, &w->slot) != 0)
            return ATT_CANCELLED;
        *granted = cxb_now_mono(); /* one clock reading: the wait, the token's check, the send */
        cxb_ledger_limiter_wait(w->env->ledger, *granted - asked);
        if (*granted < w->token_expires)
            return ATT_OK;
        att_kind k = att_token(w, o);
        if (k != ATT_OK)
            return k;
    }
}

/* ---- one request -------------------------------------------------------------------------- */

/* Builds the request headers on the worker's stack: no allocation per request. */
typedef struct att_headers {
    struct curl_slist n[6];
} att_headers;

static struct curl_slist *att_build_headers(cxb_worker *w, att_headers *h, const cxb_task *t,
                                            int with_body, int with_key)
{
    snprintf(w->auth_hdr, sizeof w->auth_hdr, "Authorization: Bearer %s", w->token);
    int k = 0;
    h->n[k++].data = w->auth_hdr;
    h->n[k++].data = (char *)"Accept: application/json";
    h->n[k++].data = (char *)"Expect:";
    if (with_body)
        h->n[k++].data = (char *)"Content-Type: application/json";
    if (with_key) {
        snprintf(w->key_hdr, sizeof w->key_hdr, "Idempotency-Key: %s", t->key);
        h->n[k++].data = w->key_hdr;
    }
    for (int i = 0; i < k; i++)
        h->n[i].next = i + 1 < k ? &h->n[i + 1] : NULL;
    return &h->n[0];
}

/* Keeps a 2xx body in t->response. ATT_OK, or ATT_FAIL. */
static att_kind att_keep_response(cxb_task *t, const cxb_http_resp *r, att_outcome *o)
{
    free(t->response);
    t->response = malloc(r->body_len + 1);
    t->response_len = 0;
    if (!t->response) {
        snprintf(o->msg, sizeof o->msg, "out of memory keeping the response");
        return att_failed(o, ATT_FAIL, CXB_KIND_INTERNAL);
    }
    memcpy(t->response, r->body, r->body_len + 1);
    t->response_len = r->body_len;
    if (r->truncated) {
        snprintf(o->msg, sizeof o->msg, "response larger than %d bytes", CXB_HTTP_BODY_CAP);
        return att_failed(o, ATT_FAIL, CXB_KIND_API);
    }
    return ATT_OK;
}

/* A non-2xx answer: the message (secrets redacted), its kind, its Retry-After, how to go on. */
static att_kind att_classify_status(cxb_worker *w, const att_req *q, const cxb_http_resp *r, att_outcome *o)
{
    char detail[400];
    const char *const secrets[] = {w->token}; /* a server may echo Authorization */
    cxb_http_error_message(r->body, r->body_len, secrets, 1, detail, sizeof detail);
    if (w->cfg->cxone && r->status == 403)
        cxb_cxone_forbidden(!q->mutating, detail, o->msg, sizeof o->msg);
    else
        cxb_text_fit(o->msg, sizeof o->msg,
                     snprintf(o->msg, sizeof o->msg, "HTTP %ld%s%s%s", r->status, detail[0] ? ": " : "", detail,
                              r->status >= 300 && r->status < 400
                                  ? " (a redirect: never followed, so credentials cannot leak; check base_url)"
                                  : ""));
    o->retry_after = r->retry_after;
    o->kind = cxb_kind_of_status(r->status);
    long s = r->status;
    if (s == 401)
        return ATT_REAUTH;
    int retry = s == 429 || s == 409 || s == 408 || s == 500 || s == 502 || s == 503 || s == 504;
    return retry ? ATT_RETRY : ATT_FAIL;
}

/* No HTTP answer. A request that never went out (DNS, refused, TLS, connect timeout) says the
 * API may be unreachable; one that went out shows the server is there. */
static att_kind att_transport_failure(cxb_worker *w, const att_req *q, const cxb_http_resp *r, att_outcome *o)
{
    snprintf(o->msg, sizeof o->msg, "no response%s: %s", q->mutating && r->sent ? " (outcome unknown)" : "",
             r->error);
    o->kind = cxb_kind_of_transport(r->curl_rc);
    if (!r->sent)
        cxb_ledger_note_reach(w->env->ledger, 0, o->kind, o->msg);
    return ATT_RETRY;
}

/* Takes a slot, sends one request and classifies its answer. A PUT/POST that went out and got no
 * answer, or a 5xx, is recorded as may-have-applied (sticky). */
static att_kind att_send(cxb_worker *w, cxb_task *t, const att_req *q, att_outcome *o)
{
    double sent;
    att_kind k = att_slot(w, o, &sent);
    if (k != ATT_OK)
        return k;
    att_headers hb;
    struct curl_slist *hdrs = att_build_headers(w, &hb, t, q->mutating, q->with_key);
    cxb_http_resp r;
    t->attempts++;
    w->http.fresh_next = q->mutating && !q->with_key; /* cxone's POST: no hidden libcurl resend */
    int rc = cxb_http_request(&w->http, q->method, q->url, hdrs, q->mutating ? t->body : NULL,
                              q->mutating ? t->body_len : 0, NULL, &r);
    memset(w->auth_hdr, 0, sizeof w->auth_hdr);
    int aborted = rc != 0 && r.curl_rc == CURLE_ABORTED_BY_CALLBACK;
    cxb_ledger_count_response(w->env->ledger, t, q->method, aborted ? 0 : r.status, rc != 0 && !aborted, sent);
    if (rc != 0 && q->mutating && r.sent)
        cxb_task_may_have_applied(t, 0);
    if (aborted) {
        o->in_flight = 1;
        return ATT_CANCELLED;
    }
    if (rc != 0)
        return att_transport_failure(w, q, &r, o); /* (an answer reset the unreachable count above) */
    o->status = t->status = r.status;
    if (r.status >= 200 && r.status < 300) {
        t->replayed = r.replayed;
        if (q->mutating)
            t->unknown = 0; /* this attempt was applied, or replayed one that was: the outcome is known */
        return q->keep ? att_keep_response(t, &r, o) : ATT_OK;
    }
    if (q->mutating && r.status >= 500 && r.status < 600)
        cxb_task_may_have_applied(t, r.status);
    if (r.status == 429)
        cxb_limiter_throttled(w->env->lim, &w->slot); /* adaptive: the loss signal */
    return att_classify_status(w, q, &r, o);
}

/* One GET or write of a URL built for the task (NULL: out of memory building it). Frees url. */
static att_kind att_send_url(cxb_worker *w, cxb_task *t, att_req q, char *url, att_outcome *o)
{
    if (!url) {
        snprintf(o->msg, sizeof o->msg, "out of memory building a URL");
        return att_failed(o, ATT_FAIL, CXB_KIND_INTERNAL);
    }
    q.url = url;
    att_kind k = att_send(w, t, &q, o);
    free(url);
    return k;
}

/* ---- a contact: read-back and write ------------------------------------------------------- */

static char *att_dup(const char *s)
{
    return strdup(s);
}

/* Keeps the first read's body as the task's before-image (t->before) when the task asks for
 * one, else frees it. A read that shows the wanted value on a task an earlier run may have
 * applied (t->verify) is no before-image: the value may be that run's own write. */
static void att_keep_before(cxb_task *t, int matches)
{
    int keep = (t->read_only || t->keep_before) && !t->was_read && !(matches && t->verify);
    t->was_read = 1;
    if (keep && !t->before) {
        t->before = t->response;
        t->before_len = t->response_len;
    } else {
        free(t->response);
    }
    t->response = NULL;
    t->response_len = 0;
}

/* The contact's current value, compared with the one the task asks for (t->want). ATT_OK with
 * *matches (the write was applied, or one with its effect) and *same (writing it would change
 * nothing: cxone notes compared strictly) set; else the read's own failure. */
static att_kind att_readback(cxb_worker *w, cxb_task *t, int *matches, int *same, att_outcome *o)
{
    int cxone = w->cfg->cxone;
    att_req q = {"GET", NULL, 0, 0, 1};
    char *url = cxone ? cxb_cxone_contact_url(cxb_auth_api_base(w->env->auth), w->cfg->api_version,
                                              t->contact_id, 1)
                      : att_dup(t->url);
    att_kind k = att_send_url(w, t, q, url, o);
    if (k != ATT_OK)
        return k;
    char err[400];
    struct cxb_disposition want = {t->want[0], t->want[1], t->want_notes, NULL, NULL, NULL};
    enum cxb_disposition_check c =
        cxone ? cxb_cxone_readback(t->response, t->response_len, &want, 0, err, sizeof err)
              : cxb_tutorial_readback(t->response, t->response_len, t->want[0], t->want[1], err, sizeof err);
    *same = c == CXB_DISP_MATCHES;
    if (cxone && *same)
        *same = cxb_cxone_readback(t->response, t->response_len, &want, 1, err, sizeof err) == CXB_DISP_MATCHES;
    if (c == CXB_DISP_INVALID) { /* not a contact document: no before-image either */
        free(t->response);
        t->response = NULL;
        t->response_len = 0;
        snprintf(o->msg, sizeof o->msg, "%s", err);
        return att_failed(o, ATT_FAIL, CXB_KIND_API);
    }
    *matches = c == CXB_DISP_MATCHES;
    att_keep_before(t, *matches);
    return ATT_OK;
}

/* The write itself: the tutorial PUT with its Idempotency-Key, or cxone's set-disposition. */
static att_kind att_write(cxb_worker *w, cxb_task *t, att_outcome *o)
{
    if (!w->cfg->cxone) {
        att_req q = {"PUT", t->url, 1, 1, 0};
        return att_send(w, t, &q, o);
    }
    att_req q = {"POST", NULL, 1, 0, 0};
    char *url = cxb_cxone_contact_url(cxb_auth_api_base(w->env->auth), w->cfg->api_version, t->contact_id, 0);
    return att_send_url(w, t, q, url, o);
}

/* Whether the next attempt reads the contact before (or instead of) writing: a plan's read, the
 * first attempt of a task that keeps a before-image or skips unchanged contacts, and a task that
 * may already have been applied — by an earlier run (t->verify) or, in the cxone profile, which
 * has no Idempotency-Key, by an earlier attempt whose outcome is unknown. */
static int att_reads_first(const cxb_worker *w, const cxb_task *t)
{
    return t->read_only || t->verify || (w->cfg->cxone && t->unknown) ||
           ((t->keep_before || t->skip_unchanged) && !t->was_read);
}

/* One attempt at a contact: the read when one is due (docs/cxone.md "Exactly once without an
 * Idempotency-Key", docs/api.md "Plan, before-images and undo"), then the write unless the read
 * settled the task — a plan's read always does; a read showing the wanted value does for a task
 * that may already have been applied (verified) or skips unchanged contacts (unchanged). A cxone
 * 403 fails the batch: no task can succeed without the permission. */
static att_kind att_contact(cxb_worker *w, cxb_task *t, att_outcome *o)
{
    att_kind k = ATT_OK;
    if (att_reads_first(w, t)) {
        int matches = 0, same = 0;
        k = att_readback(w, t, &matches, &same, o);
        if (k == ATT_OK && matches && (t->verify || t->unknown)) {
            t->verified = 1; /* an earlier write (ours, or one with the same effect) was applied */
            t->unknown = 0;
            return ATT_OK;
        }
        if (k == ATT_OK && (t->read_only || (same && t->skip_unchanged))) {
            t->unchanged = same;
            return ATT_OK;
        }
        if (k == ATT_OK)
            t->verify = 0; /* read: from here the write decides (cxone reads again after an unknown) */
    }
    if (k == ATT_OK)
        k = att_write(w, t, o);
    if (k == ATT_FAIL && o->status == 403 && w->cfg->cxone)
        cxb_ledger_set_fatal(w->env->ledger, CXB_KIND_PERMISSION, o->msg);
    return k;
}

/* ---- the attempt loop --------------------------------------------------------------------- */

/* One attempt: the token first, then each request with its own slot. */
static att_kind att_once(cxb_worker *w, cxb_task *t, att_op op, att_outcome *o)
{
    o->status = 0;
    o->retry_after = -1;
    o->in_flight = 0;
    o->kind = CXB_KIND_NONE;
    o->msg[0] = '\0';
    if (att_cancelled(w))
        return ATT_CANCELLED;
    /* The token this worker holds, while it is the source's current one and not due for refresh,
     * is what cxb_auth_get would hand out again: keep it without the source's lock. */
    int current = cxb_now_mono() < w->token_refresh && cxb_auth_current(w->env->auth, w->token_epoch);
    att_kind k = current ? ATT_OK : att_token(w, o);
    if (k != ATT_OK)
        return k;
    if (op == ATT_OP_CONTACT)
        return att_contact(w, t, o);
    att_req q = {"GET", t->url, 0, 0, op == ATT_OP_FETCH};
    if (op == ATT_OP_FETCH && w->cfg->cxone) /* a skill's dispositions: the API host is known now */
        return att_send_url(w, t, q, cxb_cxone_skill_url(cxb_auth_api_base(w->env->auth), w->cfg->api_version,
                                                         t->contact_id), o);
    return att_send(w, t, &q, o);
}

/* Waits before the next attempt (backoff, Retry-After, pool pause). 1 when cancelled. */
static int att_wait(cxb_worker *w, cxb_task *t, int retries, const att_outcome *o)
{
    const cxb_config *cfg = w->cfg;
    cxb_ledger *ledger = w->env->ledger;
    double delay = cxb_backoff_delay(cfg->backoff_base, cfg->backoff_max, retries, &w->rng);
    if (o->retry_after > delay)
        delay = o->retry_after; /* Retry-After is the minimum wait, not an addend */
    if (o->retry_after > cfg->pause_threshold) {
        /* The tenant is throttled for long: hold the whole pool, not just this worker. */
        cxb_limiter_pause(w->env->lim, cxb_now_mono() + o->retry_after);
        cxb_task_note_pause(t, o->retry_after);
        cxb_ledger_event(ledger, CXB_EV_PAUSE, t, t->attempts, o->status, o->retry_after, o->msg);
        cxb_ledger_event(ledger, CXB_EV_RETRY, t, t->attempts, o->status, o->retry_after, o->msg);
        return 0;
    }
    cxb_ledger_event(ledger, CXB_EV_RETRY, t, t->attempts, o->status, delay, o->msg);
    return att_sleep(w, delay);
}

/* The task's answer from its last outcome: 1 for ok, else 0 with t->error and t->kind set. */
static int att_settle(cxb_worker *w, cxb_task *t, att_kind k, const att_outcome *o, int retries)
{
    if (k == ATT_OK) {
        t->kind = CXB_KIND_NONE;
        return 1;
    }
    if (k == ATT_FATAL)
        cxb_ledger_set_fatal(w->env->ledger, o->kind, o->msg);
    if (k == ATT_FATAL || k == ATT_CANCELLED) {
        cxb_ledger_task_cancelled(w->env->ledger, t, k == ATT_CANCELLED && o->in_flight);
        return 0;
    }
    if (k == ATT_RETRY) { /* retries exhausted */
        t->status = o->status;
        char gave[700];
        cxb_text_fit(gave, sizeof gave, snprintf(gave, sizeof gave, "%s (gave up after %d %s)", o->msg,
                                                 retries + 1, retries ? "attempts" : "attempt"));
        cxb_task_fail(t, o->kind, gave);
    } else if (!t->error) {
        cxb_task_fail(t, o->kind, o->msg); /* ATT_FAIL, or a second 401 */
    }
    return 0;
}

/* Runs op until it succeeds, fails for good, or the job is cancelled. Retryable: 429, 5xx, 408,
 * 409, transport errors, transient token failures. A 401 gets one token refresh and one more
 * try, not counted as a retry. Returns 1 on success. */
static int att_loop(cxb_worker *w, cxb_task *t, att_op op)
{
    int retries = 0, reauthed = 0;
    att_outcome o;
    for (;;) {
        att_kind k = att_once(w, t, op, &o);
        if (k == ATT_REAUTH && !reauthed) {
            reauthed = 1;
            cxb_auth_invalidate(w->env->auth, w->gen);
            cxb_ledger_event(w->env->ledger, CXB_EV_REAUTH, t, t->attempts, o.status, 0, o.msg);
            continue;
        }
        if (k != ATT_RETRY || retries >= w->cfg->max_retries)
            return att_settle(w, t, k, &o, retries);
        if (att_wait(w, t, retries++, &o)) {
            o.in_flight = 0;
            return att_settle(w, t, ATT_CANCELLED, &o, retries);
        }
    }
}

/* The tutorial's optional pre-flight GET: 1 to go on with the PUT, 0 when the task is done
 * (skipped on a 404, or failed/cancelled). */
static int att_preflight(cxb_worker *w, cxb_task *t)
{
    if (!att_loop(w, t, ATT_OP_PREFLIGHT)) {
        if (t->status == 404 && !t->cancelled) {
            t->skipped = 1;
            cxb_task_set_error(t, "HTTP 404: contact %s does not exist (pre-flight GET); no update sent",
                               t->contact_id);
        }
        return 0;
    }
    t->status = 0;
    return 1;
}

/* The journal's write-ahead barrier before a task's first request: 1 to go on. */
static int att_durable(cxb_worker *w, cxb_task *t)
{
    char err[300];
    int rc = cxb_durable_wait(w->env->durable, t->index, w->env->cancel, err, sizeof err);
    if (rc == 0)
        return 1;
    if (rc < 0)
        cxb_ledger_set_fatal(w->env->ledger, CXB_KIND_OUTPUT, err);
    cxb_ledger_task_cancelled(w->env->ledger, t, 0);
    return 0;
}

void cxb_worker_run(cxb_worker *w, cxb_task *t)
{
    t->started = cxb_now_mono();
    if (!w->http_ok) {
        cxb_task_fail(t, CXB_KIND_INTERNAL, "out of memory creating the HTTP handle");
        return;
    }
    if (t->fetch) {
        t->ok = att_loop(w, t, ATT_OP_FETCH);
        return;
    }
    if (!att_durable(w, t))
        return;
    /* A task that reads its contact first anyway needs no pre-flight GET: that read stands in. */
    int reads = t->read_only || t->keep_before || t->skip_unchanged;
    if (!w->cfg->cxone && w->cfg->preflight && !reads && !att_preflight(w, t))
        return;
    t->ok = att_loop(w, t, ATT_OP_CONTACT);
    if (t->ok) {
        free(t->error);
        t->error = NULL;
    }
}
