#include "net/http.h"
#include "net/backoff.h"
#include "common/redact.h"
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static size_t http_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    cxb_http *h = ud;
    size_t n = size * nmemb;
    size_t room = CXB_HTTP_BODY_CAP - h->len;
    size_t take = n < room ? n : room;
    if (take < n)
        h->truncated = 1; /* keep a bounded prefix; a hostile 10 MB body costs no memory */
    memcpy(h->buf + h->len, data, take);
    h->len += take;
    return n;
}

static int header_name_is(const char *line, size_t len, const char *name, const char **value,
                          size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return 1;
}

void cxb_http_parse_header_line(const char *line, size_t len, cxb_http_resp *resp)
{
    const char *v;
    size_t vlen;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (e.g. after 100 Continue): forget headers of the previous one. */
        resp->retry_after = -1;
        resp->replayed = 0;
        return;
    }
    if (header_name_is(line, len, "Retry-After", &v, &vlen)) {
        double s;
        resp->retry_after = cxb_retry_after_parse(v, vlen, time(NULL), &s) == 0 ? s : -1;
    } else if (header_name_is(line, len, "Idempotent-Replayed", &v, &vlen)) {
        resp->replayed = (vlen == 4 && strncasecmp(v, "true", 4) == 0);
    }
}

static size_t http_on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    cxb_http *h = ud;
    cxb_http_parse_header_line(data, size * nmemb, h->cur);
    return size * nmemb;
}

/* Aborts an in-flight transfer promptly once the job is cancelled. */
static int http_on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const cxb_http *h = ud;
    return h->cancel && atomic_load(h->cancel) ? 1 : 0;
}

/* Seconds as libcurl milliseconds. Rounded up, so a timeout under 1 ms is 1 ms and never 0,
 * which libcurl reads as "no timeout"; clamped so the conversion cannot overflow a long. Zero,
 * negative and NaN stay 0 (libcurl's "none"): the binding refuses them before they get here. */
static long http_ms(double seconds)
{
    if (!(seconds > 0))
        return 0;
    double ms = ceil(seconds * 1000.0);
    return ms < 2147483647.0 ? (long)ms : 2147483647L;
}

int cxb_http_init(cxb_http *h, const cxb_http_opts *o, const atomic_int *cancel)
{
    memset(h, 0, sizeof *h);
    h->cancel = cancel;
    h->buf = malloc(CXB_HTTP_BODY_CAP + 1);
    h->curl = curl_easy_init();
    h->url = curl_url();
    if (!h->buf || !h->curl || !h->url) {
        cxb_http_cleanup(h);
        return -1;
    }
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* never carry credentials to a redirect */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, http_ms(o->timeout));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, http_ms(o->connect_timeout > 0 ? o->connect_timeout : 10.0));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : "cxone-bulk");
    if (o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (o->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return 0;
}

void cxb_http_cleanup(cxb_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_url_cleanup(h->url); /* after the easy handle, which may still point at it */
    free(h->buf);
    h->curl = NULL;
    h->url = NULL;
    h->buf = NULL;
}

/* Length of "scheme://authority" at the start of url, 0 when it has no such part. */
static size_t http_origin_len(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return 0;
    const char *slash = strchr(sep + 3, '/');
    return slash ? (size_t)(slash - url) : 0;
}

/* 1 when libcurl sets `path` on a parsed URL exactly as it would parse it inside a whole URL:
 * only unreserved bytes and '/', and no "." or ".." segment. libcurl 7.88 lower-cases the hex
 * of a %XX escape set as a path part and normalises dot segments only in a whole URL; such paths
 * (and any query or fragment) are parsed whole, so the bytes on the wire never change. */
static int http_plain_path(const char *path)
{
    const char *seg = path;
    for (const char *p = path;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '\0') {
            size_t n = (size_t)(p - seg);
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            if (c == '\0')
                return 1;
            seg = p + 1;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~')) {
            return 0;
        }
    }
}

/* Points the handle at url. libcurl parses and re-assembles a URL string on every CURLOPT_URL
 * (about 12,000 instructions a request in 7.88, docs/bench.md "Inside libcurl"); the handle keeps
 * the last URL parsed, and a request to the same origin with a plain path (every contact URL
 * whose id needs no escaping) only sets the path on it. Anything else is parsed whole; a URL
 * libcurl's parser refuses goes to CURLOPT_URL, so the transfer fails as it always did. */
static void http_set_url(cxb_http *h, const char *url)
{
    size_t olen = http_origin_len(url);
    const char *path = url + olen;
    int plain = olen > 0 && http_plain_path(path);
    if (plain && olen == h->origin_len && memcmp(url, h->origin, olen) == 0 &&
        curl_url_set(h->url, CURLUPART_PATH, path, 0) == CURLUE_OK) {
        curl_easy_setopt(h->curl, CURLOPT_CURLU, h->url);
        return;
    }
    h->origin_len = 0;
    if (curl_url_set(h->url, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_easy_setopt(h->curl, CURLOPT_CURLU, NULL);
        curl_easy_setopt(h->curl, CURLOPT_URL, url);
        return;
    }
    if (plain && olen < sizeof h->origin) { /* no query or fragment stays behind for the next path */
        memcpy(h->origin, url, olen);
        h->origin_len = olen;
    }
    curl_easy_setopt(h->curl, CURLOPT_CURLU, h->url);
}

int cxb_http_request(cxb_http *h, const char *method, const char *url,
                     struct curl_slist *headers, const char *body, size_t body_len,
                     const char *userpwd, cxb_http_resp *resp)
{
    CURL *c = h->curl;
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    h->len = 0;
    h->truncated = 0;
    h->cur = resp;
    h->errbuf[0] = '\0';

    http_set_url(h, url);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, h->fresh_next ? 1L : 0L);
    h->fresh_next = 0;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    if (userpwd)
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
    }

    CURLcode rc = curl_easy_perform(c);
    h->buf[h->len] = '\0';
    resp->body = h->buf;
    resp->body_len = h->len;
    resp->truncated = h->truncated;
    resp->curl_rc = rc;
    h->cur = NULL;
    curl_easy_setopt(c, CURLOPT_USERPWD, NULL); /* do not keep the secret in the handle */
    curl_off_t pre = 0;
    curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pre);
    resp->sent = rc == CURLE_OK || pre > 0;
    if (rc != CURLE_OK) {
        resp->status = 0;
        snprintf(resp->error, sizeof resp->error, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return 0;
}

/* Copies printable ASCII only, so a hostile body cannot inject control sequences into logs. */
static void copy_printable(const char *src, size_t len, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : (ch >= 0x80 ? (char)ch : ' ');
    }
    out[j] = '\0';
}

/* Copies the first `cut` bytes of text into out (printable only), after masking the secrets
 * over as much of the text as a secret overlapping the cut could reach: truncating first would
 * keep a piece of a secret that the whole one would have masked. */
static void message_redacted(const char *text, size_t len, size_t cut, const char *const *secrets,
                             size_t nsecrets, char *out, size_t outlen)
{
    size_t longest = 0;
    for (size_t i = 0; i < nsecrets; i++) {
        size_t l = secrets[i] ? strlen(secrets[i]) : 0;
        longest = l > longest ? l : longest;
    }
    size_t win = len < cut + longest ? len : cut + longest;
    char *buf = malloc(win + 1);
    if (!buf) {
        snprintf(out, outlen, "(server message not shown: out of memory)");
        return;
    }
    copy_printable(text, win, buf, win + 1); /* no NUL inside: the redactor sees it all */
    if (nsecrets)
        cxb_redact(buf, secrets, nsecrets);
    copy_printable(buf, win < cut ? win : cut, out, outlen);
    free(buf);
}

void cxb_http_error_message(const char *body, size_t len, const char *const *secrets,
                            size_t nsecrets, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (!body || len == 0)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK, &jerr);
    if (root && json_is_object(root)) {
        json_t *pick = json_object_get(root, "message");
        if (!json_is_string(pick))
            pick = json_object_get(root, "error_description");
        if (!json_is_string(pick))
            pick = json_object_get(root, "error");
        if (json_is_string(pick)) {
            message_redacted(json_string_value(pick), json_string_length(pick), outlen - 1, secrets,
                             nsecrets, out, outlen);
            json_decref(root);
            return;
        }
    }
    json_decref(root);
    message_redacted(body, len, 200, secrets, nsecrets, out, outlen);
}
