/* libmicrohttpd glue: request lifecycle (body accumulation, the arrival of API requests,
 * delayed answers via suspend/resume, idempotency completion) and server start/stop. Routing
 * is in routes.c, the answers' helpers in reply.c, setting up the state in mock.c. */
#include <arpa/inet.h>
#include <math.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mock.h"
#include "routes.h"

/* ---------------------------------------------------------------- /api/ arrival */

/* Everything decided the moment an /api/ request arrives (it was logged already): it
 * takes a token from the tenant bucket, and injected faults are drawn. The verdict (if
 * any) is answered once the body has been read, so keep-alive connections survive. */
static void api_arrival(struct mock *m, struct req *r)
{
    stats_enter(&m->stats);
    r->in_flight = true;

    double error_rate;
    int statuses[MAX_ERROR_STATUSES];
    size_t n_statuses;
    pthread_rwlock_rdlock(&m->cfg_lock);
    error_rate = m->cfg.error_rate;
    n_statuses = m->cfg.n_error_statuses;
    memcpy(statuses, m->cfg.error_statuses, sizeof statuses);
    r->faults.latency_ms = m->cfg.latency_ms;
    r->faults.jitter_ms = m->cfg.latency_jitter_ms;
    r->faults.drop = m->cfg.drop_after_mutate;
    r->faults.late = m->cfg.late_after_mutate;
    r->faults.late_seconds = m->cfg.late_seconds;
    r->faults.error_after = m->cfg.error_after_mutate;
    r->faults.retry_after_date = m->cfg.retry_after_date;
    r->faults.retention = m->cfg.retention;
    pthread_rwlock_unlock(&m->cfg_lock);

    long once = atomic_load_explicit(&m->once_429, memory_order_relaxed);
    double wait = 0;
    if (once > 0 && atomic_compare_exchange_strong(&m->once_429, &once, 0)) {
        reply_error(&r->reply, 429, "rate_limited", "too many requests (one-off 429 injected by once_429_retry_after)");
        reply_retry_after(&r->reply, (double)once, r->faults.retry_after_date);
        stats_bump(&m->stats, SC_RATE_LIMITED);
    } else if (!ratelimit_take(&m->limiter, req_now(r), &wait)) {
        reply_error(&r->reply, 429, "rate_limited", "tenant rate limit exceeded");
        reply_retry_after(&r->reply, wait, r->faults.retry_after_date);
        stats_bump(&m->stats, SC_RATE_LIMITED);
    } else if (rng_chance(&m->rng, error_rate) && n_statuses > 0) {
        unsigned st = (unsigned)statuses[rng_next(&m->rng) % n_statuses];
        reply_error(&r->reply, st, "injected_fault", "fault injected by the mock (error_rate)");
        if (st == 429 || st == 503)
            reply_retry_after(&r->reply, 1, r->faults.retry_after_date);
        stats_bump(&m->stats, SC_INJECTED_ERRORS);
    }
}

/* ---------------------------------------------------------------- answering */

/* Stores (or forgets) the idempotency record claimed by this request. Injected faults
 * never get here: keys are claimed only after them. 5xx answers are not stored so a
 * retry runs again. */
static void finish_claim(struct mock *m, struct req *r)
{
    if (!r->idem_claimed)
        return;
    r->idem_claimed = false;
    const struct reply *rep = &r->reply;
    if (rep->status == 0 || rep->status >= 500)
        idem_release(m->idem, r->idem_key, r->idem_key_len, r->idem_claim);
    else
        idem_complete(m->idem, r->idem_key, r->idem_key_len, r->idem_claim, rep->status, rep->body, rep->len,
                      mock_now());
}

static enum MHD_Result send_reply(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    struct reply *rep = &r->reply;
    if (rep->status == 0)
        reply_error(rep, 500, "internal_error", "no answer was prepared");
    finish_claim(m, r);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        rep->len, rep->body, rep->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    if (!rep->body_static)
        rep->body = NULL; /* MHD frees it */
    enum MHD_Result ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (ok && rep->retry_after[0])
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, rep->retry_after);
    if (ok && rep->allow)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
    if (ok && rep->www_authenticate)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, rep->www_authenticate);
    if (ok && rep->replayed)
        ok = MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (ok && rep->no_store) {
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (ok)
            ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
    }
    if (ok)
        ok = MHD_queue_response(c, rep->status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    if (!r->admin)
        stats_count_status(&m->stats, rep->status);
    return ok;
}

/* Parks the connection until the delayer resumes it; MHD then calls the handler again
 * and the prepared reply goes out. The worker thread is free meanwhile. */
static enum MHD_Result suspend_until(struct mock *m, struct req *r, struct MHD_Connection *c, uint64_t due)
{
    r->suspended = true;
    atomic_fetch_add(&m->suspended, 1);
    MHD_suspend_connection(c);
    if (delayer_add(m->delayer, due, c) != 0)
        MHD_resume_connection(c); /* shutting down (or no memory): answer right away */
    return MHD_YES;
}

static enum MHD_Result finish_request(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    if (r->suspended) { /* resumed by the delayer */
        r->suspended = false;
        atomic_fetch_sub(&m->suspended, 1);
        return send_reply(m, r, c);
    }
    if (r->too_large)
        reply_error(&r->reply, 413, "payload_too_large", "request body exceeds %zu bytes", m->max_body);
    else if (r->reply.status == 0)
        route_dispatch(m, r, c);

    if (r->drop) {
        finish_claim(m, r); /* the mutation happened; a retry must replay it */
        stats_bump(&m->stats, SC_DROPPED);
        return MHD_NO;      /* MHD closes the connection without an answer */
    }
    if (r->api) {
        double ms = r->faults.latency_ms;
        if (r->faults.jitter_ms > 0)
            ms += floor(rng_unit(&m->rng) * (r->faults.jitter_ms + 1));
        r->delay_ns += (uint64_t)(ms * 1e6);
    }
    if (r->delay_ns > 0)
        return suspend_until(m, r, c, mono_ns() + r->delay_ns);
    return send_reply(m, r, c);
}

/* Appends one chunk of the request body; beyond max_body the rest is discarded and
 * the request will be answered 413. */
static void take_body(struct mock *m, struct req *r, const char *data, size_t n)
{
    if (r->too_large)
        return;
    if (r->body_len + n > m->max_body) {
        r->too_large = true;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap * 2;
        if (cap < r->body_len + n + 1)
            cap = r->body_len + n + 1;
        if (cap > m->max_body + 1)
            cap = m->max_body + 1;
        char *nb = malloc(cap);
        if (!nb) {
            r->too_large = true; /* cannot hold it: refuse like an oversized body */
            return;
        }
        memcpy(nb, r->body, r->body_len);
        if (r->body != r->body_inline)
            free(r->body);
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

static bool declared_too_large(struct MHD_Connection *c, size_t max)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    return end != cl && n > max;
}

static enum MHD_Result begin_request(struct mock *m, struct MHD_Connection *c, const char *url,
                                     const char *method, void **con_cls)
{
    /* malloc + zeroing the head only: calloc would clear ~2 KiB of buffers per request. */
    struct req *r = malloc(sizeof *r);
    if (!r)
        return MHD_NO;
    memset(r, 0, offsetof(struct req, id));
    r->id[0] = '\0';
    *con_cls = r;
    r->method = route_method(method);
    r->method_name = method;
    r->path = url;
    r->body = r->body_inline;
    r->body_cap = sizeof r->body_inline;
    route_request(r, url, m->families);
    if (!r->admin)
        stats_count_request(&m->stats, route_stat(r));
    enum arrival_log log = route_arrival_log(r);
    r->arrival_ns = log == ARRIVAL_NONE ? mono_ns() : stats_arrival(&m->stats, log);
    if (r->api)
        api_arrival(m, r);
    if (declared_too_large(c, m->max_body)) {
        /* Refuse before reading it; MHD closes the connection after this answer. */
        r->too_large = true;
        reply_error(&r->reply, 413, "payload_too_large", "request body exceeds %zu bytes", m->max_body);
        return send_reply(m, r, c);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct mock *m = cls;
    struct req *r = *con_cls;
    if (!r)
        return begin_request(m, c, url, method, con_cls);
    if (*upload_data_size > 0) {
        take_body(m, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES; /* answered early (413) in begin_request */
    return finish_request(m, r, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct mock *m = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    finish_claim(m, r); /* only does something if the answer never went out */
    if (r->in_flight)
        stats_leave(&m->stats);
    if (m->verbose) {
        double ms = (double)(mono_ns() - r->arrival_ns) / 1e6;
        const char *how = r->drop ? " (dropped)"
                          : toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                                      : " (connection closed early)";
        char status[16];
        snprintf(status, sizeof status, "%u", r->reply.status);
        fprintf(stderr, "cxone-mock: %s %s -> %s %.1f ms%s\n", r->method_name, r->path,
                r->drop ? "no answer" : status, ms, how);
    }
    reply_release(&r->reply);
    if (r->body != r->body_inline)
        free(r->body);
    free(r);
    *con_cls = NULL;
}

/* MHD would percent-decode the path before we see it, turning "a%2Fb" into "a/b".
 * Keeping it raw lets the contact id be decoded as one opaque segment. */
static size_t keep_raw(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* ---------------------------------------------------------------- lifecycle */

/* libmicrohttpd's own error messages, prefixed. A dropped connection (drop_after_mutate)
 * is deliberate, so MHD's complaint about it is not repeated. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (strstr(msg, "Application reported internal error"))
        return;
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fprintf(stderr, "cxone-mock: libmicrohttpd: %s\n", msg);
}

int mock_listen(struct mock *m, unsigned port, unsigned threads, bool quiet, unsigned *bound, char *err,
                size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A fixed port is known before the first request can arrive; port 0 is learnt below,
     * before it is printed, so no client can ask for it earlier. */
    atomic_store(&m->port, port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
    if (!quiet)
        flags |= MHD_USE_ERROR_LOG;
    m->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, m,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* must come first */
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                                 MHD_OPTION_UNESCAPE_CALLBACK, keep_raw, NULL,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                                 /* MHD zeroes the whole per-connection pool after every
                                  * request; 16 KiB (default 32) halves that and still
                                  * takes ~8 KiB of request headers. */
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                                 MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%u (port in use?)", port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        snprintf(err, errlen, "cannot find the bound port");
        return -1;
    }
    *bound = info->port;
    atomic_store(&m->port, info->port);
    return 0;
}

void mock_shutdown(struct mock *m)
{
    if (!m->daemon)
        return;
    /* Answer every parked request first: MHD must not be stopped with suspended
     * connections. The delayer resumes them all and refuses new ones. */
    delayer_halt(m->delayer);
    for (int i = 0; i < 2000 && atomic_load(&m->suspended) > 0; i++)
        usleep(1000);
    MHD_stop_daemon(m->daemon);
    m->daemon = NULL;
}
