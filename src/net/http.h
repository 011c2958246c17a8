/* One libcurl easy handle per worker: send a request, capture status, the headers the engine
 * acts on (Retry-After, Idempotent-Replayed) and a capped prefix of the body. */
#ifndef CXB_HTTP_H
#define CXB_HTTP_H
#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

#define CXB_HTTP_BODY_CAP 65536 /* bytes of a response body kept; the rest is read and dropped */

typedef struct cxb_http_opts {
    double timeout;          /* seconds per attempt (whole transfer) */
    double connect_timeout;  /* seconds */
    const char *ca_file;     /* NULL: system store */
    int insecure;            /* 1: skip certificate verification (explicit opt-in) */
    const char *user_agent;
} cxb_http_opts;

typedef struct cxb_http_resp {
    long status;             /* 0 when no response arrived */
    CURLcode curl_rc;
    double retry_after;      /* seconds, -1 when absent or unparsable */
    int replayed;            /* Idempotent-Replayed: true */
    int truncated;           /* body longer than CXB_HTTP_BODY_CAP */
    int sent;                /* the request began to go out (a connection stood and libcurl reached
                                its pre-transfer point): 0 means the server cannot have seen it */
    const char *body;        /* NUL-terminated prefix, owned by the handle until the next request */
    size_t body_len;
    char error[CURL_ERROR_SIZE + 64]; /* transport error text when curl_rc != CURLE_OK */
} cxb_http_resp;

typedef struct cxb_http {
    CURL *curl;
    CURLU *url;         /* the last URL, parsed: a request to the same origin only changes its path */
    char origin[256];   /* "scheme://authority" of that URL ("" when none is kept) */
    size_t origin_len;
    char *buf;
    size_t len;
    int truncated;
    cxb_http_resp *cur;
    const atomic_int *cancel;
    char errbuf[CURL_ERROR_SIZE];
    int fresh_next;  /* the next request opens a new connection (reset after it): libcurl silently
                        resends a request once when a reused connection dies before any answer,
                        which a request without an Idempotency-Key must never be */
} cxb_http;

/* Creates the handle with the fixed options (no redirects, http/https only, NOSIGNAL,
 * keep-alive, TLS verification unless insecure). Returns -1 on allocation failure. */
int cxb_http_init(cxb_http *h, const cxb_http_opts *o, const atomic_int *cancel);
void cxb_http_cleanup(cxb_http *h);

/* Sends one request. headers is a curl_slist the caller owns (may be NULL); userpwd, when not
 * NULL, is sent as HTTP Basic ("id:secret", already form-urlencoded). Returns 0 when an HTTP
 * response arrived (any status), -1 on transport failure or cancellation (resp->curl_rc says
 * which; CURLE_ABORTED_BY_CALLBACK means cancelled). */
int cxb_http_request(cxb_http *h, const char *method, const char *url,
                     struct curl_slist *headers, const char *body, size_t body_len,
                     const char *userpwd, cxb_http_resp *resp);

/* Applies one raw response header line ("Name: value\r\n", not NUL-terminated) to resp.
 * Exposed for the fuzzer; the header callback uses it. */
void cxb_http_parse_header_line(const char *line, size_t len, cxb_http_resp *resp);

/* Extracts a human-readable message from an error body ({"message":..} or {"error":..,
 * "error_description":..}), else a sanitised prefix of the body. Writes at most outlen-1 bytes.
 * The nsecrets strings in secrets (NULL entries allowed) are redacted (cxb_redact) over the
 * whole text the message is cut from, before it is cut, so no piece of one survives the cut. */
void cxb_http_error_message(const char *body, size_t len, const char *const *secrets,
                            size_t nsecrets, char *out, size_t outlen);
#endif
