#include "attempt.h"
#include "backoff.h"
#include "clock.h"
#include "cxone_request.h"
#include "job_internal.h"
#include "redact.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cxb_worker {
    cxb_job *job;
    const cxb_config *cfg;
    cxb_limiter *lim;
    cxb_auth *auth;
    const atomic_int *cancel;
    cxb_http http;
    int http_ok;
    uint64_t rng;
    char token[CXB_TOKEN_MAX];
    char auth_hdr[CXB_TOKEN_MAX + 32];
    char key_hdr[320];
};

/* What one attempt came to. */
typedef enum { ATT_OK, ATT_FAIL, ATT_RETRY, ATT_REAUTH, ATT_CANCELLED, ATT_FATAL } att_kind;

typedef struct att_outcome {
    long status;         /* the attempt's HTTP status, 0 when none came back */
    double retry_after;  /* the answer's Retry-After in seconds, -1 when none */
    uint64_t gen;        /* generation of the token the attempt carried (for a reauth) */
    int in_flight;       /* ATT_CANCELLED: the transfer was aborted mid-way */
    char msg[640];       /* why, when not ATT_OK */
} att_outcome;

/* One request of a task: what to send and how its answer is treated. */
typedef struct att_req {
    const char *method, *url;
    int mutating;  /* a PUT/POST: no answer or a 5xx may have applied it; a 2xx clears that */
    int with_key;  /* send the task's Idempotency-Key (tutorial) */
    int keep;      /* keep a 2xx body in t->response (fetches, read-backs) */
} att_req;

/* ---- workers ------------------------------------------------------------------------------ */

cxb_worker *cxb_worker_new(cxb_job *j)
{
    cxb_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->job = j;
    w->cfg = cxb_job_config(j);
    w->lim = cxb_job_limiter(j);
    w->auth = cxb_job_auth(j);
    w->cancel = cxb_job_cancel_flag(j);
    cxb_http_opts ho = {w->cfg->timeout, w->cfg->connect_timeout, w->cfg->ca_file, w->cfg->insecure, NULL};
    w->http_ok = cxb_http_init(&w->http, &ho, w->cancel) == 0;
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

/* Sleeps up to `seconds`, returning early (1) when the job is cancelled. */
static int att_sleep(const cxb_worker *w, double seconds)
{
    double until = cxb_now_mono() + seconds;
    for (;;) {
        if (atomic_load(w->cancel))
            return 1;
        double left = until - cxb_now_mono();
        if (left <= 0)
            return 0;
        double step = left < 0.05 ? left : 0.05;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* ---- classification ----------------------------------------------------------------------- */

static int att_status_retryable(long s)
{
    return s == 429 || s == 409 || s == 408 || s == 500 || s == 502 || s == 503 || s == 504;
}

static int att_tls_error(CURLcode rc)
{
    return rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

/* A transport failure before any connection stood: DNS, refused, TLS, or a timeout while
 * resolving or connecting (libcurl says "Resolving/Connection timed out" then, and "Operation
 * timed out" once connected). A reset or a slow answer on an open connection shows the server
 * is there: it neither counts nor resets. */
static int att_never_connected(const cxb_http_resp *r)
{
    CURLcode rc = r->curl_rc;
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
        rc == CURLE_COULDNT_CONNECT || att_tls_error(rc))
        return 1;
    return rc == CURLE_OPERATION_TIMEDOUT && (strncmp(r->error, "Resolving timed out", 19) == 0 ||
                                              strncmp(r->error, "Connection timed out", 20) == 0);
}

/* A transient token failure that means the token endpoint is down (no answer or a 5xx), not
 * throttled: auth.c phrases those two cases so. */
static int att_token_down(const char *msg)
{
    return strncmp(msg, "token request failed", 20) == 0 ||
           strncmp(msg, "token endpoint answered HTTP 5", 30) == 0;
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

/* Keeps a fetch's 2xx body in t->response. ATT_OK, or ATT_FAIL with t->error set. */
static att_kind att_keep_response(cxb_task *t, const cxb_http_resp *r)
{
    t->response = malloc(r->body_len + 1);
    if (!t->response) {
        cxb_task_set_error(t, "out of memory keeping the response");
        return ATT_FAIL;
    }
    memcpy(t->response, r->body, r->body_len + 1);
    t->response_len = r->body_len;
    if (r->truncated) {
        cxb_task_set_error(t, "response larger than %d bytes", CXB_HTTP_BODY_CAP);
        return ATT_FAIL;
    }
    return ATT_OK;
}

/* A non-2xx answer: the message (secrets redacted), its Retry-After, and how to go on. */
static att_kind att_classify_status(cxb_worker *w, cxb_task *t, const att_req *q, const cxb_http_resp *r,
                                    att_outcome *o)
{
    if (q->mutating && r->status >= 500 && r->status < 600)
        cxb_task_may_have_applied(t, r->status);
    char detail[400];
    const char *const secrets[] = {w->token}; /* a server may echo Authorization */
    cxb_http_error_message(r->body, r->body_len, secrets, 1, detail, sizeof detail);
    if (w->cfg->cxone && r->status == 403)
        cxb_cxone_forbidden(!q->mutating, detail, o->msg, sizeof o->msg);
    else
        snprintf(o->msg, sizeof o->msg, "HTTP %ld%s%s%s", r->status, detail[0] ? ": " : "", detail,
                 r->status >= 300 && r->status < 400
                     ? " (a redirect: never followed, so credentials cannot leak; check base_url)"
                     : "");
    o->retry_after = r->retry_after;
    if (r->status == 401)
        return ATT_REAUTH;
    return att_status_retryable(r->status) ? ATT_RETRY : ATT_FAIL;
}

/* Sends one request and classifies it. A PUT/POST that got no answer or a 5xx is recorded as
 * may-have-applied (sticky). */
static att_kind att_send(cxb_worker *w, cxb_task *t, const att_req *q, att_outcome *o)
{
    att_headers hb;
    struct curl_slist *hdrs = att_build_headers(w, &hb, t, q->mutating, q->with_key);
    cxb_http_resp r;
    t->attempts++;
    w->http.fresh_next = q->mutating && !q->with_key; /* cxone's POST: no hidden libcurl resend */
    int rc = cxb_http_request(&w->http, q->method, q->url, hdrs, q->mutating ? t->body : NULL,
                              q->mutating ? t->body_len : 0, NULL, &r);
    memset(w->auth_hdr, 0, sizeof w->auth_hdr);
    int aborted = rc != 0 && r.curl_rc == CURLE_ABORTED_BY_CALLBACK;
    cxb_job_count_response(w->job, aborted ? 0 : r.status, rc != 0 && !aborted);
    if (rc != 0 && q->mutating)
        cxb_task_may_have_applied(t, 0);
    if (aborted) {
        o->in_flight = 1;
        return ATT_CANCELLED;
    }
    if (rc != 0) {
        snprintf(o->msg, sizeof o->msg, "no response%s: %s", q->mutating ? " (outcome unknown)" : "",
                 r.error);
        if (att_never_connected(&r))
            cxb_job_note_reach(w->job, 0, att_tls_error(r.curl_rc), o->msg);
        return ATT_RETRY;
    }
    cxb_job_note_reach(w->job, 1, 0, NULL);
    o->status = t->status = r.status;
    if (r.status >= 200 && r.status < 300) {
        t->replayed = r.replayed;
        if (q->mutating)
            t->unknown = 0; /* this attempt was applied, or replayed one that was: the outcome is known */
        return q->keep ? att_keep_response(t, &r) : ATT_OK;
    }
    return att_classify_status(w, t, q, &r, o);
}

/* ---- the cxone profile -------------------------------------------------------------------- */

/* One GET or POST of a URL built for the task (NULL: out of memory building the `what` URL,
 * ATT_FAIL). Frees url. */
static att_kind att_send_url(cxb_worker *w, cxb_task *t, att_req q, char *url, const char *what,
                             att_outcome *o)
{
    if (!url) {
        snprintf(o->msg, sizeof o->msg, "out of memory building the %sURL", what);
        return ATT_FAIL;
    }
    q.url = url;
    att_kind k = att_send(w, t, &q, o);
    free(url);
    return k;
}

/* cxone: the read-back before a resend. ATT_OK with t->verified when the contact already shows
 * the wanted disposition; ATT_RETRY with *send = 1 when the POST must go (again); else the
 * read's own failure (retry, reauth, fail). */
static att_kind att_cxone_readback(cxb_worker *w, cxb_task *t, const char *base, int *send, att_outcome *o)
{
    att_req q = {"GET", NULL, 0, 0, 1};
    att_kind k = att_send_url(w, t, q, cxb_cxone_contact_url(base, w->cfg->api_version, t->contact_id, 1),
                              "read-back ", o);
    if (k != ATT_OK)
        return k;
    char err[400];
    enum cxb_disposition_check c = cxb_cxone_readback(t->response, t->response_len, t->body, t->body_len,
                                                       err, sizeof err);
    free(t->response);
    t->response = NULL;
    t->response_len = 0;
    if (c == CXB_DISP_INVALID) {
        snprintf(o->msg, sizeof o->msg, "%s", err);
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
 * disposition back (docs/cxone.md "Exactly once without an Idempotency-Key"). A 403 on the
 * contact fails the batch: no task can succeed without the permission. */
static att_kind att_cxone(cxb_worker *w, cxb_task *t, att_outcome *o)
{
    const char *base = cxb_auth_api_base(w->auth);
    const char *ver = w->cfg->api_version;
    if (t->fetch) {
        att_req q = {"GET", NULL, 0, 0, 1};
        return att_send_url(w, t, q, cxb_cxone_skill_url(base, ver, t->contact_id), "", o);
    }
    att_kind k = ATT_RETRY;
    int send = !t->unknown;
    if (t->unknown)
        k = att_cxone_readback(w, t, base, &send, o);
    if (send) {
        att_req q = {"POST", NULL, 1, 0, 0};
        k = att_send_url(w, t, q, cxb_cxone_contact_url(base, ver, t->contact_id, 0), "", o);
    }
    if (k == ATT_FAIL && o->status == 403)
        cxb_job_set_fatal(w->job, o->msg);
    return k;
}

/* ---- the attempt loop --------------------------------------------------------------------- */

/* One attempt: the limiter first, then the token (a token taken before a long wait in the
 * bucket could expire on the way), then the request. */
static att_kind att_once(cxb_worker *w, cxb_task *t, const char *method, att_outcome *o)
{
    o->status = 0;
    o->retry_after = -1;
    o->in_flight = 0;
    o->msg[0] = '\0';
    if (atomic_load(w->cancel) || cxb_limiter_acquire(w->lim, w->cancel) != 0)
        return ATT_CANCELLED;
    cxb_auth_result ar;
    cxb_auth_status as = cxb_auth_get(w->auth, &w->http, w->lim, w->cancel, w->token, &ar);
    o->gen = ar.gen;
    if (ar.fetched) {
        cxb_job_event(w->job, CXB_EV_TOKEN, NULL, 0, 200, 0, NULL);
        cxb_job_note_reach(w->job, 1, 0, NULL);
    }
    if (as == CXB_AUTH_FATAL || as == CXB_AUTH_TRANSIENT)
        snprintf(o->msg, sizeof o->msg, "%s", ar.msg);
    if (as == CXB_AUTH_FATAL)
        return ATT_FATAL;
    if (as == CXB_AUTH_CANCELLED)
        return ATT_CANCELLED;
    if (as == CXB_AUTH_TRANSIENT) {
        o->retry_after = ar.retry_after;
        if (att_token_down(ar.msg)) /* libcurl names a failed handshake "SSL ..." */
            cxb_job_note_reach(w->job, 0, strstr(ar.msg, "SSL") || strstr(ar.msg, "TLS"), ar.msg);
        return ATT_RETRY;
    }
    if (w->cfg->cxone)
        return att_cxone(w, t, o);
    int is_put = strcmp(method, "GET") != 0;
    att_req q = {method, t->url, is_put, is_put, t->fetch};
    return att_send(w, t, &q, o);
}

/* Waits before the next attempt (backoff, Retry-After, pool pause). 1 when cancelled. */
static int att_wait(cxb_worker *w, cxb_task *t, int retries, const att_outcome *o)
{
    const cxb_config *cfg = w->cfg;
    double delay = cxb_backoff_delay(cfg->backoff_base, cfg->backoff_max, retries, &w->rng);
    if (o->retry_after > delay)
        delay = o->retry_after; /* Retry-After is the minimum wait, not an addend */
    if (o->retry_after > cfg->pause_threshold) {
        /* The tenant is throttled for long: hold the whole pool, not just this worker. */
        cxb_limiter_pause(w->lim, cxb_now_mono() + o->retry_after);
        cxb_job_event(w->job, CXB_EV_PAUSE, t, t->attempts, o->status, o->retry_after, o->msg);
        cxb_job_event(w->job, CXB_EV_RETRY, t, t->attempts, o->status, o->retry_after, o->msg);
        return 0;
    }
    cxb_job_event(w->job, CXB_EV_RETRY, t, t->attempts, o->status, delay, o->msg);
    return att_sleep(w, delay);
}

/* The task's answer from its last outcome: 1 for ok, else 0 with t->error set. */
static int att_settle(cxb_worker *w, cxb_task *t, att_kind k, const att_outcome *o, int retries)
{
    if (k == ATT_OK)
        return 1;
    if (k == ATT_FATAL)
        cxb_job_set_fatal(w->job, o->msg);
    if (k == ATT_FATAL || k == ATT_CANCELLED) {
        cxb_job_task_cancelled(w->job, t, k == ATT_CANCELLED && o->in_flight);
        return 0;
    }
    if (k == ATT_RETRY) { /* retries exhausted */
        t->status = o->status;
        char gave[700];
        snprintf(gave, sizeof gave, "%s (gave up after %d %s)", o->msg, retries + 1,
                 retries ? "attempts" : "attempt");
        cxb_task_fail(t, gave);
    } else if (!t->error) {
        cxb_task_fail(t, o->msg); /* ATT_FAIL, or a second 401 */
    }
    return 0;
}

/* Sends `method` for the task until it succeeds, fails for good, or the job is cancelled.
 * Retryable: 429, 5xx, 408, 409, transport errors, transient token failures. A 401 gets one
 * token refresh and one more try, not counted as a retry. Returns 1 on a final 2xx. */
static int att_loop(cxb_worker *w, cxb_task *t, const char *method)
{
    int retries = 0, reauthed = 0;
    att_outcome o;
    for (;;) {
        att_kind k = att_once(w, t, method, &o);
        if (k == ATT_REAUTH && !reauthed) {
            reauthed = 1;
            cxb_auth_invalidate(w->auth, o.gen);
            cxb_job_event(w->job, CXB_EV_REAUTH, t, t->attempts, o.status, 0, o.msg);
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
    if (!att_loop(w, t, "GET")) {
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

void cxb_worker_run(cxb_worker *w, cxb_task *t)
{
    t->started = cxb_now_mono();
    if (!w->http_ok) {
        cxb_task_set_error(t, "out of memory creating the HTTP handle");
        return;
    }
    if (t->fetch) {
        t->ok = att_loop(w, t, "GET");
        return;
    }
    if (!w->cfg->cxone && w->cfg->preflight && !att_preflight(w, t))
        return;
    t->ok = att_loop(w, t, w->cfg->cxone ? "POST" : "PUT");
    if (t->ok) {
        free(t->error);
        t->error = NULL;
    }
}
