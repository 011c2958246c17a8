#include "job.h"
#include "backoff.h"
#include "clock.h"
#include "cxone_request.h"
#include "redact.h"
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Per-worker state: never shared, so no locking around it. */
typedef struct job_worker {
    cxb_job *job;
    cxb_http http;
    int http_ok;
    uint64_t rng;
    char token[CXB_TOKEN_MAX];
    char auth_hdr[CXB_TOKEN_MAX + 32];
    char key_hdr[320];
} job_worker;

/* ---- tasks -------------------------------------------------------------------------------- */

cxb_task *cxb_task_new(uint64_t index, const char *contact_id, size_t id_len, const char *url,
                       size_t url_len, const char *body, size_t body_len, const char *key,
                       size_t key_len)
{
    size_t n = sizeof(cxb_task) + id_len + url_len + body_len + key_len + 4;
    cxb_task *t = calloc(1, n);
    if (!t)
        return NULL;
    char *p = (char *)(t + 1);
    t->index = index;
    t->contact_id = p;
    memcpy(p, contact_id, id_len);
    p += id_len + 1;
    t->url = p;
    memcpy(p, url, url_len);
    p += url_len + 1;
    t->body = p;
    memcpy(p, body, body_len);
    t->body_len = body_len;
    p += body_len + 1;
    t->key = p;
    memcpy(p, key, key_len);
    return t;
}

void cxb_task_free(cxb_task *t)
{
    if (t) {
        free(t->error);
        free(t->response);
        free(t);
    }
}

static void task_set_error(cxb_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void task_set_error(cxb_task *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(t->error);
    t->error = strdup(buf); /* NULL on OOM: the result still carries ok=false and its status */
}

/* ---- queues and counters (j->mu held) ------------------------------------------------------ */

/* Waking the owner for every result would cost a context switch per request at high rates.
 * Wake it when the workers are about to run dry (it must refill), when results pile up, or
 * when the last wake is 5 ms old, so a result never waits longer than that. */
#define JOB_WAKE_COALESCE 0.005

static int job_owner_needs_wake(const cxb_job *j)
{
    return cxb_queue_len(&j->tasks) < (size_t)j->cfg.workers || j->res_len >= j->max_outstanding / 2 ||
           cxb_now_mono() - j->last_wake >= JOB_WAKE_COALESCE;
}

static void job_push_result_locked(cxb_job *j, cxb_task *t)
{
    if (t->started > 0)
        t->elapsed = cxb_now_mono() - t->started;
    if (t->fetch)
        ; /* auxiliary request: not a task of the batch */
    else if (t->ok)
        j->c.succeeded++;
    else
        j->c.failed++;
    if (t->replayed)
        j->c.replayed++;
    if (t->invalid)
        j->c.invalid++;
    if (t->cancelled)
        j->c.cancelled++;
    if (t->skipped)
        j->c.skipped++;
    /* Cannot overflow: a slot is reserved for every outstanding task at submit. */
    j->results[(j->res_head + j->res_len) % j->res_cap] = t;
    j->res_len++;
    if (j->owner_waiting && job_owner_needs_wake(j)) {
        j->last_wake = cxb_now_mono();
        pthread_cond_signal(&j->cv_owner);
    }
}

static void job_event(cxb_job *j, cxb_event_type type, const cxb_task *t, int attempt, long status,
                      double delay, const char *error)
{
    pthread_mutex_lock(&j->mu);
    if (j->ev_len == CXB_EVENTS_CAP) { /* the owner is not draining: drop the oldest */
        j->ev_head = (j->ev_head + 1) % CXB_EVENTS_CAP;
        j->ev_len--;
        j->c.events_dropped++;
    }
    cxb_event *e = &j->events[(j->ev_head + j->ev_len) % CXB_EVENTS_CAP];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->index = t ? t->index : 0;
    e->attempt = attempt;
    e->status = status;
    e->delay = delay;
    if (t)
        snprintf(e->contact_id, sizeof e->contact_id, "%s", t->contact_id);
    if (error)
        snprintf(e->error, sizeof e->error, "%s", error);
    j->ev_len++;
    switch (type) {
    case CXB_EV_RETRY: j->c.retried++; break;
    case CXB_EV_PAUSE: j->c.pauses++; j->c.pause_seconds += delay; break;
    case CXB_EV_TOKEN: j->c.token_refreshes++; break;
    case CXB_EV_REAUTH: j->c.reauths++; break;
    case CXB_EV_LIMITER: break;
    }
    pthread_mutex_unlock(&j->mu);
}

static void job_count_response(cxb_job *j, long status, int transport_error)
{
    pthread_mutex_lock(&j->mu);
    j->c.requests++;
    if (transport_error)
        j->c.transport_errors++;
    if (status > 0 && status < 600)
        j->c.by_status[status]++;
    if (status == 429)
        j->c.http_429++;
    if (status >= 500 && status < 600)
        j->c.http_5xx++;
    pthread_mutex_unlock(&j->mu);
}

static void job_set_fatal(cxb_job *j, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (!j->fatal) {
        j->fatal = 1;
        snprintf(j->fatal_msg, sizeof j->fatal_msg, "%s", msg);
    }
    pthread_mutex_unlock(&j->mu);
    atomic_store(&j->cancel, 1);
}

/* Fail fast when the API cannot be reached: `answered` 0 counts one more attempt that could not
 * reach it (DNS, refused, TLS, connect timeout, token endpoint down), 1 (any HTTP answer, a
 * token obtained) resets the count. Past cfg.max_unreachable the whole batch fails at once instead of
 * every row failing on its own after its retries. */
static void job_note_reach(cxb_job *j, int answered, int tls, const char *last)
{
    int max = j->cfg.max_unreachable, n;
    pthread_mutex_lock(&j->mu);
    n = j->unreachable = answered ? 0 : j->unreachable + 1;
    pthread_mutex_unlock(&j->mu);
    if (answered || max <= 0 || n < max)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "could not reach the API%s: %d consecutive attempts got no answer "
             "(option 'max_unreachable' = %d); last: %.300s", tls ? " (TLS failure)" : "", n, max, last);
    job_set_fatal(j, msg);
}

static int job_tls_error(CURLcode rc)
{
    return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* A transport failure before any connection stood: DNS, refused, TLS, or a timeout while
 * resolving or connecting (libcurl says "Resolving/Connection timed out" then, and "Operation
 * timed out" once connected). A reset or a slow answer on an open connection shows the server
 * is there: it neither counts nor resets. */
static int job_never_connected(const cxb_http_resp *r)
{
    CURLcode rc = r->curl_rc;
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
        rc == CURLE_COULDNT_CONNECT || job_tls_error(rc))
        return 1;
    return rc == CURLE_OPERATION_TIMEDOUT && (strncmp(r->error, "Resolving timed out", 19) == 0 ||
                                              strncmp(r->error, "Connection timed out", 20) == 0);
}

/* A transient token failure that means the token endpoint is down (no answer or a 5xx), not
 * throttled: auth.c phrases those two cases so. */
static int job_token_down(const char *msg)
{
    return strncmp(msg, "token request failed", 20) == 0 ||
           strncmp(msg, "token endpoint answered HTTP 5", 30) == 0;
}

/* The limiter's notes become events (a pause another process set, a reset state, an
 * unreachable store); a limiter that gives up fails the batch. */
static void job_limiter_note(void *arg, const cxb_limiter_note *n)
{
    cxb_job *j = arg;
    if (n->kind == CXB_LIM_NOTE_FATAL)
        job_set_fatal(j, n->msg);
    else
        job_event(j, n->kind == CXB_LIM_NOTE_PAUSE ? CXB_EV_PAUSE : CXB_EV_LIMITER, NULL, 0, 0,
                  n->wait, n->msg);
}

/* Sleeps up to `seconds`, returning early (1) when the job is cancelled. */
static int job_sleep(cxb_job *j, double seconds)
{
    double until = cxb_now_mono() + seconds;
    for (;;) {
        if (atomic_load(&j->cancel))
            return 1;
        double left = until - cxb_now_mono();
        if (left <= 0)
            return 0;
        double step = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- the attempt loop ---------------------------------------------------------------------- */

typedef enum { STEP_DONE, STEP_RETRY, STEP_REAUTH } step_kind;

static int status_is_retryable(long s)
{
    return s == 429 || s == 409 || s == 408 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* Attempt t->attempts of the PUT may have been applied without a definitive answer: no HTTP
 * answer (transport error, timeout, abort in flight) or a 5xx (a gateway's 502/503/504 or a
 * 500 can come after the mutation). Sticky: only a later 2xx clears it. 4xx, 429 included,
 * are definitive "not applied" for that attempt. */
static void task_may_have_applied(cxb_task *t, long status)
{
    if (!t->unknown) {
        t->unknown = 1;
        t->unknown_attempt = t->attempts;
        t->unknown_status = status;
    }
}

/* "attempt 1 may have been applied (no answer): outcome unknown; ..." or "" when not unknown. */
static void task_unknown_note(const cxb_task *t, char *buf, size_t len)
{
    char why[32];
    buf[0] = '\0';
    if (!t->unknown)
        return;
    if (t->unknown_status)
        snprintf(why, sizeof why, "HTTP %ld", t->unknown_status);
    else
        snprintf(why, sizeof why, "no answer");
    snprintf(buf, len, "attempt %d may have been applied (%s): outcome unknown; a rerun with the "
                       "same batch_id / journal is safe", t->unknown_attempt, why);
}

/* The final failure message: msg, plus the unknown-outcome note when an attempt may have been
 * applied, so the wording never claims less than the server may have seen. */
static void task_fail(cxb_task *t, const char *msg)
{
    char note[200];
    task_unknown_note(t, note, sizeof note);
    task_set_error(t, "%s%s%s", msg, note[0] ? "; " : "", note);
}

/* in_flight: the transfer was aborted mid-way (a PUT's attempt is then already recorded as
 * may-have-applied by the caller). */
static void task_cancelled(cxb_job *j, cxb_task *t, int in_flight)
{
    t->ok = 0;
    t->cancelled = 1;
    pthread_mutex_lock(&j->mu);
    int fatal = j->fatal;
    char msg[512], why[168], note[200];
    snprintf(msg, sizeof msg, "%s", j->fatal_msg);
    snprintf(why, sizeof why, "%s%s", j->cancel_reason, j->cancel_reason[0] ? ": " : "");
    pthread_mutex_unlock(&j->mu);
    task_unknown_note(t, note, sizeof note);
    if (fatal)
        task_set_error(t, "batch aborted: %s%s%s", msg, note[0] ? "; " : "", note);
    else if (t->unknown && in_flight)
        task_set_error(t, "%scancelled while the request was in flight: outcome unknown "
                          "(rerun with the same idempotency key / batch_id is safe)", why);
    else if (t->unknown)
        task_set_error(t, "%scancelled before attempt %d was sent; %s", why, t->attempts + 1, note);
    else if (in_flight)
        task_set_error(t, "%scancelled while a GET was in flight; no update was sent", why);
    else if (t->attempts > 0)
        task_set_error(t, "%scancelled before attempt %d was sent; none of the %d before it was "
                          "applied (each got a definitive answer)", why, t->attempts + 1, t->attempts);
    else
        task_set_error(t, "%scancelled before it was sent", why);
}

/* Builds the request headers on the worker's stack: no allocation per request. */
typedef struct job_headers {
    struct curl_slist n[6];
} job_headers;

static struct curl_slist *job_build_headers(job_worker *w, job_headers *h, const cxb_task *t,
                                            int with_body, int with_key)
{
    snprintf(w->auth_hdr, sizeof w->auth_hdr, "Authorization: Bearer %s", w->token);
    int k = 0;
    h->n[k++].data = w->auth_hdr;
    h->n[k++].data = (char *)"Accept: application/json";
    h->n[k++].data = (char *)"Expect:";
    if (with_body) {
        h->n[k++].data = (char *)"Content-Type: application/json";
    }
    if (with_key) {
        snprintf(w->key_hdr, sizeof w->key_hdr, "Idempotency-Key: %s", t->key);
        h->n[k++].data = w->key_hdr;
    }
    for (int i = 0; i < k; i++)
        h->n[i].next = i + 1 < k ? &h->n[i + 1] : NULL;
    return &h->n[0];
}

/* What one attempt came to. */
typedef enum { ATT_OK, ATT_FAIL, ATT_RETRY, ATT_REAUTH, ATT_CANCELLED } job_attempt_kind;

/* Keeps a fetch's 2xx body in t->response. ATT_OK, or ATT_FAIL with t->error set. */
static job_attempt_kind job_keep_response(cxb_task *t, const cxb_http_resp *r)
{
    t->response = malloc(r->body_len + 1);
    if (!t->response) {
        task_set_error(t, "out of memory keeping the response");
        return ATT_FAIL;
    }
    memcpy(t->response, r->body, r->body_len + 1);
    t->response_len = r->body_len;
    if (r->truncated) {
        task_set_error(t, "response larger than %d bytes", CXB_HTTP_BODY_CAP);
        return ATT_FAIL;
    }
    return ATT_OK;
}

/* One request of a task: what to send and how its answer is treated. */
typedef struct job_req {
    const char *method, *url;
    int mutating;  /* a PUT/POST: no answer or a 5xx may have applied it; a 2xx clears that */
    int with_key;  /* send the task's Idempotency-Key (tutorial) */
    int keep;      /* keep a 2xx body in t->response (fetches, read-backs) */
} job_req;

static job_attempt_kind job_send(job_worker *w, cxb_task *t, const job_req *q, char *msg, long *status,
                                 double *retry_after);

/* Sends one attempt and classifies it; msg (640 bytes) says why when it is not ATT_OK. A PUT
 * that got no answer or a 5xx is recorded as may-have-applied (sticky). */
static job_attempt_kind job_send_once(job_worker *w, cxb_task *t, const char *method, int is_put,
                                      char *msg, long *status, double *retry_after)
{
    job_req q = {method, t->url, is_put, is_put, t->fetch};
    return job_send(w, t, &q, msg, status, retry_after);
}

static job_attempt_kind job_send(job_worker *w, cxb_task *t, const job_req *q, char *msg, long *status,
                                 double *retry_after)
{
    cxb_job *j = w->job;
    int is_put = q->mutating;
    job_headers hb;
    struct curl_slist *hdrs = job_build_headers(w, &hb, t, is_put, q->with_key);
    cxb_http_resp r;
    t->attempts++;
    w->http.fresh_next = is_put && !q->with_key; /* cxone's POST: no hidden libcurl resend */
    int rc = cxb_http_request(&w->http, q->method, q->url, hdrs, is_put ? t->body : NULL,
                              is_put ? t->body_len : 0, NULL, &r);
    memset(w->auth_hdr, 0, sizeof w->auth_hdr);
    if (rc != 0 && r.curl_rc == CURLE_ABORTED_BY_CALLBACK) {
        job_count_response(j, 0, 0);
        if (is_put)
            task_may_have_applied(t, 0);
        return ATT_CANCELLED;
    }
    job_count_response(j, r.status, rc != 0);
    if (rc != 0) {
        if (is_put)
            task_may_have_applied(t, 0);
        snprintf(msg, 640, "no response%s: %s", is_put ? " (outcome unknown)" : "", r.error);
        if (job_never_connected(&r))
            job_note_reach(j, 0, job_tls_error(r.curl_rc), msg);
        return ATT_RETRY;
    }
    job_note_reach(j, 1, 0, NULL);
    *status = t->status = r.status;
    if (r.status >= 200 && r.status < 300) {
        t->replayed = r.replayed;
        if (is_put)
            t->unknown = 0; /* this attempt was applied, or replayed one that was: the outcome is known */
        return q->keep ? job_keep_response(t, &r) : ATT_OK;
    }
    if (is_put && r.status >= 500 && r.status < 600)
        task_may_have_applied(t, r.status);
    char detail[400];
    const char *const secrets[] = {w->token}; /* a server may echo Authorization */
    cxb_http_error_message(r.body, r.body_len, secrets, 1, detail, sizeof detail);
    if (j->cfg.cxone && r.status == 403)
        cxb_cxone_forbidden(!is_put, detail, msg, 640);
    else
        snprintf(msg, 640, "HTTP %ld%s%s%s", r.status, detail[0] ? ": " : "", detail,
                 r.status >= 300 && r.status < 400
                     ? " (a redirect: never followed, so credentials cannot leak; check base_url)"
                     : "");
    *retry_after = r.retry_after;
    if (r.status == 401)
        return ATT_REAUTH;
    return status_is_retryable(r.status) ? ATT_RETRY : ATT_FAIL;
}

/* cxone: the read-back before a resend. ATT_OK with t->verified when the contact already shows
 * the wanted disposition; ATT_RETRY with *send = 1 when the POST must go (again); else the
 * read's own failure (retry, reauth, fail). */
static job_attempt_kind job_cxone_readback(job_worker *w, cxb_task *t, const char *base, int *send,
                                           char *msg, long *status, double *retry_after)
{
    cxb_job *j = w->job;
    char *url = cxb_cxone_contact_url(base, j->cfg.api_version, t->contact_id, 1);
    if (!url) {
        snprintf(msg, 640, "out of memory building the read-back URL");
        return ATT_FAIL;
    }
    job_req q = {"GET", url, 0, 0, 1};
    job_attempt_kind k = job_send(w, t, &q, msg, status, retry_after);
    free(url);
    if (k != ATT_OK)
        return k;
    char err[400];
    enum cxb_disposition_check c = cxb_cxone_readback(t->response, t->response_len, t->body, t->body_len,
                                                       err, sizeof err);
    free(t->response);
    t->response = NULL;
    t->response_len = 0;
    if (c == CXB_DISP_INVALID) {
        snprintf(msg, 640, "%s", err);
        return ATT_FAIL;
    }
    if (c == CXB_DISP_MATCHES) {
        t->verified = 1; /* our lost POST (or one with the same effect) was applied */
        t->unknown = 0;
        return ATT_OK;
    }
    *send = 1;
    return ATT_RETRY;
}

/* cxone: one attempt of a task. A skill fetch is one GET. A contact's set-disposition is POSTed,
 * but never again after an attempt whose outcome is unknown without first reading the contact's
 * disposition back (docs/cxone.md "Exactly once without an Idempotency-Key"). */
static job_attempt_kind job_cxone_attempt(job_worker *w, cxb_task *t, char *msg, long *status,
                                          double *retry_after)
{
    cxb_job *j = w->job;
    const char *base = cxb_auth_api_base(&j->auth);
    job_attempt_kind k;
    if (t->fetch) {
        char *url = cxb_cxone_skill_url(base, j->cfg.api_version, t->contact_id);
        job_req q = {"GET", url, 0, 0, 1};
        k = url ? job_send(w, t, &q, msg, status, retry_after) : ATT_FAIL;
        if (!url)
            snprintf(msg, 640, "out of memory building the URL");
        free(url);
        return k;
    }
    if (t->unknown) {
        int send = 0;
        k = job_cxone_readback(w, t, base, &send, msg, status, retry_after);
        if (!send) {
            if (k == ATT_FAIL && *status == 403)
                job_set_fatal(j, msg);
            return k;
        }
    }
    char *url = cxb_cxone_contact_url(base, j->cfg.api_version, t->contact_id, 0);
    if (!url) {
        snprintf(msg, 640, "out of memory building the URL");
        return ATT_FAIL;
    }
    job_req q = {"POST", url, 1, 0, 0};
    k = job_send(w, t, &q, msg, status, retry_after);
    free(url);
    if (k == ATT_FAIL && *status == 403)
        job_set_fatal(j, msg); /* no task can succeed without the permission */
    return k;
}

/* Waits before the next attempt (backoff, Retry-After, pool pause). 1 when cancelled. */
static int job_before_retry(job_worker *w, cxb_task *t, int retries, long status, double retry_after,
                            const char *msg)
{
    cxb_job *j = w->job;
    const cxb_config *cfg = &j->cfg;
    double delay = cxb_backoff_delay(cfg->backoff_base, cfg->backoff_max, retries, &w->rng);
    if (retry_after > delay)
        delay = retry_after; /* Retry-After is the minimum wait, not an addend */
    if (retry_after > cfg->pause_threshold) {
        /* The tenant is throttled for long: hold the whole pool, not just this worker. */
        cxb_limiter_pause(j->lim, cxb_now_mono() + retry_after);
        job_event(j, CXB_EV_PAUSE, t, t->attempts, status, retry_after, msg);
        job_event(j, CXB_EV_RETRY, t, t->attempts, status, retry_after, msg);
        return 0;
    }
    job_event(j, CXB_EV_RETRY, t, t->attempts, status, delay, msg);
    return job_sleep(j, delay);
}

/* Sends `method` for the task until it succeeds, fails for good, or the job is cancelled.
 * Returns 1 when the final answer was a success (2xx), else 0 with t->error set. */
static int job_request(job_worker *w, cxb_task *t, const char *method)
{
    cxb_job *j = w->job;
    int is_put = strcmp(method, "GET") != 0;
    int retries = 0, reauthed = 0;
    char msg[640];
    for (;;) {
        long status = 0;
        double retry_after = -1;
        msg[0] = '\0';
        /* The limiter first, then the token: a token taken before a long wait in the bucket
         * could expire on the way (short-lived tokens). */
        if (atomic_load(&j->cancel) || cxb_limiter_acquire(j->lim, &j->cancel) != 0) {
            task_cancelled(j, t, 0);
            return 0;
        }
        cxb_auth_result ar;
        cxb_auth_status as = cxb_auth_get(&j->auth, &w->http, j->lim, &j->cancel, w->token, &ar);
        if (ar.fetched) {
            job_event(j, CXB_EV_TOKEN, NULL, 0, 200, 0, NULL);
            job_note_reach(j, 1, 0, NULL);
        }
        if (as == CXB_AUTH_FATAL)
            job_set_fatal(j, ar.msg);
        if (as == CXB_AUTH_CANCELLED || as == CXB_AUTH_FATAL) {
            task_cancelled(j, t, 0);
            return 0;
        }
        job_attempt_kind k = ATT_RETRY;
        if (as == CXB_AUTH_TRANSIENT) {
            snprintf(msg, sizeof msg, "%s", ar.msg);
            retry_after = ar.retry_after;
            if (job_token_down(ar.msg)) /* libcurl names a failed handshake "SSL ..." */
                job_note_reach(j, 0, strstr(ar.msg, "SSL") || strstr(ar.msg, "TLS"), ar.msg);
        } else if (j->cfg.cxone) {
            k = job_cxone_attempt(w, t, msg, &status, &retry_after);
        } else {
            k = job_send_once(w, t, method, is_put, msg, &status, &retry_after);
        }
        if (k == ATT_OK)
            return 1;
        if (k == ATT_CANCELLED) {
            task_cancelled(j, t, 1);
            return 0;
        }
        if (k == ATT_REAUTH && !reauthed) {
            /* The token expired or was revoked under us: one refresh, one more try. */
            reauthed = 1;
            cxb_auth_invalidate(&j->auth, ar.gen);
            job_event(j, CXB_EV_REAUTH, t, t->attempts, status, 0, msg);
            continue;
        }
        if (k == ATT_FAIL || k == ATT_REAUTH) {
            if (!t->error)
                task_fail(t, msg);
            return 0;
        }
        /* Retryable: 429, 5xx, 409, transport errors, transient token failures. */
        if (retries >= j->cfg.max_retries) {
            t->status = status;
            char gave[700];
            snprintf(gave, sizeof gave, "%s (gave up after %d %s)", msg, retries + 1,
                     retries ? "attempts" : "attempt");
            task_fail(t, gave);
            return 0;
        }
        if (job_before_retry(w, t, retries++, status, retry_after, msg)) {
            task_cancelled(j, t, 0);
            return 0;
        }
    }
}

static void job_run_task(job_worker *w, cxb_task *t)
{
    t->started = cxb_now_mono();
    if (!w->http_ok) {
        task_set_error(t, "out of memory creating the HTTP handle");
        return;
    }
    if (t->fetch) {
        t->ok = job_request(w, t, "GET");
        return;
    }
    if (w->job->cfg.cxone) {
        t->ok = job_request(w, t, "POST");
        if (t->ok) {
            free(t->error);
            t->error = NULL;
        }
        return;
    }
    if (w->job->cfg.preflight) {
        if (!job_request(w, t, "GET")) {
            if (t->status == 404 && !t->cancelled) {
                t->skipped = 1;
                task_set_error(t, "HTTP 404: contact %s does not exist (pre-flight GET); no update sent",
                               t->contact_id);
            }
            return;
        }
        t->status = 0;
    }
    t->ok = job_request(w, t, "PUT");
    if (t->ok) {
        free(t->error);
        t->error = NULL;
    }
}

/* ---- threads -------------------------------------------------------------------------------- */

static void job_free(cxb_job *j);

static void *job_worker_main(void *arg)
{
    cxb_job *j = arg;
    job_worker *w = calloc(1, sizeof *w);
    if (w) {
        w->job = j;
        cxb_http_opts ho = {j->cfg.timeout, j->cfg.connect_timeout, j->cfg.ca_file, j->cfg.insecure, NULL};
        w->http_ok = cxb_http_init(&w->http, &ho, &j->cancel) == 0;
        w->rng = cxb_rng_seed((uint64_t)(uintptr_t)w);
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (cxb_queue_len(&j->tasks) == 0 && !j->input_closed && !atomic_load(&j->cancel))
            pthread_cond_wait(&j->cv_work, &j->mu);
        cxb_task *t = cxb_queue_pop(&j->tasks);
        pthread_mutex_unlock(&j->mu);
        if (!t)
            break;
        if (!w) {
            t->started = cxb_now_mono();
            task_set_error(t, "out of memory starting a worker");
        } else if (atomic_load(&j->cancel)) {
            t->started = cxb_now_mono();
            task_cancelled(j, t, 0);
        } else {
            job_run_task(w, t);
        }
        pthread_mutex_lock(&j->mu);
        job_push_result_locked(j, t);
        pthread_mutex_unlock(&j->mu);
    }
    if (w) {
        if (w->http_ok)
            cxb_http_cleanup(&w->http);
        memset(w->token, 0, sizeof w->token);
        free(w);
    }
    pthread_mutex_lock(&j->mu);
    j->live_workers--;
    int last = --j->refs == 0;
    pthread_cond_broadcast(&j->cv_owner);
    pthread_mutex_unlock(&j->mu);
    if (last)
        job_free(j); /* the owner released the job without joining (e.g. __gc in nginx) */
    return NULL;
}

static char *job_strdup(const char *s, int *bad)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *bad = 1;
    return d;
}

static void job_free_config(cxb_config *c)
{
    free((char *)c->token_url);
    free((char *)c->client_id);
    if (c->client_secret) {
        memset((char *)c->client_secret, 0, strlen(c->client_secret));
        free((char *)c->client_secret);
    }
    free((char *)c->scope);
    free((char *)c->shared_limit);
    free((char *)c->shared_limit_fallback);
    free((char *)c->ca_file);
    free((char *)c->access_key_id);
    if (c->access_key_secret) {
        memset((char *)c->access_key_secret, 0, strlen(c->access_key_secret));
        free((char *)c->access_key_secret);
    }
    free((char *)c->issuer);
    free((char *)c->tenant_id);
    free((char *)c->api_base);
    free((char *)c->api_version);
}

static void job_free(cxb_job *j)
{
    cxb_task *t;
    while ((t = cxb_queue_pop(&j->tasks)))
        cxb_task_free(t);
    for (size_t i = 0; i < j->res_len; i++)
        cxb_task_free(j->results[(j->res_head + i) % j->res_cap]);
    free(j->results);
    cxb_queue_destroy(&j->tasks);
    if (j->lim)
        cxb_limiter_free(j->lim);
    cxb_auth_destroy(&j->auth);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv_work);
    pthread_cond_destroy(&j->cv_owner);
    job_free_config(&j->cfg);
    free(j->threads);
    free(j);
}

cxb_job *cxb_job_new(const cxb_config *cfg, char *err, size_t errlen)
{
    cxb_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int bad = 0;
    j->cfg = *cfg;
    j->cfg.token_url = job_strdup(cfg->token_url, &bad);
    j->cfg.client_id = job_strdup(cfg->client_id, &bad);
    j->cfg.client_secret = job_strdup(cfg->client_secret, &bad);
    j->cfg.scope = job_strdup(cfg->scope, &bad);
    j->cfg.shared_limit = job_strdup(cfg->shared_limit, &bad);
    j->cfg.shared_limit_fallback = job_strdup(cfg->shared_limit_fallback, &bad);
    j->cfg.ca_file = job_strdup(cfg->ca_file, &bad);
    j->cfg.access_key_id = job_strdup(cfg->access_key_id, &bad);
    j->cfg.access_key_secret = job_strdup(cfg->access_key_secret, &bad);
    j->cfg.issuer = job_strdup(cfg->issuer, &bad);
    j->cfg.tenant_id = job_strdup(cfg->tenant_id, &bad);
    j->cfg.api_base = job_strdup(cfg->api_base, &bad);
    j->cfg.api_version = job_strdup(cfg->api_version ? cfg->api_version : "v33.0", &bad);
    if (j->cfg.workers < 1)
        j->cfg.workers = 1;
    size_t qs = cfg->queue_size ? cfg->queue_size : (size_t)j->cfg.workers * 4;
    j->max_outstanding = qs + (size_t)j->cfg.workers;
    j->res_cap = j->max_outstanding;
    j->results = calloc(j->res_cap, sizeof *j->results);
    j->threads = calloc((size_t)j->cfg.workers, sizeof *j->threads);
    if (bad || !j->results || !j->threads || cxb_queue_init(&j->tasks, j->max_outstanding) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail_early;
    }
    cxb_limit_config lc = {cfg->rate, cfg->burst, cfg->shared_limit, cfg->shared_limit_timeout,
                           cfg->shared_limit_fallback};
    j->lim = cxb_limiter_open(&lc, err, errlen);
    if (!j->lim)
        goto fail_early;
    cxb_auth_config ac = {j->cfg.token_url, j->cfg.client_id, j->cfg.client_secret, j->cfg.scope,
                          "contact:update", cfg->basic_auth, cfg->cxone, j->cfg.access_key_id,
                          j->cfg.access_key_secret, j->cfg.issuer, j->cfg.tenant_id, j->cfg.api_base};
    if (cxb_auth_init(&j->auth, &ac, err, errlen) != 0)
        goto fail_lim;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv_work, &ca);
    pthread_cond_init(&j->cv_owner, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&j->cancel, 0);
    cxb_limiter_set_notify(j->lim, job_limiter_note, j);
    j->pid = getpid();
    j->started = cxb_now_mono();
    j->refs = 1;

    /* Workers block every signal: the host (lua, nginx) keeps signal handling on its thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 0; i < j->cfg.workers; i++) {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        j->live_workers++;
        pthread_mutex_unlock(&j->mu);
        int rc = pthread_create(&j->threads[i], NULL, job_worker_main, j);
        if (rc != 0) {
            pthread_mutex_lock(&j->mu);
            j->refs--;
            j->live_workers--;
            pthread_mutex_unlock(&j->mu);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            snprintf(err, errlen, "could not start worker thread %d of %d: %s", i + 1, j->cfg.workers,
                     strerror(rc));
            j->nthreads = i;
            cxb_job_close(j);
            return NULL;
        }
        j->nthreads = i + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return j;

fail_lim:
    cxb_limiter_free(j->lim);
fail_early:
    free(j->results);
    free(j->threads);
    cxb_queue_destroy(&j->tasks);
    job_free_config(&j->cfg);
    free(j);
    return NULL;
}

int cxb_job_submit(cxb_job *j, cxb_task *t, const char *invalid_msg)
{
    pthread_mutex_lock(&j->mu);
    if (j->outstanding >= j->max_outstanding) {
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    j->outstanding++;
    j->c.total++;
    if (invalid_msg || atomic_load(&j->cancel)) {
        t->started = cxb_now_mono();
        if (invalid_msg) {
            t->invalid = 1;
            task_set_error(t, "%s", invalid_msg);
        } else {
            pthread_mutex_unlock(&j->mu);
            task_cancelled(j, t, 0);
            pthread_mutex_lock(&j->mu);
        }
        job_push_result_locked(j, t);
    } else {
        cxb_queue_push(&j->tasks, t); /* has room: queue capacity == max_outstanding */
        pthread_cond_signal(&j->cv_work);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

int cxb_job_submit_fetch(cxb_job *j, cxb_task *t)
{
    pthread_mutex_lock(&j->mu);
    if (j->outstanding >= j->max_outstanding) {
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    t->fetch = 1;
    j->outstanding++;
    cxb_queue_push(&j->tasks, t);
    pthread_cond_signal(&j->cv_work);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

void cxb_job_close_input(cxb_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->input_closed = 1;
    pthread_cond_broadcast(&j->cv_work);
    pthread_mutex_unlock(&j->mu);
}

int cxb_job_has_slot(cxb_job *j)
{
    pthread_mutex_lock(&j->mu);
    int r = j->outstanding < j->max_outstanding;
    pthread_mutex_unlock(&j->mu);
    return r;
}

int cxb_job_finished(cxb_job *j)
{
    pthread_mutex_lock(&j->mu);
    int r = j->input_closed && j->outstanding == 0;
    pthread_mutex_unlock(&j->mu);
    return r;
}

/* Waits (j->mu held) until a result is ready, nothing is outstanding, or `wait` seconds passed
 * (any wait >= 0, math.huge included: cxb_deadline_ts clamps it). A worker skips the wake-up for
 * a result pushed within JOB_WAKE_COALESCE of the last one, so the owner first sleeps only until
 * that window closes and looks; after it, every push signals, so a long wait cannot miss one. */
static void job_wait_results(cxb_job *j, double wait)
{
    struct timespec dl = cxb_deadline_ts(wait);
    double window = j->last_wake + JOB_WAKE_COALESCE - cxb_now_mono();
    j->owner_waiting = 1;
    while (j->res_len == 0 && j->outstanding > 0) {
        int rc;
        if (window > 0 && window < wait) {
            struct timespec w = cxb_deadline_ts(window + 0.001);
            window = 0;
            rc = pthread_cond_timedwait(&j->cv_owner, &j->mu, &w);
            if (rc == ETIMEDOUT)
                continue;
        } else {
            rc = pthread_cond_timedwait(&j->cv_owner, &j->mu, &dl);
        }
        if (rc != 0)
            break; /* ETIMEDOUT, or EINVAL: never spin holding the mutex */
    }
    j->owner_waiting = 0;
}

size_t cxb_job_take(cxb_job *j, cxb_task **out, size_t max, double wait, int want_slot)
{
    pthread_mutex_lock(&j->mu);
    if (j->res_len == 0 && wait > 0 && !(want_slot && j->outstanding < j->max_outstanding))
        job_wait_results(j, wait);
    size_t n = 0;
    while (n < max && j->res_len > 0) {
        out[n++] = j->results[j->res_head];
        j->res_head = (j->res_head + 1) % j->res_cap;
        j->res_len--;
    }
    j->outstanding -= n;
    pthread_mutex_unlock(&j->mu);
    return n;
}

size_t cxb_job_events(cxb_job *j, cxb_event *out, size_t max)
{
    pthread_mutex_lock(&j->mu);
    size_t n = 0;
    while (n < max && j->ev_len > 0) {
        out[n++] = j->events[j->ev_head];
        j->ev_head = (j->ev_head + 1) % CXB_EVENTS_CAP;
        j->ev_len--;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

void cxb_job_cancel(cxb_job *j)
{
    atomic_store(&j->cancel, 1);
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->cv_work);
    pthread_mutex_unlock(&j->mu);
}

void cxb_job_cancel_reason(cxb_job *j, const char *reason)
{
    pthread_mutex_lock(&j->mu);
    if (!j->cancel_reason[0] && reason)
        snprintf(j->cancel_reason, sizeof j->cancel_reason, "%s", reason);
    pthread_mutex_unlock(&j->mu);
    cxb_job_cancel(j);
}

void cxb_job_counters(cxb_job *j, cxb_counters *out, char *fatal, size_t fatallen)
{
    pthread_mutex_lock(&j->mu);
    *out = j->c;
    if (fatal && fatallen)
        snprintf(fatal, fatallen, "%s", j->fatal ? j->fatal_msg : "");
    pthread_mutex_unlock(&j->mu);
}

void cxb_job_close(cxb_job *j)
{
    cxb_job_cancel(j);
    cxb_job_close_input(j);
    for (int i = 0; i < j->nthreads; i++)
        pthread_join(j->threads[i], NULL);
    job_free(j);
}

void cxb_job_release(cxb_job *j)
{
    cxb_job_cancel(j);
    cxb_job_close_input(j);
    for (int i = 0; i < j->nthreads; i++)
        pthread_detach(j->threads[i]);
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last)
        job_free(j);
}
