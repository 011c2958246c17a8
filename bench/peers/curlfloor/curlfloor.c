/* curlfloor: the libcurl floor of `make bench` (bench/lib/contenders.lua, docs/bench.md).
 *
 * The least a libcurl client can do with the engine's transport design: W threads, each with one
 * CURL easy handle reused for all its requests (keep-alive) and blocking in curl_easy_perform,
 * tasks handed out by an atomic counter. Every request is byte for byte the PUT the engine sends
 * (src/net/http.c, src/engine/attempt.c): the same User-Agent, the same headers in the same order, `Expect:`
 * empty, the same four outcome bodies cycled as bench/engine_batch.lua does, ids contact-NNNNNNN.
 * Like the engine (src/net/http.c) it keeps the URL parsed (CURLU) and sets only the path per request.
 * It does none of the engine's own work: no validation, no derived keys, no limiter, no header or
 * progress callback, no results, no Lua. So engine / floor is what the engine adds on top of
 * libcurl, and floor / wrk is what libcurl costs against the least any client can do.
 *
 *   TOKEN=<access token> NONCE=<int> curlfloor BASE_URL TASKS THREADS
 *
 * Idempotency-Key: NONCE-thread-task in UUID shape (36 chars), fresh per request. Prints one line
 * `BENCH-JSON {...}`; exits 1 unless every task was answered 200, 2 on bad arguments.
 * Build: cc -std=c11 -O2 -Wall -Wextra -Werror -o curlfloor curlfloor.c -lcurl -lpthread */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The bodies the engine sends (lua/cxone/bulk.lua encode_body) for bench/engine_batch.lua's
 * outcomes; task i (from 1) carries OUTCOMES[i % 4], as the Lua driver's outcomes[i % 4 + 1]. */
static const char *const OUTCOMES[4] = {
    "{\"outcome\":{\"category\":\"Contacted\",\"subcategory\":\"Information Provided\"}}",
    "{\"outcome\":{\"category\":\"Contacted\",\"subcategory\":\"Callback Requested\"}}",
    "{\"outcome\":{\"category\":\"Not Contacted\",\"subcategory\":\"No Answer\"}}",
    "{\"outcome\":{\"category\":\"Not Contacted\",\"subcategory\":\"Voicemail\"}}",
};

typedef struct shared {
    const char *base;     /* base URL without a trailing slash */
    size_t base_len;
    const char *auth_hdr; /* "Authorization: Bearer TOKEN" */
    unsigned long nonce;
    long tasks;
    atomic_long next;     /* the last task handed out */
    atomic_int abort_run; /* set when a thread could not be started */
} shared;

typedef struct worker {
    shared *s;
    int idx;
    long ok, not_ok, errors;
    int failed; /* the handle could not be set up, or libcurl refused an option or info */
    char error[CURL_ERROR_SIZE + 64];
} worker;

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* A curl_easy_setopt that failed: records which option, returns -1 (SETOPT returns it). */
static int opt_fail(worker *w, const char *name, CURLcode rc)
{
    snprintf(w->error, sizeof w->error, "curl_easy_setopt(%s): %s", name, curl_easy_strerror(rc));
    return -1;
}
#define SETOPT(w, c, opt, val)                                   \
    do {                                                         \
        CURLcode rc_ = curl_easy_setopt((c), (opt), (val));      \
        if (rc_ != CURLE_OK)                                     \
            return opt_fail((w), #opt, rc_);                     \
    } while (0)

/* The handle's options that do not change between requests: those of src/net/http.c that shape
 * the transfer (no signals, the User-Agent, TCP_NODELAY, keep-alive probes), the method, the
 * headers and a write callback that drops the answer. */
static int setup_handle(worker *w, CURL *c, struct curl_slist *headers)
{
    SETOPT(w, c, CURLOPT_NOSIGNAL, 1L);
    SETOPT(w, c, CURLOPT_USERAGENT, "cxone-bulk");
    SETOPT(w, c, CURLOPT_TCP_NODELAY, 1L);
    SETOPT(w, c, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(w, c, CURLOPT_CUSTOMREQUEST, "PUT");
    SETOPT(w, c, CURLOPT_HTTPHEADER, headers);
    SETOPT(w, c, CURLOPT_WRITEFUNCTION, discard);
    return 0;
}

/* Points the handle at url the way src/net/http.c does: the first URL is parsed whole into u, every
 * later one (same origin, plain path) only sets its path, so libcurl does not parse and
 * re-assemble a URL string per request. */
static int set_url(worker *w, CURL *c, CURLU *u, const char *url, int first)
{
    const char *path = strchr(strstr(url, "://") + 3, '/');
    CURLUcode uc = first ? curl_url_set(u, CURLUPART_URL, url, 0) : curl_url_set(u, CURLUPART_PATH, path, 0);
    if (uc != CURLUE_OK) {
        snprintf(w->error, sizeof w->error, "curl_url_set(%s): %s", url, curl_url_strerror(uc));
        return -1;
    }
    SETOPT(w, c, CURLOPT_CURLU, u);
    return 0;
}

/* One request: URL and body of task i, a fresh key (the header node points at key_hdr). */
static int one_request(worker *w, CURL *c, CURLU *u, long i, char *url, size_t url_cap, char *key_hdr,
                       size_t key_cap, long *status)
{
    const shared *s = w->s;
    int n = snprintf(url, url_cap, "%s/api/v2/contacts/contact-%07ld", s->base, i);
    if (n < 0 || (size_t)n >= url_cap) {
        snprintf(w->error, sizeof w->error, "task %ld: URL too long", i);
        return -1;
    }
    n = snprintf(key_hdr, key_cap, "Idempotency-Key: %08lx-%04x-5000-8000-%012lx",
                 s->nonce, (unsigned)w->idx & 0xffffu, (unsigned long)i);
    if (n < 0 || (size_t)n >= key_cap) {
        snprintf(w->error, sizeof w->error, "task %ld: key too long", i);
        return -1;
    }
    const char *body = OUTCOMES[i % 4];
    int first = w->ok + w->not_ok + w->errors == 0; /* this worker's first request: parse it whole */
    if (set_url(w, c, u, url, first) != 0)
        return -1;
    SETOPT(w, c, CURLOPT_POSTFIELDS, body);
    SETOPT(w, c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(w->error, sizeof w->error, "task %ld: %s", i, curl_easy_strerror(rc));
        *status = 0;
        return 0; /* a transport failure: counted, the run goes on */
    }
    rc = curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK) {
        snprintf(w->error, sizeof w->error, "CURLINFO_RESPONSE_CODE: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    shared *s = w->s;
    size_t url_cap = s->base_len + 64;
    char *url = malloc(url_cap);
    char key_hdr[64];
    /* The engine's header list (src/engine/attempt.c att_build_headers), built once: libcurl reads the
     * nodes at every perform, so the key is rewritten in place. */
    struct curl_slist h[5] = {
        {(char *)s->auth_hdr, &h[1]},
        {(char *)"Accept: application/json", &h[2]},
        {(char *)"Expect:", &h[3]},
        {(char *)"Content-Type: application/json", &h[4]},
        {key_hdr, NULL},
    };
    CURL *c = curl_easy_init();
    CURLU *u = curl_url();
    if (!url || !c || !u) {
        snprintf(w->error, sizeof w->error, "%s", !url ? "out of memory" : "curl_easy_init failed");
        w->failed = 1;
    } else if (setup_handle(w, c, h) != 0) {
        w->failed = 1;
    }
    while (!w->failed && !atomic_load(&s->abort_run)) {
        long i = atomic_fetch_add(&s->next, 1) + 1;
        if (i > s->tasks)
            break;
        long status = 0;
        if (one_request(w, c, u, i, url, url_cap, key_hdr, sizeof key_hdr, &status) != 0) {
            w->failed = 1;
            break;
        }
        if (status == 200)
            w->ok++;
        else if (status == 0)
            w->errors++;
        else
            w->not_ok++;
    }
    if (c)
        curl_easy_cleanup(c);
    curl_url_cleanup(u);
    free(url);
    return NULL;
}

static long parse_count(const char *what, const char *text, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > max) {
        fprintf(stderr, "curlfloor: %s must be a whole number from 1 to %ld (got \"%s\")\n", what, max, text);
        return -1;
    }
    return v;
}

static double monotime(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts the threads, joins them, prints the BENCH-JSON line. 0 when every task got a 200. */
static int run(shared *s, long threads, worker *ws, pthread_t *tids)
{
    int status = 0;
    long started = 0;
    double t0 = monotime();
    for (; started < threads; started++) {
        ws[started].s = s;
        ws[started].idx = (int)started + 1;
        int e = pthread_create(&tids[started], NULL, run_worker, &ws[started]);
        if (e != 0) {
            fprintf(stderr, "curlfloor: pthread_create: %s\n", strerror(e));
            atomic_store(&s->abort_run, 1);
            status = 1;
            break;
        }
    }
    for (long k = 0; k < started; k++) {
        int e = pthread_join(tids[k], NULL);
        if (e != 0) {
            fprintf(stderr, "curlfloor: pthread_join: %s\n", strerror(e));
            status = 1;
        }
    }
    double elapsed = monotime() - t0;

    long ok = 0, not_ok = 0, errors = 0;
    for (long k = 0; k < started; k++) {
        ok += ws[k].ok;
        not_ok += ws[k].not_ok;
        errors += ws[k].errors;
        if (ws[k].error[0])
            fprintf(stderr, "curlfloor: thread %d: %s\n", ws[k].idx, ws[k].error);
        if (ws[k].failed)
            status = 1;
    }
    if (ok != s->tasks)
        status = 1;
    printf("BENCH-JSON {\"tasks\":%ld,\"threads\":%ld,\"ok\":%ld,\"not_ok\":%ld,\"errors\":%ld,"
           "\"elapsed\":%.6f,\"rps\":%.1f}\n",
           s->tasks, threads, ok, not_ok, errors, elapsed, elapsed > 0 ? (double)s->tasks / elapsed : 0.0);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: TOKEN=... NONCE=... curlfloor BASE_URL TASKS THREADS\n");
        return 2;
    }
    const char *token = getenv("TOKEN");
    const char *nonce_s = getenv("NONCE");
    if (!token || !*token || !nonce_s || !*nonce_s) {
        fprintf(stderr, "curlfloor: set TOKEN (an access token) and NONCE (a number)\n");
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long nonce = strtoull(nonce_s, &end, 10);
    if (errno || *end) {
        fprintf(stderr, "curlfloor: NONCE must be a number (got \"%s\")\n", nonce_s);
        return 2;
    }
    long tasks = parse_count("TASKS", argv[2], 9999999L); /* ids stay contact-NNNNNNN */
    long threads = parse_count("THREADS", argv[3], 1024L);
    if (tasks < 0 || threads < 0)
        return 2;

    shared s = {.base = argv[1], .base_len = strlen(argv[1]), .nonce = (unsigned long)(nonce % 0x100000000ULL),
                .tasks = tasks};
    while (s.base_len > 0 && argv[1][s.base_len - 1] == '/')
        argv[1][--s.base_len] = '\0';
    atomic_init(&s.next, 0);
    atomic_init(&s.abort_run, 0);

    size_t auth_len = strlen("Authorization: Bearer ") + strlen(token) + 1;
    char *auth = malloc(auth_len);
    worker *ws = calloc((size_t)threads, sizeof *ws);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    int status = 1;
    if (!auth || !ws || !tids) {
        fprintf(stderr, "curlfloor: out of memory\n");
    } else {
        snprintf(auth, auth_len, "Authorization: Bearer %s", token);
        s.auth_hdr = auth;
        CURLcode grc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (grc != CURLE_OK) {
            fprintf(stderr, "curlfloor: curl_global_init: %s\n", curl_easy_strerror(grc));
        } else {
            status = run(&s, threads, ws, tids);
            curl_global_cleanup();
        }
    }
    free(auth);
    free(ws);
    free(tids);
    return status;
}
