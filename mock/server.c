/* libmicrohttpd glue: request lifecycle (routing, body accumulation, delayed answers via
 * suspend/resume, idempotency completion) and server start/stop. */
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

static const char OOM_BODY[] = "{\"error\":\"internal_error\",\"message\":\"out of memory\"}";

double mock_now(void)
{
    return (double)mono_ns() / 1e9;
}

double req_now(const struct req *r)
{
    return (double)r->arrival_ns / 1e9;
}

/* ---------------------------------------------------------------- replies */

static void reply_drop_body(struct reply *rep)
{
    if (!rep->body_static)
        free(rep->body);
    rep->body = NULL;
    rep->len = 0;
    rep->body_static = false;
}

void reply_static(struct reply *rep, unsigned status, const char *body, size_t len)
{
    reply_drop_body(rep);
    rep->status = status;
    rep->body = (char *)body;
    rep->len = len;
    rep->body_static = true;
}

void reply_json(struct reply *rep, unsigned status, json_t *body_json)
{
    char *s = body_json ? json_dumps(body_json, JSON_COMPACT) : NULL;
    json_decref(body_json);
    if (!s) {
        reply_static(rep, 500, OOM_BODY, sizeof OOM_BODY - 1);
        return;
    }
    reply_drop_body(rep);
    rep->status = status;
    rep->body = s;
    rep->len = strlen(s);
}

void reply_error(struct reply *rep, unsigned status, const char *error, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s,s:s}", "error", error, "message", msg);
    if (!o) /* the message quoted input that is not UTF-8 */
        o = json_pack("{s:s,s:s}", "error", error, "message", "request rejected");
    reply_json(rep, status, o);
}

void reply_retry_after(struct reply *rep, double secs, bool as_date)
{
    double whole = ceil(secs);
    if (whole < 1)
        whole = 1;
    if (as_date)
        format_http_date(time(NULL) + (time_t)whole, rep->retry_after);
    else
        snprintf(rep->retry_after, sizeof rep->retry_after, "%.0f", whole);
}

/* ---------------------------------------------------------------- routing */

static enum http_method parse_method(const char *m)
{
    if (strcmp(m, "GET") == 0)
        return M_GET;
    if (strcmp(m, "PUT") == 0)
        return M_PUT;
    if (strcmp(m, "POST") == 0)
        return M_POST;
    if (strcmp(m, "HEAD") == 0)
        return M_HEAD;
    return M_OTHER;
}

/* The id is one opaque path segment: percent-decoded here (MHD is told not to), so
 * "%2F" is a '/' inside the id and ".." is just an id, never a path. */
void req_decode_id(struct req *r, const char *seg, size_t n)
{
    char tmp[CONTACT_ID_MAX * 3 + 1];
    if (n > sizeof tmp - 1) {
        r->id_error = "contact id is longer than 512 bytes";
        return;
    }
    long len = pct_decode(seg, n, tmp, false);
    if (len < 0)
        r->id_error = "contact id has a malformed percent-escape";
    else if (len > CONTACT_ID_MAX)
        r->id_error = "contact id is longer than 512 bytes";
    else if (has_control_chars(tmp, (size_t)len))
        r->id_error = "contact id contains control characters";
    else if (!utf8_valid(tmp, (size_t)len))
        r->id_error = "contact id is not valid UTF-8";
    if (r->id_error)
        return;
    memcpy(r->id, tmp, (size_t)len);
    r->id[len] = '\0';
    r->id_len = (size_t)len;
}

/* families: which API profiles answer (--api); the other's paths are unknown routes. */
static void route_path(struct req *r, const char *url, unsigned families)
{
    static const char contacts[] = "/api/v2/contacts/";
    bool tutorial = families & API_TUTORIAL;
    if (tutorial && strcmp(url, "/oauth2/token") == 0) {
        r->route = RT_TOKEN;
    } else if (tutorial && strncmp(url, "/api/", 5) == 0) {
        r->api = true;
        const char *seg = url + sizeof contacts - 1;
        if (strcmp(url, "/api/v2/contact/outcomes") == 0) {
            r->route = RT_OUTCOMES;
        } else if (strncmp(url, contacts, sizeof contacts - 1) == 0 && *seg && !strchr(seg, '/')) {
            r->route = RT_CONTACT;
            req_decode_id(r, seg, strlen(seg));
        }
    } else if ((families & API_CXONE) && cxone_route(r, url)) {
        /* the cxone profile's routes (cxone_routes.c) */
    } else if (strncmp(url, "/_mock/", 7) == 0) {
        r->admin = true;
        if (strcmp(url, "/_mock/config") == 0)
            r->route = RT_CONFIG;
        else if (strcmp(url, "/_mock/stats") == 0)
            r->route = RT_STATS;
        else if (strcmp(url, "/_mock/reset") == 0)
            r->route = RT_RESET;
    }
}

static enum stat_route stat_route_of(const struct req *r)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    if (r->route == RT_CONTACT && r->method == M_PUT)
        return SR_PUT_CONTACT;
    if (r->route == RT_CONTACT && get)
        return SR_GET_CONTACT;
    if (r->route == RT_OUTCOMES && get)
        return SR_GET_OUTCOMES;
    if (r->route == RT_TOKEN && r->method == M_POST)
        return SR_POST_TOKEN;
    return cxone_stat_route(r);
}

void method_not_allowed(struct req *r, const char *allow)
{
    reply_error(&r->reply, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", r->method_name,
                allow);
    r->reply.allow = allow;
}

static void dispatch(struct mock *m, struct req *r, struct MHD_Connection *c)
{
    bool get = r->method == M_GET || r->method == M_HEAD;
    switch (r->route) {
    case RT_TOKEN:
        if (r->method == M_POST)
            oauth_token(m, r, c);
        else
            method_not_allowed(r, "POST");
        break;
    case RT_CONTACT:
        if (get)
            api_get_contact(m, r, c);
        else if (r->method == M_PUT)
            api_put_contact(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD, PUT");
        break;
    case RT_OUTCOMES:
        if (get)
            api_get_outcomes(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD");
        break;
    case RT_CONFIG:
        if (get || r->method == M_POST)
            admin_config(m, r);
        else
            method_not_allowed(r, "GET, HEAD, POST");
        break;
    case RT_STATS:
        if (get)
            admin_stats(m, r, c);
        else
            method_not_allowed(r, "GET, HEAD");
        break;
    case RT_RESET:
        if (r->method == M_POST)
            admin_reset(m, r);
        else
            method_not_allowed(r, "POST");
        break;
    case RT_CXONE_TOKEN:
    case RT_OIDC_CONFIG:
    case RT_CXONE_CONFIG:
    case RT_SET_DISPOSITION:
    case RT_GET_DISPOSITION:
    case RT_SKILL_DISPOSITIONS:
        cxone_dispatch(m, r, c);
        break;
    case RT_UNKNOWN:
        reply_error(&r->reply, 404, "not_found", "no such endpoint");
        break;
    }
}

/* ---------------------------------------------------------------- /api/ arrival */

/* Everything decided the moment an /api/ request arrives: it is logged, it takes a
 * token from the tenant bucket, and injected faults are drawn. The verdict (if any)
 * is answered once the body has been read, so keep-alive connections survive. */
static void api_arrival(struct mock *m, struct req *r)
{
    enum arrival_log log = ARRIVAL_OTHER;
    if (r->route == RT_CONTACT && r->method == M_PUT)
        log = ARRIVAL_PUT;
    else if (r->route == RT_SET_DISPOSITION && r->method == M_POST)
        log = ARRIVAL_SET_DISPOSITION;
    r->arrival_ns = stats_api_arrival(&m->stats, log);
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
        dispatch(m, r, c);

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
    r->method = parse_method(method);
    r->method_name = method;
    r->path = url;
    r->body = r->body_inline;
    r->body_cap = sizeof r->body_inline;
    route_path(r, url, m->families);
    if (!r->admin)
        stats_count_request(&m->stats, stat_route_of(r));
    if (r->api)
        api_arrival(m, r); /* sets arrival_ns */
    else
        r->arrival_ns = mono_ns();
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
    if (!r->reply.body_static)
        free(r->reply.body);
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

static void housekeeping(void *arg)
{
    struct mock *m = arg;
    pthread_rwlock_rdlock(&m->cfg_lock);
    double retention = m->cfg.retention;
    pthread_rwlock_unlock(&m->cfg_lock);
    double now = mock_now();
    idem_sweep(m->idem, now, retention);
    tokens_sweep(m->tokens, now);
}

static int add_generated(struct contacts *c, long n)
{
    char id[32];
    for (long i = 1; i <= n; i++) {
        int len = snprintf(id, sizeof id, "contact-%06ld", i);
        if (contacts_add(c, id, (size_t)len) != 0)
            return -1;
    }
    return 0;
}

int mock_init(struct mock *m, struct mock_options *o, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->start_ns = mono_ns();
    m->cfg = o->cfg; /* ownership of the strings moves here */
    memset(&o->cfg, 0, sizeof o->cfg);
    pthread_rwlock_init(&m->cfg_lock, NULL);
    ratelimit_init(&m->limiter, m->cfg.rate, m->cfg.burst, mock_now());
    stats_init(&m->stats, m->start_ns);
    atomic_init(&m->once_429, (long)m->cfg.once_429_retry_after);
    atomic_init(&m->suspended, 0);
    m->max_body = o->max_body;
    m->verbose = o->verbose;
    m->families = o->families;
    if (rng_init(&m->rng) != 0) {
        snprintf(err, errlen, "cannot read random bytes (getrandom failed)");
        return -1;
    }
    m->outcomes = outcomes_load(o->outcomes_file, err, errlen);
    if (!m->outcomes)
        return -1;
    m->skills = skills_load(o->skills_file, err, errlen);
    if (!m->skills)
        return -1;
    long generated = o->contacts_n;
    long from_file = 0;
    if (o->contacts_file) {
        from_file = contacts_count_file(o->contacts_file);
        if (from_file < 0) {
            snprintf(err, errlen, "--contacts-file %s: cannot read it", o->contacts_file);
            return -1;
        }
    }
    if (generated < 0)
        generated = o->contacts_file ? 0 : 1000;
    m->contacts = contacts_new(o->any_contact, (size_t)(generated + from_file));
    m->idem = idem_new();
    m->tokens = tokens_new();
    m->bodies = body_cache_new();
    m->dispositions = dispositions_new();
    if (!m->contacts || !m->idem || !m->tokens || !m->bodies || !m->dispositions || add_generated(m->contacts, generated) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (o->contacts_file && contacts_add_file(m->contacts, o->contacts_file, err, errlen) != 0)
        return -1;
    return 0;
}

int mock_listen(struct mock *m, unsigned port, unsigned threads, bool quiet, unsigned *bound, char *err,
                size_t errlen)
{
    m->delayer = delayer_start(housekeeping, m);
    if (!m->delayer) {
        snprintf(err, errlen, "cannot start the timer thread");
        return -1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
    m->port = info->port;
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

void mock_destroy(struct mock *m)
{
    if (m->daemon)
        mock_shutdown(m);
    delayer_free(m->delayer);
    m->delayer = NULL;
    contacts_free(m->contacts);
    idem_free(m->idem);
    tokens_free(m->tokens);
    body_cache_free(m->bodies);
    outcomes_free(m->outcomes);
    skills_free(m->skills);
    dispositions_free(m->dispositions);
    stats_destroy(&m->stats);
    ratelimit_destroy(&m->limiter);
    pthread_rwlock_destroy(&m->cfg_lock);
    config_free(&m->cfg);
}
